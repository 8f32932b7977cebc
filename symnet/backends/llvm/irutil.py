"""LLVM IR helpers: loops as basic blocks, the per-function context, index arithmetic."""

from __future__ import annotations

import sympy as sp
from llvmlite import ir

from ...aligned import ALIGN
from ...errors import UnsupportedError
from .vecmath import define_math

__all__ = ["I8", "I32", "I64", "PTR", "ROW_BLOCK", "Ctx", "Fn", "Loop", "index", "row_blocks"]

I64 = ir.IntType(64)
I32 = ir.IntType(32)
I8 = ir.IntType(8)
PTR = ir.PointerType()

class Loop:
    """``for (i = start; i < stop; i++)`` as basic blocks; body at ``.index``."""

    def __init__(self, b: ir.IRBuilder, stop: ir.Value, name: str, start: ir.Value | None = None):
        self.b = b
        fn = b.function
        self.pre = b.block
        self.head = fn.append_basic_block(f"{name}.head")
        self.body = fn.append_basic_block(f"{name}.body")
        self.exit = fn.append_basic_block(f"{name}.exit")
        b.branch(self.head)
        b.position_at_end(self.head)
        self.index = b.phi(I64, name=name)
        self.index.add_incoming(start if start is not None else I64(0), self.pre)
        b.cbranch(b.icmp_signed("<", self.index, stop), self.body, self.exit)
        b.position_at_end(self.body)

    def carry(self, init: ir.Value, name: str) -> ir.PhiInstr:
        """A loop-carried value (a header phi); give its next value to close()."""
        hb = ir.IRBuilder(self.head)
        hb.position_after(self.index)
        phi = hb.phi(init.type, name=name)
        phi.add_incoming(init, self.pre)
        return phi

    def close(self, carried: dict | None = None) -> None:
        b = self.b
        for phi, nxt in (carried or {}).items():
            phi.add_incoming(nxt, b.block)
        nxt = b.add(self.index, I64(1), name=f"{self.index.name}.next", flags=["nsw"])
        self.index.add_incoming(nxt, b.block)
        b.branch(self.head)
        b.position_at_end(self.exit)


#: Rows a register-blocked loop nest handles together.
ROW_BLOCK = 4


def row_blocks(b: ir.IRBuilder, rows: ir.Value, emit, block: int = ROW_BLOCK) -> None:
    """``emit(row_indices)`` for each block of ``block`` rows, then for each
    row left over after the blocks, one at a time."""
    if block == 1:
        lr = Loop(b, rows, "ir")
        emit([lr.index])
        lr.close()
        return
    blocks = b.sdiv(rows, I64(block))
    lb = Loop(b, blocks, "ib")
    i0 = b.mul(lb.index, I64(block))
    emit([b.add(i0, I64(r)) for r in range(block)])
    lb.close()
    lr = Loop(b, rows, "ir", start=b.mul(blocks, I64(block)))
    emit([lr.index])
    lr.close()


