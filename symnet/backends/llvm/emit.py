"""LLVM IR emitter: a Program -> one module with a kernel over buffer pointers.

ABI: ``void NAME(T** bufs, i64* dims)``. ``bufs`` holds one pointer per
buffer of the :class:`Plan` (inputs, then every materialized step); ``dims``
holds the program's dimension values. Consecutive elementwise steps of one
shape form a *loop group*: one loop nest in which values used only inside
the group stay in registers. Every group and every other step is its own
internal function whose pointer arguments are ``noalias``, so its loops
vectorize without runtime alias checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp
from llvmlite import ir

from ...frontend import UnsupportedError
from ...graph import VARS
from ...schedule import Program, Step
from .vecmath import define_math

__all__ = ["Group", "Plan", "emit", "emit_epoch", "layout", "plan"]

I64 = ir.IntType(64)
I32 = ir.IntType(32)
I8 = ir.IntType(8)
PTR = ir.PointerType()


# ------------------------------------------------------------------ plan


@dataclass
class Group:
    """Steps computed by one native function (a loop group or a single step)."""

    steps: list[Step]
    #: names of this group's values that must be written to memory
    stores: list[str] = field(default_factory=list)

    @property
    def is_loop(self) -> bool:
        return self.steps[0].op == "ew"


@dataclass
class Plan:
    """Groups in order and the buffers that live in memory."""

    groups: list[Group]
    buffers: list[str]               # inputs first, then stored step values
    shapes: dict[str, tuple]         # buffer -> (rows, cols) SymPy shape
    inputs: list[str]
    outputs: list[str]


def plan(prog: Program, shapes: dict[str, tuple] | None = None) -> Plan:
    """Group consecutive same-shape elementwise steps; decide what is stored.

    ``shapes`` overrides step shapes (used for point-wise scalar programs,
    where a 1 x 1 value becomes a 1 x N row).
    """
    shapes = dict(shapes or {})
    for name, sym in prog.inputs:
        shapes.setdefault(name, tuple(getattr(sym, "shape", (1, 1))))
    for s in prog.steps:
        shapes.setdefault(s.out, s.shape)
    groups: list[Group] = []
    for s in _sink(prog.steps, shapes):
        if (s.op == "ew" and groups and groups[-1].is_loop
                and shapes[groups[-1].steps[0].out] == shapes[s.out]):
            groups[-1].steps.append(s)
        else:
            groups.append(Group([s]))
    group_of = {s.out: gi for gi, g in enumerate(groups) for s in g.steps}
    needed_outside: set[str] = set(prog.outputs)
    for gi, g in enumerate(groups):
        for s in g.steps:
            for a in s.args:
                if a in group_of and group_of[a] != gi:
                    needed_outside.add(a)
    for g in groups:
        if g.is_loop:
            g.stores = [s.out for s in g.steps if s.out in needed_outside]
        else:
            g.stores = [s.out for s in g.steps]
    inputs = [n for n, _ in prog.inputs]
    buffers = list(inputs)
    for g in groups:
        buffers += [n for n in g.stores if n not in buffers]
    return Plan(groups, buffers, shapes, inputs, list(prog.outputs))


@dataclass
class Update:
    """A product folded into the in-place update that is its only reader:
    param <- beta * param + alpha * product (one GEMM, no stored product)."""

    step: Step        # the elementwise update step (skipped when emitting)
    param: str        # the buffer updated in place
    alpha: sp.Expr    # scalar coefficients, in the update step's variables
    beta: sp.Expr


class Scale:
    """alpha and beta of an update, as IR values."""

    def __init__(self, alpha: ir.Value, beta: ir.Value):
        self.alpha, self.beta = alpha, beta

    def apply(self, c: Ctx, acc: ir.Value, old: ir.Value) -> ir.Value:
        return c.fadd(c.fmul(self.beta, old), c.fmul(self.alpha, acc))


def _updates(p: Plan, inplace: dict[str, str]) -> dict[str, Update]:
    """Products (by output) that go straight into an in-place update.

    The update must be a group of its own, right after the product's group,
    linear in the product and the parameter with coefficients made of 1 x 1
    values only, and the product read by nothing else.
    """
    found: dict[str, Update] = {}
    readers: dict[str, int] = {}
    for g in p.groups:
        for st in g.steps:
            for a in st.args:
                readers[a] = readers.get(a, 0) + 1
    for gi in range(1, len(p.groups)):
        g, prev = p.groups[gi], p.groups[gi - 1]
        if not g.is_loop or len(g.steps) != 1 or prev.steps[0].op != "matmul":
            continue
        s, mm = g.steps[0], prev.steps[0]
        param = inplace.get(s.out)
        if (param is None or mm.out not in s.args or param in mm.args
                or readers.get(mm.out) != 1 or mm.out in p.outputs
                or s.views and any(v is not None for v in s.views)
                or p.shapes[mm.out] != p.shapes[param]):
            continue
        vg, vw = VARS[s.args.index(mm.out)], VARS[s.args.index(param)]
        alpha, beta = sp.diff(s.attr, vg), sp.diff(s.attr, vw)
        scalars = {VARS[k] for k, a in enumerate(s.args) if p.shapes[a] == (1, 1)}
        if not (alpha.free_symbols | beta.free_symbols) <= scalars:
            continue
        if sp.expand(s.attr - alpha * vg - beta * vw) != 0:
            continue
        found[mm.out] = Update(s, param, alpha, beta)
    return found


def _sink(steps: list[Step], shapes: dict[str, tuple]) -> list[Step]:
    """Move each elementwise step or product down to just before its first
    reader when that reader is an elementwise step of the same shape.

    An elementwise value then shares the reader's loop and never goes to
    memory. Products move too: with the batch fixed to one sample (the
    epoch's fast step) a product over it is an elementwise outer product
    that joins the in-place update consuming it, and the generic step must
    run its steps in the same order, because both share one memory plan.
    """
    order = list(steps)
    for s in reversed(steps):
        if s.op not in ("ew", "matmul"):
            continue
        k = order.index(s)
        first = next((j for j in range(k + 1, len(order)) if s.out in order[j].args), None)
        if first is None or first == k + 1:
            continue
        user = order[first]
        if user.op == "ew" and shapes[user.out] == shapes[s.out]:
            order.insert(first - 1, order.pop(k))
    return order


# ------------------------------------------------------------------ helpers


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


class Ctx:
    """What emitters of one function need: builder, element type, dims, module."""

    def __init__(self, module: ir.Module, b: ir.IRBuilder, elem: ir.Type,
                 dims: dict[sp.Symbol, ir.Value], fastmath: tuple[str, ...] = ("contract",)):
        self.module = module
        self.b = b
        self.elem = elem
        self.dims = dims
        self.align = 8 if isinstance(elem, ir.DoubleType) else 4
        self.fm = fastmath

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

    def libm(self, name: str) -> ir.Function:
        full = name if isinstance(self.elem, ir.DoubleType) else name + "f"
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(self.elem, [self.elem]), name=full)
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


# ------------------------------------------------------------------ scalar bodies


class BodyEmitter:
    """Emit a scalar SymPy body as LLVM IR: one ``_emit_<Head>`` per head."""

    def __init__(self, ctx: Ctx, env: dict[sp.Symbol, ir.Value]):
        self.ctx = ctx
        self.env = env
        self.memo: dict[sp.Expr, ir.Value] = {}

    def __call__(self, e: sp.Expr) -> ir.Value:
        hit = self.env.get(e)
        if hit is None:
            hit = self.memo.get(e)
        if hit is not None:
            return hit
        out = self._emit(e)
        self.memo[e] = out
        return out

    def _emit(self, e: sp.Expr) -> ir.Value:
        c = self.ctx
        if e.is_Number:
            return c.const(float(e))
        if e in c.dims:
            return c.b.sitofp(c.dims[e], c.elem)
        if e.is_Symbol:
            raise KeyError(f"llvm backend: no value for {e}")
        method = getattr(self, "_emit_" + type(e).__name__, None)
        if method is None:
            raise UnsupportedError(f"llvm backend: no emitter for {type(e).__name__} in {e}")
        return method(e)

    def _emit_Add(self, e):
        vals = [self(a) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = self.ctx.fadd(out, v)
        return out

    def _emit_Mul(self, e):
        c = self.ctx
        num, den = [], []
        for a in e.args:
            if a.is_Pow and a.exp.is_Integer and a.exp < 0:
                den.append(a.base ** -a.exp)
            elif a.is_Rational and not a.is_Integer and a.p == 1:
                den.append(sp.Integer(a.q))
            else:
                num.append(a)
        out = None
        for a in num:
            v = self(a)
            out = v if out is None else c.fmul(out, v)
        if out is None:
            out = c.const(1.0)
        for a in den:
            out = c.fdiv(out, self(a))
        return out

    def _emit_Pow(self, e):
        c = self.ctx
        base, ex = e.args
        if ex.is_Integer:
            n = int(ex)
            x = self(base)
            if n == 0:
                return c.const(1.0)
            r = _powi(c, x, abs(n))
            return c.fdiv(c.const(1.0), r) if n < 0 else r
        if ex == sp.S.Half:
            return c.b.call(c.intrinsic("sqrt"), [self(base)])
        if ex == -sp.S.Half:
            return c.fdiv(c.const(1.0), c.b.call(c.intrinsic("sqrt"), [self(base)]))
        return c.math("exp", c.fmul(self(ex), c.math("log", self(base))))

    def _emit_exp(self, e):
        return self.ctx.math("exp", self(e.args[0]))

    def _emit_log(self, e):
        a = e.args[0]
        if a.is_Add and len(a.args) == 2 and sp.S.One in a.args:
            other = a.args[0] if a.args[1] == 1 else a.args[1]
            return self.ctx.math("log1p", self(other))
        return self.ctx.math("log", self(a))

    def _emit_tanh(self, e):
        return self.ctx.math("tanh", self(e.args[0]))

    def _emit_logistic(self, e):
        return self.ctx.math("logistic", self(e.args[0]))

    def _emit_softplus(self, e):
        return self.ctx.math("softplus", self(e.args[0]))

    def _emit_relu(self, e):
        c = self.ctx
        x = self(e.args[0])
        # Unordered ">": a NaN goes through (as in NumPy), -inf gives 0.
        return c.b.select(c.b.fcmp_unordered(">", x, c.const(0.0)), x, c.const(0.0))

    def _emit_leaky_relu(self, e):
        c = self.ctx
        x, g = self(e.args[0]), self(e.args[1])
        return c.select(">", x, c.const(0.0), x, c.fmul(g, x))

    _emit_prelu = _emit_leaky_relu

    def _emit_hard_logistic(self, e):
        c = self.ctx
        x = self(e.args[0])
        y = c.fadd(c.fmul(x, c.const(0.25)), c.const(0.5))
        return _clip(c, y, 0.0, 1.0)

    def _emit_hard_tanh(self, e):
        return _clip(self.ctx, self(e.args[0]), -1.0, 1.0)

    def _fold(self, e, op: str):
        # Strict comparison keeps the earlier argument on ties (maxout's rule).
        vals = [self(a) for a in e.args]
        out = vals[0]
        for v in vals[1:]:
            out = self.ctx.select(op, v, out, v, out)
        return out

    def _emit_maxout(self, e):
        return self._fold(e, ">")

    _emit_Max = _emit_maxout

    def _emit_Min(self, e):
        return self._fold(e, "<")

    def _emit_Heaviside(self, e):
        c = self.ctx
        x = self(e.args[0])
        h0 = float(e.args[1]) if len(e.args) > 1 else 0.5
        zero = c.const(0.0)
        at0 = c.select("==", x, zero, c.const(h0), zero)
        return c.select(">", x, zero, c.const(1.0), at0)

    def _emit_sign(self, e):
        c = self.ctx
        x = self(e.args[0])
        zero = c.const(0.0)
        neg = c.select("<", x, zero, c.const(-1.0), zero)
        return c.select(">", x, zero, c.const(1.0), neg)

    def _emit_Abs(self, e):
        return self.ctx.b.call(self.ctx.intrinsic("fabs"), [self(e.args[0])])

    def _emit_sin(self, e):
        return self.ctx.b.call(self.ctx.intrinsic("sin"), [self(e.args[0])])

    def _emit_cos(self, e):
        return self.ctx.b.call(self.ctx.intrinsic("cos"), [self(e.args[0])])

    def _emit_sinh(self, e):
        c = self.ctx
        x = self(e.args[0])
        ep, em = c.math("exp", x), c.math("exp", c.fsub(c.const(0.0), x))
        return c.fmul(c.fsub(ep, em), c.const(0.5))

    def _emit_cosh(self, e):
        c = self.ctx
        x = self(e.args[0])
        ep, em = c.math("exp", x), c.math("exp", c.fsub(c.const(0.0), x))
        return c.fmul(c.fadd(ep, em), c.const(0.5))

    def _emit_atan(self, e):
        return self.ctx.b.call(self.ctx.libm("atan"), [self(e.args[0])])

    def _emit_erf(self, e):
        return self.ctx.b.call(self.ctx.libm("erf"), [self(e.args[0])])


def _powi(c: Ctx, x: ir.Value, n: int) -> ir.Value:
    result, base = None, x
    while n:
        if n & 1:
            result = base if result is None else c.fmul(result, base)
        n >>= 1
        if n:
            base = c.fmul(base, base)
    return result


def _clip(c: Ctx, x: ir.Value, lo: float, hi: float) -> ir.Value:
    y = c.select("<", x, c.const(lo), c.const(lo), x)
    return c.select(">", y, c.const(hi), c.const(hi), y)


# ------------------------------------------------------------------ steps


class _Fn:
    """An internal function over noalias buffer pointers and the dims array."""

    def __init__(self, module: ir.Module, name: str, buffers: list[str], elem: ir.Type,
                 dim_syms: list[sp.Symbol], const_dims: dict | None = None):
        fnty = ir.FunctionType(ir.VoidType(), [PTR] * len(buffers) + [PTR])
        self.fn = ir.Function(module, fnty, name=name)
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        for a in self.fn.args[:-1]:
            a.add_attribute("noalias")
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
        self.ctx = Ctx(module, b, elem, dims)


def _index(c: Ctx, shape, i, j, cols) -> ir.Value:
    r, k = shape
    b = c.b
    if r == 1 and k == 1:
        return I64(0)
    if r == 1:
        return j
    if k == 1:
        return i
    return b.add(b.mul(i, cols, flags=["nsw"]), j, flags=["nsw"])


def _emit_group(c: Ctx, ptr: dict, g: Group, shapes: dict, inplace: dict) -> None:
    """One loop nest computing every step of the group; stores what is needed
    (a value in ``inplace`` overwrites the buffer it names, entry by entry)."""
    R, C = shapes[g.steps[0].out]
    rows, cols = c.dim(R), c.dim(C)
    outer = Loop(c.b, rows, "i") if R != 1 else None
    i = outer.index if outer else I64(0)
    inner = Loop(c.b, cols, "j") if C != 1 else None
    j = inner.index if inner else I64(0)
    values: dict[str, ir.Value] = {}
    for s in g.steps:
        env = {}
        for k, a in enumerate(s.args):
            if a in values:
                env[VARS[k]] = values[a]
            else:
                shape = s.views[k] if s.views and s.views[k] is not None else shapes[a]
                env[VARS[k]] = c.load(ptr[a], _index(c, shape, i, j, c.dim(shape[1])))
        reps, (red,) = sp.cse([s.attr], symbols=sp.numbered_symbols("_c"), optimizations=None,
                              order="canonical")
        em = BodyEmitter(c, env)
        for sym, val in reps:
            env[sym] = em(val)
        values[s.out] = em(red)
        if s.out in g.stores:
            target = ptr[inplace.get(s.out, s.out)]
            c.store(values[s.out], target, _index(c, (R, C), i, j, cols))
    if inner:
        inner.close()
    if outer:
        outer.close()


def _emit_const(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    R, C = shapes[s.out]
    n = c.b.mul(c.dim(R), c.dim(C))
    val = BodyEmitter(c, {})(sp.sympify(s.attr))
    loop = Loop(c.b, n, "k")
    c.store(val, ptr[s.out], loop.index)
    loop.close()


def _emit_leaf(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    if not isinstance(s.attr, sp.Identity):
        raise UnsupportedError(f"llvm backend: leaf {s.attr} is not an input")
    R, C = shapes[s.out]
    rows, cols = c.dim(R), c.dim(C)
    li = Loop(c.b, rows, "i")
    lj = Loop(c.b, cols, "j")
    b = c.b
    eq = b.icmp_signed("==", li.index, lj.index)
    val = b.select(eq, c.const(1.0), c.const(0.0))
    c.store(val, ptr[s.out], b.add(b.mul(li.index, cols), lj.index))
    lj.close()
    li.close()


def _emit_transpose(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    R, C = shapes[s.out]
    rows, cols = c.dim(R), c.dim(C)
    b = c.b
    li = Loop(b, rows, "i")
    lj = Loop(b, cols, "j")
    v = c.load(ptr[s.args[0]], b.add(b.mul(lj.index, rows), li.index))
    c.store(v, ptr[s.out], b.add(b.mul(li.index, cols), lj.index))
    lj.close()
    li.close()


def _emit_reduce(c: Ctx, ptr: dict, s: Step, shapes: dict) -> None:
    (a,) = s.args
    R, C = shapes[a]
    rows, cols = c.dim(R), c.dim(C)
    b = c.b
    src, dst = ptr[a], ptr[s.out]
    zero = c.const(0.0)
    red = ("contract", "reassoc")
    if s.attr == 0:  # column sums: accumulate rows into the output row (vectorizes over j)
        lj = Loop(b, cols, "j0")
        c.store(zero, dst, lj.index)
        lj.close()
        li = Loop(b, rows, "i")
        lj = Loop(b, cols, "j")
        acc = b.fadd(c.load(dst, lj.index), c.load(src, b.add(b.mul(li.index, cols), lj.index)))
        c.store(acc, dst, lj.index)
        lj.close()
        li.close()
        return
    if s.attr == 1:
        li = Loop(b, rows, "i")
        total = _sum_loop(c, src, b.mul(li.index, cols), cols, red)
        c.store(total, dst, li.index)
        li.close()
        return
    total = _sum_loop(c, src, I64(0), b.mul(rows, cols), red)
    c.store(total, dst, I64(0))


def _sum_loop(c: Ctx, src, start, n, flags) -> ir.Value:
    b = c.b
    loop = Loop(b, n, "k")
    acc = loop.carry(c.const(0.0), "acc")
    nxt = b.fadd(acc, c.load(src, b.add(start, loop.index)), flags=flags)
    loop.close({acc: nxt})
    return acc


def _emit_column(c: Ctx, ptr: dict, s: Step, shapes: dict, scratch: str) -> None:
    """softmax / log_softmax / logsumexp of each column with a max shift.

    Row-major layout: loop rows outside and columns inside so every pass is
    a contiguous, vectorizable sweep; per-column max and sum live in scratch.
    """
    (a,) = s.args
    R, C = shapes[a]
    rows, cols = c.dim(R), c.dim(C)
    b = c.b
    z, out = ptr[a], ptr[s.out]
    if isinstance(cols, ir.Constant) and cols.constant == 1:
        _emit_one_column(c, s.op, z, out, rows)
        return
    mx = ptr[scratch]
    sm = b.gep(mx, [cols], inbounds=True, source_etype=c.elem)
    ninf = c.const(float("-inf"))
    lj = Loop(b, cols, "j0")
    c.store(ninf, mx, lj.index)
    c.store(c.const(0.0), sm, lj.index)
    lj.close()
    li = Loop(b, rows, "i1")
    lj = Loop(b, cols, "j1")
    v = c.load(z, b.add(b.mul(li.index, cols), lj.index))
    m = c.load(mx, lj.index)
    c.store(c.select(">", v, m, v, m), mx, lj.index)
    lj.close()
    li.close()
    # A column of -inf (or +inf) would give inf - inf: shift by 0 instead.
    lj = Loop(b, cols, "j2")
    m = c.load(mx, lj.index)
    fin = b.fcmp_ordered("<", b.call(c.intrinsic("fabs"), [m]), c.const(float("inf")))
    c.store(b.select(fin, m, c.const(0.0)), mx, lj.index)
    lj.close()
    li = Loop(b, rows, "i3")
    lj = Loop(b, cols, "j3")
    idx = b.add(b.mul(li.index, cols), lj.index)
    e = c.math("exp", c.fsub(c.load(z, idx), c.load(mx, lj.index)))
    c.store(c.fadd(c.load(sm, lj.index), e), sm, lj.index)
    if s.op == "softmax":
        c.store(e, out, idx)
    lj.close()
    li.close()
    if s.op == "logsumexp":
        lj = Loop(b, cols, "j4")
        lse = c.fadd(c.load(mx, lj.index), c.math("log", c.load(sm, lj.index)))
        c.store(lse, out, lj.index)
        lj.close()
        return
    li = Loop(b, rows, "i5")
    lj = Loop(b, cols, "j5")
    idx = b.add(b.mul(li.index, cols), lj.index)
    if s.op == "softmax":
        val = c.fdiv(c.load(out, idx), c.load(sm, lj.index))
    else:
        lse = c.fadd(c.load(mx, lj.index), c.math("log", c.load(sm, lj.index)))
        val = c.fsub(c.load(z, idx), lse)
    c.store(val, out, idx)
    lj.close()
    li.close()


def _emit_one_column(c: Ctx, op: str, z, out, rows) -> None:
    """The column op of a single column (one sample): max and sum are loop
    carries rather than scratch rows, so the exp pass vectorizes over rows."""
    b = c.b
    lm = Loop(b, rows, "i1")
    m = lm.carry(c.const(float("-inf")), "mx")
    v = c.load(z, lm.index)
    lm.close({m: c.select(">", v, m, v, m)})
    # A column of -inf (or +inf) would give inf - inf: shift by 0 instead.
    fin = b.fcmp_ordered("<", b.call(c.intrinsic("fabs"), [m]), c.const(float("inf")))
    shift = b.select(fin, m, c.const(0.0))
    le = Loop(b, rows, "i3")
    acc = le.carry(c.const(0.0), "sum")
    e = c.math("exp", c.fsub(c.load(z, le.index), shift))
    if op == "softmax":
        c.store(e, out, le.index)
    le.close({acc: b.fadd(acc, e, flags=("reassoc",))})
    if op == "logsumexp":
        c.store(c.fadd(shift, c.math("log", acc)), out, I64(0))
        return
    lo = Loop(b, rows, "i5")
    if op == "softmax":
        val = c.fdiv(c.load(out, lo.index), acc)
    else:
        val = c.fsub(c.load(z, lo.index), c.fadd(shift, c.math("log", acc)))
    c.store(val, out, lo.index)
    lo.close()


#: Rows of the output a product's inner loop updates together.
ROW_BLOCK = 4


def _emit_ipj(c: Ctx, A, B, out, ta: bool, rows, cols, inner, sc: Scale | None = None) -> None:
    """out = op(A) B by i, p, j, vectorized over j and register-blocked over i:
    ROW_BLOCK entries of op(A) stay in registers and every vector of B's row
    p that is loaded feeds ROW_BLOCK rows of the output."""
    b = c.b
    blocks = b.sdiv(rows, I64(ROW_BLOCK))
    lb = Loop(b, blocks, "ib")
    i0 = b.mul(lb.index, I64(ROW_BLOCK))
    rows_i = [b.add(i0, I64(r)) for r in range(ROW_BLOCK)]
    _ipj_rows(c, A, B, out, ta, rows_i, rows, cols, inner, sc)
    lb.close()
    # The rows left over after the blocks, one at a time.
    lr = Loop(b, rows, "ir", start=b.mul(blocks, I64(ROW_BLOCK)))
    _ipj_rows(c, A, B, out, ta, [lr.index], rows, cols, inner, sc)
    lr.close()


def _ipj_rows(c: Ctx, A, B, out, ta: bool, row_idx: list, rows, cols, inner,
              sc: Scale | None = None) -> None:
    b = c.b
    starts = [b.mul(i, cols) for i in row_idx]
    lj = Loop(b, cols, "j0")
    for st in starts:
        idx = b.add(st, lj.index)
        c.store(c.const(0.0) if sc is None else c.fmul(sc.beta, c.load(out, idx)), out, idx)
    lj.close()
    lp = Loop(b, inner, "p")
    avs = []
    for i in row_idx:
        aidx = b.add(b.mul(lp.index, rows), i) if ta else b.add(b.mul(i, inner), lp.index)
        av = c.load(A, aidx)
        avs.append(av if sc is None else c.fmul(sc.alpha, av))
    brow = b.mul(lp.index, cols)
    lj = Loop(b, cols, "j")
    bv = c.load(B, b.add(brow, lj.index))
    for st, av in zip(starts, avs, strict=True):
        oidx = b.add(st, lj.index)
        c.store(c.fadd(c.load(out, oidx), c.fmul(av, bv)), out, oidx)
    lj.close()
    lp.close()


def _dot_rows(c: Ctx, A, B, out, ta: bool, rows, inner, sc: Scale | None = None) -> None:
    """out[i] = sum_p op(A)[i, p] * B[p] (B one contiguous column).

    op(A) = A: ROW_BLOCK dot products share each vector of B and run as
    independent accumulator chains (one chain would wait on the adder's
    latency every step); the sums reassociate, so they vectorize over p.
    op(A) = A^T: rows of A are contiguous along i, so out += B[p] * A[p, :]
    for each p, vectorized over i with no horizontal sums at all.
    """
    b = c.b
    if ta:
        lz = Loop(b, rows, "i0")
        init = c.const(0.0) if sc is None else c.fmul(sc.beta, c.load(out, lz.index))
        c.store(init, out, lz.index)
        lz.close()
        lp = Loop(b, inner, "p")
        bp = c.load(B, lp.index)
        if sc is not None:
            bp = c.fmul(sc.alpha, bp)
        li = Loop(b, rows, "i")
        oidx = li.index
        aval = c.load(A, b.add(b.mul(lp.index, rows), li.index))
        c.store(c.fadd(c.load(out, oidx), c.fmul(aval, bp)), out, oidx)
        li.close()
        lp.close()
        return

    def block(i_rows: list) -> None:
        lp = Loop(b, inner, "p")
        accs = [lp.carry(c.const(0.0), f"acc{k}") for k in range(len(i_rows))]
        bv = c.load(B, lp.index)
        nxt = {}
        for acc, i in zip(accs, i_rows, strict=True):
            av = c.load(A, b.add(b.mul(i, inner), lp.index))
            nxt[acc] = b.fadd(acc, c.fmul(av, bv), flags=("contract", "reassoc"))
        lp.close(nxt)
        for acc, i in zip(accs, i_rows, strict=True):
            c.store(acc if sc is None else sc.apply(c, acc, c.load(out, i)), out, i)

    blocks = b.sdiv(rows, I64(ROW_BLOCK))
    lb = Loop(b, blocks, "ib")
    i0 = b.mul(lb.index, I64(ROW_BLOCK))
    block([b.add(i0, I64(r)) for r in range(ROW_BLOCK)])
    lb.close()
    lr = Loop(b, rows, "ir", start=b.mul(blocks, I64(ROW_BLOCK)))
    block([lr.index])
    lr.close()


def _product_dims(c: Ctx, s: Step, shapes: dict):
    """(rows, cols, inner) of a product step as i64 values."""
    a = s.args[0]
    R, C = shapes[s.out]
    sa = shapes[a]
    K = sa[0] if s.attr[0] else sa[1]
    return c.dim(R), c.dim(C), c.dim(K)


def _emit_matmul_loops(c: Ctx, ptr: dict, s: Step, shapes: dict, sc: Scale | None = None,
                       out=None) -> None:
    """C = op(A) op(B) by loops ordered for contiguous inner access (with
    ``sc``: C = beta C + alpha op(A) op(B) into ``out``)."""
    a, bb = s.args
    ta, tb = s.attr
    rows, cols, inner = _product_dims(c, s, shapes)
    b = c.b
    A, B = ptr[a], ptr[bb]
    out = ptr[s.out] if out is None else out
    if not tb:
        # A matrix-vector product (one column, e.g. one sample) is a dot
        # product per row, B's column being contiguous; otherwise i, p, j.
        one_col = b.icmp_signed("==", cols, I64(1))
        with b.if_else(one_col) as (then, otherwise):
            with then:
                _dot_rows(c, A, B, out, ta, rows, inner, sc)
            with otherwise:
                _emit_ipj(c, A, B, out, ta, rows, cols, inner, sc)
        return
    # B stored transposed (C x K): dot products over contiguous rows of A and B.
    li = Loop(b, rows, "i")
    lj = Loop(b, cols, "j")
    lp = Loop(b, inner, "p")
    acc = lp.carry(c.const(0.0), "acc")
    aidx = b.add(b.mul(lp.index, rows), li.index) if ta else b.add(b.mul(li.index, inner),
                                                                     lp.index)
    bidx = b.add(b.mul(lj.index, inner), lp.index)
    nxt = b.fadd(acc, c.fmul(c.load(A, aidx), c.load(B, bidx)), flags=("contract", "reassoc"))
    lp.close({acc: nxt})
    oidx = b.add(b.mul(li.index, cols), lj.index)
    c.store(acc if sc is None else sc.apply(c, acc, c.load(out, oidx)), out, oidx)
    lj.close()
    li.close()


#: Elements of work (rows x inner x cols) above which a product calls BLAS.
BLAS_THRESHOLD = 32 * 32 * 32


def _emit_matmul(c: Ctx, ptr: dict, s: Step, shapes: dict, gemm: str | None,
                 update: Update | None = None, threshold: int = BLAS_THRESHOLD) -> None:
    """Loops for small products; from ``threshold`` multiply-adds on a call through the
    global function pointer ``gemm`` -- when the runtime has filled it in.

    With ``update`` the product is not stored: it goes straight into the
    in-place update of a parameter, C = beta C + alpha op(A) op(B).
    """
    sc, out = None, ptr[s.out] if update is None else ptr[update.param]
    if update is not None:
        env = {VARS[k]: c.load(ptr[a], I64(0)) for k, a in enumerate(update.step.args)
               if VARS[k] in update.alpha.free_symbols | update.beta.free_symbols}
        em = BodyEmitter(c, env)
        sc = Scale(em(update.alpha), em(update.beta))
    if gemm is None:
        _emit_matmul_loops(c, ptr, s, shapes, sc, out)
        return
    a, bb = s.args
    ta, tb = s.attr
    rows, cols, inner = _product_dims(c, s, shapes)
    b = c.b
    slot = _gemm_slot(c.module, gemm)
    # A typed pointer to the function type: llvmlite reads the callee's
    # signature from it (the IR text still says ``ptr``).
    fnty = ir.FunctionType(ir.VoidType(), [PTR] * 13).as_pointer()
    fptr = b.load(slot, typ=fnty)
    work = b.mul(b.mul(rows, cols), inner)
    small = b.icmp_signed("<", work, I64(threshold))
    unset = b.icmp_unsigned("==", fptr, ir.Constant(fnty, None))
    # BLAS takes 32-bit sizes: anything larger stays with the loops.
    big = b.icmp_signed(">", b.select(b.icmp_signed(">", rows, cols), rows, cols),
                        I64(2**31 - 1))
    use_loops = b.or_(b.or_(small, unset), b.or_(big, b.icmp_signed(">", inner,
                                                                    I64(2**31 - 1))))
    fn = b.function
    blk_small = fn.append_basic_block("mm.loops")
    blk_blas = fn.append_basic_block("mm.blas")
    blk_done = fn.append_basic_block("mm.done")
    b.cbranch(use_loops, blk_small, blk_blas)
    b.position_at_end(blk_small)
    _emit_matmul_loops(c, ptr, s, shapes, sc, out)
    b.branch(blk_done)
    b.position_at_end(blk_blas)
    _call_gemm(c, fptr, ptr[a], ptr[bb], out, ta, tb, rows, cols, inner, shapes[a],
               shapes[bb], sc)
    b.branch(blk_done)
    b.position_at_end(blk_done)


def _gemm_slot(module: ir.Module, gemm: str) -> ir.GlobalVariable:
    """The global holding the ?gemm pointer: defined (null) in the main
    module, declared in the part modules that also call it."""
    slot = module.globals.get(gemm)
    if slot is None:
        slot = ir.GlobalVariable(module, PTR, name=gemm)
        owner = getattr(module, "symnet_owner", None)
        if owner is None:
            slot.initializer = ir.Constant(PTR, None)
        else:
            _gemm_slot(owner, gemm)
    return slot


def new_parts(module: ir.Module, n: int) -> list[ir.Module]:
    """``n`` empty modules that can take group functions of ``module``'s
    kernels (see :func:`emit`), compiled separately and linked together."""
    parts = []
    for k in range(n):
        part = ir.Module(name=f"{module.name}.part{k + 1}")
        part.triple, part.data_layout = module.triple, module.data_layout
        part.symnet_owner = module
        parts.append(part)
    return parts


#: Relative compile cost of a group by its first step's op (loop groups add
#: their step count): spreads the work of a module's parts evenly.
_COST = {"matmul": 6.0, "softmax": 4.0, "log_softmax": 4.0, "logsumexp": 3.0, "ew": 1.0}


def _group_cost(g: Group) -> float:
    return _COST.get(g.steps[0].op, 0.5) + (0.25 * len(g.steps) if g.is_loop else 0.0)


def _call_gemm(c: Ctx, fptr, A, B, out, ta, tb, rows, cols, inner, sha, shb,
               sc: Scale | None = None) -> None:
    """Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T."""
    b = c.b

    def slot(ty, val):
        p = b.alloca(ty)
        b.store(val, p)
        return p

    lda = c.dim(sha[1])
    ldb = c.dim(shb[1])
    transa = slot(I8, I8(ord("T" if tb else "N")))
    transb = slot(I8, I8(ord("T" if ta else "N")))
    m = slot(I32, b.trunc(cols, I32))
    n = slot(I32, b.trunc(rows, I32))
    k = slot(I32, b.trunc(inner, I32))
    alpha = slot(c.elem, c.const(1.0) if sc is None else sc.alpha)
    beta = slot(c.elem, c.const(0.0) if sc is None else sc.beta)
    ldb_ = slot(I32, b.trunc(ldb, I32))
    lda_ = slot(I32, b.trunc(lda, I32))
    ldc = slot(I32, b.trunc(cols, I32))
    b.call(fptr, [transa, transb, m, n, k, alpha, B, ldb_, A, lda_, beta, out, ldc])


# ------------------------------------------------------------------ module


@dataclass
class Emitted:
    module: ir.Module
    plan: Plan
    scratch: dict[str, str]          # step -> scratch buffer name
    scratch_sizes: dict[str, tuple]  # scratch buffer -> (rows, cols)
    inplace: dict[str, str] = field(default_factory=dict)  # value -> buffer it overwrites
    parts: list[ir.Module] = field(default_factory=list)  # modules holding some groups

    @property
    def modules(self) -> list[ir.Module]:
        """The main module, then the parts that have any functions."""
        return [self.module] + [m for m in self.parts if m.functions]


def _outer_products(prog: Program, const_dims: dict) -> Program:
    """With the inner dimension fixed to 1, a product is an outer product:
    an elementwise step that can join (and stay in registers of) a loop group."""
    steps = []
    for s in prog.steps:
        if s.op == "matmul":
            (ra, ca), (rb, cb) = s.arg_shapes
            ta, tb = s.attr
            inner = ra if ta else ca
            if sp.sympify(inner).subs(const_dims) == 1:
                rows, cols = s.shape
                s = Step(s.out, "ew", s.args, s.shape, VARS[0] * VARS[1], s.arg_shapes,
                         ((rows, 1), (1, cols)))
        steps.append(s)
    return Program(prog.inputs, prog.dims, steps, prog.outputs, prog.output_shapes)


def _inplace(p: Plan, wanted: dict[str, str]) -> dict[str, str]:
    """Keep the requested (value -> buffer) overwrites that are safe: the value
    is computed by a loop group that also reads the buffer at the same entry,
    and nothing after that group reads the buffer or the value."""
    ok = {}
    for value, buf in wanted.items():
        gi = next((k for k, g in enumerate(p.groups) if any(s.out == value for s in g.steps)),
                  None)
        if gi is None or not p.groups[gi].is_loop:
            continue
        step = next(s for s in p.groups[gi].steps if s.out == value)
        if buf not in step.args or (step.views and any(v is not None for v in step.views)):
            continue
        later = [a for g in p.groups[gi + 1:] for s in g.steps for a in s.args]
        same_group_after = [a for s in p.groups[gi].steps[p.groups[gi].steps.index(step) + 1:]
                            for a in s.args]
        if buf in later or value in later or buf in same_group_after:
            continue
        if p.shapes[buf] != p.shapes[value]:
            continue
        ok[value] = buf
    return ok


def _scratch(p: Plan) -> tuple[dict[str, str], dict[str, tuple]]:
    """Column ops keep a per-column max and sum: 2 x columns of scratch each."""
    scratch: dict[str, str] = {}
    sizes: dict[str, tuple] = {}
    for g in p.groups:
        s = g.steps[0]
        if s.op in ("softmax", "log_softmax", "logsumexp"):
            nm = f"{s.out}__scratch"
            scratch[s.out] = nm
            sizes[nm] = (2, p.shapes[s.args[0]][1])
    return scratch, sizes


def layout(prog: Program, shapes: dict | None = None) -> Emitted:
    """The buffers a program's module uses, without emitting it (no module)."""
    p = plan(prog, shapes)
    scratch, sizes = _scratch(p)
    return Emitted(None, p, scratch, sizes)


def emit(prog: Program, name: str, elem: ir.Type, shapes: dict | None = None,
         gemm: str | None = None, triple: str = "", data_layout: str = "",
         dims: list[sp.Symbol] | None = None, module: ir.Module | None = None,
         parts: int | list[ir.Module] = 0,
         const_dims: dict | None = None, inplace: dict | None = None,
         buffer_order: list[str] | None = None, blas_threshold: int | None = None) -> Emitted:
    """Build the module for a program; ``gemm`` names the global that holds a
    ?gemm function pointer (null: loops only);
    ``dims`` orders the values of the kernel's dims array (default prog.dims);
    ``const_dims`` fixes some dims at compile time; ``module`` adds to one;
    products of at least ``blas_threshold`` multiply-adds (default
    BLAS_THRESHOLD) call BLAS when its pointer is set.
    ``parts`` (a count, or modules from :func:`new_parts`) take a share of
    the group functions,
    balanced by estimated compile cost, so the modules can be compiled in
    parallel; the main module declares the ones it calls there."""
    dims = list(prog.dims if dims is None else dims)
    if const_dims:
        prog = _outer_products(prog, const_dims)
    p = plan(prog, shapes)
    inplace = _inplace(p, dict(inplace or {}))
    if module is None:
        module = ir.Module(name=name)
        if triple:
            module.triple = triple
        if data_layout:
            module.data_layout = data_layout
    if isinstance(parts, int):
        parts = new_parts(module, parts)
    scratch, scratch_sizes = _scratch(p)
    buffers = p.buffers + list(scratch_sizes)
    if buffer_order is not None:
        # Share another step's bufs array (a specialization of the same program).
        missing = [nm for nm in buffers if nm not in buffer_order]
        if missing:
            raise ValueError(f"buffers {missing} are not in the shared buffer order")
        buffers = list(buffer_order)
    main = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, PTR]), name=name)
    main.attributes.add("nounwind")
    bufs_arg, dims_arg = main.args
    b = ir.IRBuilder(main.append_basic_block("entry"))
    ptrs = []
    for k in range(len(buffers)):
        slot = b.gep(bufs_arg, [I64(k)], inbounds=True, source_etype=PTR)
        ptrs.append(b.load(slot, typ=PTR, align=8))
    bufidx = {nm: k for k, nm in enumerate(buffers)}
    emitters: dict[str, Callable] = {
        "const": _emit_const, "leaf": _emit_leaf, "transpose": _emit_transpose,
        "reduce": _emit_reduce,
    }
    updates = _updates(p, inplace)
    folded = {u.step.out for u in updates.values()}
    for gi, g in enumerate(p.groups):
        if g.steps[0].out in folded:
            continue  # computed by the product before it (see _updates)
        update = updates.get(g.steps[0].out)
        used: list[str] = []
        for s in g.steps + ([update.step] if update else []):
            for a in s.args:
                if a in bufidx and a not in used and a not in [t.out for t in g.steps]:
                    used.append(a)
        used += [n for n in g.stores if n not in used and update is None]
        if g.steps[0].out in scratch:
            used.append(scratch[g.steps[0].out])
        target = module
        if parts:
            target = min([module, *parts], key=lambda m: getattr(m, "symnet_cost", 0.0))
            target.symnet_cost = getattr(target, "symnet_cost", 0.0) + _group_cost(g)
        f = _Fn(target, f"{name}.g{gi}", used, elem, dims, const_dims)
        callee = f.fn
        if target is not module:
            # Reached from another module: external (hidden: not exported).
            f.fn.linkage = "hidden"
            callee = ir.Function(module, f.fn.ftype, name=f.fn.name)
        s = g.steps[0]
        if g.is_loop:
            _emit_group(f.ctx, f.ptr, g, p.shapes, inplace)
        elif s.op in ("softmax", "log_softmax", "logsumexp"):
            _emit_column(f.ctx, f.ptr, s, p.shapes, scratch[s.out])
        elif s.op == "matmul":
            _emit_matmul(f.ctx, f.ptr, s, p.shapes, gemm, update,
                         BLAS_THRESHOLD if blas_threshold is None else blas_threshold)
        else:
            emitters[s.op](f.ctx, f.ptr, s, p.shapes)
        f.ctx.b.ret_void()
        b.call(callee, [ptrs[bufidx[u]] for u in used] + [dims_arg])
    b.ret_void()
    return Emitted(module, p, scratch, scratch_sizes, inplace, list(parts))