class Ctx:
    """What emitters of one function need: builder, element type, dims, module."""

    def __init__(self, module: ir.Module, b: ir.IRBuilder, elem: ir.Type,
                 dims: dict[sp.Symbol, ir.Value], fastmath: tuple[str, ...] = ("contract",),
                 owner: ir.Module | None = None, shared=None, vector_bits: int = 256,
                 row_block: int = ROW_BLOCK):
        self.module = module
        #: the main module when ``module`` is a part compiled separately
        self.owner = owner
        self.b = b
        self.elem = elem
        self.dims = dims
        self.align = 8 if isinstance(elem, ir.DoubleType) else 4
        self.fm = fastmath
        #: the modules' registry of shared routines (module.Parts), if any
        self.shared = shared
        #: the vector width (bits) of the host's loops: explicit vector code uses it
        self.vector_bits = vector_bits
        #: rows a register-blocked product handles together (see row_blocks)
        self.row_block = row_block

    @property
    def lanes(self) -> int:
        """Elements per vector of the host's width."""
        return self.vector_bits // (64 if isinstance(self.elem, ir.DoubleType) else 32)

    def const(self, v: float) -> ir.Constant:
        return ir.Constant(self.elem, float(v))

    def dim(self, e: sp.Expr) -> ir.Value:
        """An integer SymPy expression of dims as an i64 value."""
        e = sp.sympify(e)
        if e.is_Integer:
            return I64(int(e))
        if e in self.dims:
            return self.dims[e]
        if e.is_Add:
            vals = [self.dim(a) for a in e.args]
            out = vals[0]
            for v in vals[1:]:
                out = self.b.add(out, v)
            return out
        if e.is_Mul:
            vals = [self.dim(a) for a in e.args]
            out = vals[0]
            for v in vals[1:]:
                out = self.b.mul(out, v)
            return out
        raise UnsupportedError(f"llvm backend: dimension expression {e} (sums and products of "
                               "dimensions only)")

    def load(self, ptr: ir.Value, idx: ir.Value) -> ir.Value:
        p = self.b.gep(ptr, [idx], inbounds=True, source_etype=self.elem)
        return self.b.load(p, typ=self.elem, align=self.align)

    def store(self, val: ir.Value, ptr: ir.Value, idx: ir.Value) -> None:
        p = self.b.gep(ptr, [idx], inbounds=True, source_etype=self.elem)
        self.b.store(val, p, align=self.align)

    def intrinsic(self, name: str, nargs: int = 1) -> ir.Function:
        full = f"llvm.{name}.{'f64' if isinstance(self.elem, ir.DoubleType) else 'f32'}"
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(self.elem, [self.elem] * nargs),
                             name=full)
        return fn

    def libm(self, name: str, nargs: int = 1) -> ir.Function:
        full = name if isinstance(self.elem, ir.DoubleType) else name + "f"
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(self.elem, [self.elem] * nargs),
                             name=full)
        return fn

    def math(self, name: str, x: ir.Value) -> ir.Value:
        return self.b.call(define_math(self.module, name, self.elem), [x])

    # arithmetic with the allowed fast-math flags only (never nnan / ninf)
    def fadd(self, a, c):
        return self.b.fadd(a, c, flags=self.fm)

    def fsub(self, a, c):
        return self.b.fsub(a, c, flags=self.fm)

    def fmul(self, a, c):
        return self.b.fmul(a, c, flags=self.fm)

    def fdiv(self, a, c):
        return self.b.fdiv(a, c, flags=self.fm)

    def select(self, op: str, a, c, t, f):
        return self.b.select(self.b.fcmp_ordered(op, a, c), t, f)


class Fn:
    """An internal function over noalias buffer pointers and the dims array."""

    def __init__(self, module: ir.Module, name: str, buffers: list[str], elem: ir.Type,
                 dim_syms: list[sp.Symbol], const_dims: dict | None = None,
                 owner: ir.Module | None = None, aligned: frozenset[str] = frozenset(),
                 shared=None, vector_bits: int = 256):
        fnty = ir.FunctionType(ir.VoidType(), [PTR] * len(buffers) + [PTR])
        self.fn = ir.Function(module, fnty, name=name)
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        for a, buf in zip(self.fn.args[:-1], buffers, strict=True):
            a.name = buf
            a.add_attribute("noalias")
            if buf in aligned:
                # Workspace blocks start on cache lines (see lower.memory):
                # say so, rather than only the element alignment.
                a.attributes.align = ALIGN
        self.fn.args[-1].name = "dims"
        self.ptr = dict(zip(buffers, self.fn.args[:-1], strict=True))
        b = ir.IRBuilder(self.fn.append_basic_block("entry"))
        dims_ptr = self.fn.args[-1]
        dims = {}
        for k, d in enumerate(dim_syms):
            if const_dims and d in const_dims:
                # A dimension known at compile time lets LLVM fold trip counts.
                dims[d] = I64(int(const_dims[d]))
                continue
            p = b.gep(dims_ptr, [I64(k)], inbounds=True, source_etype=I64)
            dims[d] = b.load(p, typ=I64, align=8)
        self.ctx = Ctx(module, b, elem, dims, owner=owner, shared=shared,
                       vector_bits=vector_bits)


def index(c: Ctx, shape, i, j, cols) -> ir.Value:
    r, k = shape
    b = c.b
    if r == 1 and k == 1:
        return I64(0)
    if r == 1:
        return j
    if k == 1:
        return i
    return b.add(b.mul(i, cols, flags=["nsw"]), j, flags=["nsw"])