@dataclass
class EpochSpec:
    """What the epoch driver needs to know about the step program."""

    x: str                       # buffer of the step's input batch X (n_in x m)
    y: str                       # buffer of the step's labels Y (n_out x m)
    batch: sp.Symbol             # the batch dimension m
    loss: str | None             # buffer of the step's loss (1 x 1), if tracked
    updates: list[tuple[str, str]]  # (parameter buffer, its new value buffer)
    batch_size: int = 1          # the batch size the fast step is specialized for


def emit_epoch(prog: Program, name: str, elem: ir.Type, spec: EpochSpec,
               gemm: str | None = None, triple: str = "", data_layout: str = "",
               parts: int = 0, blas_threshold: int | None = None) -> Emitted:
    """A whole epoch of SGD in one native function.

    ``void NAME(T** bufs, i64* dims, T* X, T* Y, i64* order, i64 n, i64 batch, T* loss)``:
    for each batch of ``order``, gather its samples from X (n x rows,
    sample-major) and Y
    into the step's X and Y buffers, set m, run the step, copy each new
    parameter value over the parameter (in place) and add up the loss;
    ``*loss`` receives the mean loss over the epoch.
    """
    # Parameters are overwritten by their new values where that is safe;
    # the rest are copied after each step.
    wanted = {new: param for param, new in spec.updates}
    em = emit(prog, f"{name}.step", elem, gemm=gemm, triple=triple, data_layout=data_layout,
              inplace=wanted, parts=parts, blas_threshold=blas_threshold)
    module = em.module
    # The step again with m fixed to the batch size: every full batch runs
    # code whose loop bounds are all compile-time constants.
    em_b = emit(prog, f"{name}.stepB", elem, gemm=gemm, module=module, parts=em.parts,
                const_dims={spec.batch: spec.batch_size}, inplace=wanted,
                blas_threshold=blas_threshold,
                buffer_order=em.plan.buffers + list(em.scratch_sizes))
    step_b = module.globals[f"{name}.stepB"]
    p = em.plan
    buffers = p.buffers + list(em.scratch_sizes)
    bufidx = {nm: k for k, nm in enumerate(buffers)}
    step = module.globals[f"{name}.step"]
    fnty = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, PTR, PTR, I64, I64, PTR])
    fn = ir.Function(module, fnty, name=name)
    fn.attributes.add("nounwind")
    bufs, dims_in, X, Y, order, n, batch, loss_out = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    ndims = len(prog.dims)
    local = b.alloca(I64, I64(max(ndims, 1)), name="dims")
    dims: dict[sp.Symbol, ir.Value] = {}
    for k, d in enumerate(prog.dims):
        v = b.load(b.gep(dims_in, [I64(k)], inbounds=True, source_etype=I64), typ=I64)
        b.store(v, b.gep(local, [I64(k)], inbounds=True, source_etype=I64))
        dims[d] = v
    ctx = Ctx(module, b, elem, dims)

    def buf(nm: str) -> ir.Value:
        slot = b.gep(bufs, [I64(bufidx[nm])], inbounds=True, source_etype=PTR)
        return b.load(slot, typ=PTR, align=8)

    xb, yb = buf(spec.x), buf(spec.y)
    lossb = buf(spec.loss) if spec.loss is not None else None
    x_rows = ctx.dim(p.shapes[spec.x][0])
    y_rows = ctx.dim(p.shapes[spec.y][0])
    m_slot = b.gep(local, [I64(prog.dims.index(spec.batch))], inbounds=True, source_etype=I64)
    direct = spec.batch_size == 1
    if direct:
        # One sample per step: its X and Y columns are rows of the sample-
        # major data, so the fast step reads them in place through its own
        # copy of the buffer table instead of gathering them.
        nbuf = len(buffers)
        bufs_b = b.alloca(PTR, I64(nbuf), name="bufs_b")
        lc = Loop(b, I64(nbuf), "t")
        src_slot = b.gep(bufs, [lc.index], inbounds=True, source_etype=PTR)
        dst_slot = b.gep(bufs_b, [lc.index], inbounds=True, source_etype=PTR)
        b.store(b.load(src_slot, typ=PTR, align=8), dst_slot, align=8)
        lc.close()
        x_slot = b.gep(bufs_b, [I64(bufidx[spec.x])], inbounds=True, source_etype=PTR)
        y_slot = b.gep(bufs_b, [I64(bufidx[spec.y])], inbounds=True, source_etype=PTR)
    total = b.alloca(elem, name="total")
    b.store(ctx.const(0.0), total)
    nb = b.sdiv(b.add(n, b.sub(batch, I64(1))), batch)
    lb = Loop(b, nb, "batch")
    start = b.mul(lb.index, batch)
    rest = b.sub(n, start)
    size = b.select(b.icmp_signed("<", rest, batch), rest, batch)
    b.store(size, m_slot)

    def gather() -> None:
        # X and Y arrive sample-major (one row per sample), so a sample's
        # features are one contiguous run however the order jumps around.
        for src, dst, rows in ((X, xb, x_rows), (Y, yb, y_rows)):
            lk = Loop(b, size, "k")
            sample = b.load(b.gep(order, [b.add(start, lk.index)], inbounds=True,
                                  source_etype=I64), typ=I64)
            base = b.mul(sample, rows)
            li = Loop(b, rows, "r")
            v = ctx.load(src, b.add(base, li.index))
            ctx.store(v, dst, b.add(b.mul(li.index, size), lk.index))
            li.close()
            lk.close()

    def copy_back(done: dict[str, str]) -> None:
        for param, new in spec.updates:
            if new in done:
                continue
            r, c = p.shapes[param]
            cnt = b.mul(ctx.dim(r), ctx.dim(c))
            dst, src = buf(param), buf(new)
            lc = Loop(b, cnt, "u")
            ctx.store(ctx.load(src, lc.index), dst, lc.index)
            lc.close()

    full = b.icmp_signed("==", size, I64(spec.batch_size))
    with b.if_else(full) as (then, otherwise):
        with then:
            if direct:
                sample = b.load(b.gep(order, [start], inbounds=True, source_etype=I64), typ=I64)
                for slot, src, rows in ((x_slot, X, x_rows), (y_slot, Y, y_rows)):
                    row = b.gep(src, [b.mul(sample, rows)], inbounds=True, source_etype=elem)
                    b.store(row, slot, align=8)
                b.call(step_b, [bufs_b, local])
            else:
                gather()
                b.call(step_b, [bufs, local])
            copy_back(em_b.inplace)
        with otherwise:
            gather()
            b.call(step, [bufs, local])
            copy_back(em.inplace)
    if lossb is not None:
        lossv = ctx.load(lossb, I64(0))
        acc = b.fadd(b.load(total, typ=elem), b.fmul(lossv, b.sitofp(size, elem)))
        b.store(acc, total)
    lb.close()
    mean = b.fdiv(b.load(total, typ=elem), b.sitofp(n, elem))
    b.store(mean, loss_out)
    b.ret_void()
    return em
