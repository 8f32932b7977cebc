"""The BLAS team's native code: a ?gemm that splits products into blocks, the helpers' loop."""

from __future__ import annotations

from llvmlite import ir

from .irutil import I8, I32, I64, PTR, Loop

__all__ = ["GRACE_CYCLES", "MIN_BLOCK", "MIN_WORK", "build_ir"]

#: Fewest rows (or columns) of C in one block of a split product.
MIN_BLOCK = 64
#: Multiply-adds from which a product is split at all (below it one call).
MIN_WORK = 1 << 21
#: Cycles (time-stamp counter) a helper waits for the next call, ~3 ms.
GRACE_CYCLES = 1 << 23


def _declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    return ir.Function(module, ir.FunctionType(ret, args), name=name)


def _global(module: ir.Module, name: str, ty: ir.Type) -> ir.GlobalVariable:
    g = ir.GlobalVariable(module, ty, name=name)
    g.initializer = ir.Constant(ty, None)
    g.linkage = "internal"
    return g


def _pause(module: ir.Module, b: ir.IRBuilder, x86: bool) -> None:
    if x86:
        fn = module.globals.get("llvm.x86.sse2.pause") or _declare(
            module, "llvm.x86.sse2.pause", ir.VoidType(), [])
        b.call(fn, [])


def build_ir(triple: str) -> str:
    """The team's module: ``symnet_team_{s,d}gemm`` (the ?gemm the kernels
    call), ``symnet_team_work`` (a helper's loop), ``symnet_team_begin/end``
    and ``symnet_team_set`` (the real ?gemm addresses).

    >>> text = build_ir("x86_64-unknown-linux-gnu")
    >>> all(f'@"symnet_team_{name}"' in text for name in ("sgemm", "dgemm", "work"))
    True
    """
    m = ir.Module(name="symnet_team")
    m.triple = triple
    x86 = triple.startswith(("x86_64", "i686", "i386"))
    fnty = ir.FunctionType(ir.VoidType(), [PTR] * 13)
    # A typed pointer: llvmlite reads a callee's signature from it (the IR says ``ptr``).
    fptr_ty = fnty.as_pointer()
    args_ty = ir.ArrayType(PTR, 13)
    g = {name: _global(m, name, ty) for name, ty in [
        ("real_s", PTR), ("real_d", PTR), ("job_fn", PTR), ("job_esize", I64),
        ("job_axis", I32), ("job_ext", I32), ("job_count", I32), ("job_size", I32),
        ("job_args", args_ty), ("parts", I32), ("helped", I64),
        ("remaining", I32), ("done", I32), ("quit", I32), ("owner", I64)]}
    pthread_self = _declare(m, "pthread_self", I64, [])
    sched_yield = _declare(m, "sched_yield", I32, [])

    def atomic_load(b, ptr, ty):
        v = b.load_atomic(ptr, "seq_cst", ty.width // 8, typ=ty)
        return v

    def atomic_store(b, val, ptr):
        b.store_atomic(val, ptr, "seq_cst", val.type.width // 8)

    # run_block(fn, esize, args, axis, ext, count, size, i): one block, one ?gemm call.
    run = ir.Function(m, ir.FunctionType(ir.VoidType(),
                                         [fptr_ty, I64, PTR, I32, I32, I32, I32, I32]),
                      name="symnet_team_block")
    run.linkage = "internal"
    fn, esize, args, axis, ext, count, bsize, i = run.args
    b = ir.IRBuilder(run.append_basic_block("entry"))
    argv = [b.load(b.gep(args, [I64(j)], source_etype=PTR), typ=PTR)
            for j in range(13)]
    lo = b.mul(i, bsize)
    last = b.icmp_signed("==", i, b.sub(count, I32(1)))
    size = b.select(last, b.sub(ext, lo), bsize)
    size_p = b.alloca(I32)
    b.store(size, size_p)
    lo64 = b.sext(lo, I64)
    ta = b.load(argv[0], typ=I8)
    tb = b.load(argv[1], typ=I8)
    lda = b.sext(b.load(argv[7], typ=I32), I64)
    ldb = b.sext(b.load(argv[9], typ=I32), I64)
    ldc = b.sext(b.load(argv[12], typ=I32), I64)

    def at(base, elems):
        return b.gep(base, [b.mul(elems, esize)], source_etype=I8)

    n_tr = I8(ord("N"))
    split_n = b.icmp_signed("==", axis, I32(1))
    # axis 0 (rows of C): A's rows move (A's columns when A is transposed).
    a_rows = at(argv[6], b.select(b.icmp_unsigned("==", ta, n_tr), lo64, b.mul(lo64, lda)))
    c_rows = at(argv[11], lo64)
    # axis 1 (columns of C): B's columns move (B's rows when B is transposed).
    b_cols = at(argv[8], b.select(b.icmp_unsigned("==", tb, n_tr), b.mul(lo64, ldb), lo64))
    c_cols = at(argv[11], b.mul(lo64, ldc))
    new = list(argv)
    new[2] = b.select(split_n, argv[2], size_p)
    new[3] = b.select(split_n, size_p, argv[3])
    new[6] = b.select(split_n, argv[6], a_rows)
    new[8] = b.select(split_n, b_cols, argv[8])
    new[11] = b.select(split_n, c_cols, c_rows)
    b.call(fn, new)
    b.ret_void()

    # claim(): the next block of the published job, or -1 when none is left.
    claim = ir.Function(m, ir.FunctionType(I32, []), name="symnet_team_claim")
    claim.linkage = "internal"
    b = ir.IRBuilder(claim.append_basic_block("entry"))
    head = claim.append_basic_block("head")
    try_ = claim.append_basic_block("try")
    got = claim.append_basic_block("got")
    none = claim.append_basic_block("none")
    b.branch(head)
    b.position_at_end(head)
    v = atomic_load(b, g["remaining"], I32)
    b.cbranch(b.icmp_signed(">", v, I32(0)), try_, none)
    b.position_at_end(try_)
    pair = b.cmpxchg(g["remaining"], v, b.sub(v, I32(1)), "seq_cst", "seq_cst")
    b.cbranch(b.extract_value(pair, 1), got, head)
    b.position_at_end(got)
    # A successful claim pins the job: its publisher waits for this block.
    b.ret(b.sub(b.load(g["job_count"], typ=I32), v))
    b.position_at_end(none)
    b.ret(I32(-1))

    def work_loop(b, fn_, helper=False):
        """Claim and run blocks until none is left (appends blocks to fn_)."""
        head = fn_.append_basic_block("work.head")
        body = fn_.append_basic_block("work.body")
        out = fn_.append_basic_block("work.out")
        b.branch(head)
        b.position_at_end(head)
        idx = b.call(claim, [])
        b.cbranch(b.icmp_signed(">=", idx, I32(0)), body, out)
        b.position_at_end(body)
        b.call(run, [b.load(g["job_fn"], typ=fptr_ty), b.load(g["job_esize"], typ=I64),
                     g["job_args"], b.load(g["job_axis"], typ=I32),
                     b.load(g["job_ext"], typ=I32), b.load(g["job_count"], typ=I32),
                     b.load(g["job_size"], typ=I32), idx])
        if helper:  # counted for the tests: the team really shares the work
            b.atomic_rmw("add", g["helped"], I64(1), "monotonic")
        b.atomic_rmw("add", g["done"], I32(1), "seq_cst")
        b.branch(head)
        b.position_at_end(out)

    def spin(b, fn_, counter, name):
        """pause; every 4096 rounds give the core away (another thread of the
        team, or another process, may need it to finish)."""
        c = b.add(b.load(counter, typ=I32), I32(1))
        b.store(c, counter)
        _pause(m, b, x86)
        yes = fn_.append_basic_block(f"{name}.yield")
        after = fn_.append_basic_block(f"{name}.spun")
        b.cbranch(b.icmp_unsigned("==", b.and_(c, I32(4095)), I32(0)), yes, after)
        b.position_at_end(yes)
        b.call(sched_yield, [])
        b.branch(after)
        b.position_at_end(after)

    # split(m, n, k, parts, out): the block count of a column-major m x n x k
    # product (1: no split), its axis and block size in out[0], out[1]. The
    # one statement of the rule: the dispatchers call it, and so does
    # team.blocks() through ctypes.
    split_fn = ir.Function(m, ir.FunctionType(I32, [I32, I32, I32, I32, PTR]),
                           name="symnet_team_split")
    sm, sn, sk, sparts, sout = split_fn.args
    b = ir.IRBuilder(split_fn.append_basic_block("entry"))
    work = b.mul(b.mul(b.sext(sm, I64), b.sext(sn, I64)), b.sext(sk, I64))
    by_n = b.icmp_signed(">=", sn, sm)  # the larger side: the other operand is packed per block
    ext = b.select(by_n, sn, sm)
    most = b.sdiv(ext, I32(MIN_BLOCK))
    count = b.select(b.icmp_signed("<", sparts, most), sparts, most)
    one = b.or_(b.icmp_signed("<", work, I64(MIN_WORK)), b.icmp_signed("<", count, I32(2)))
    count = b.select(one, I32(1), count)
    b.store(b.select(one, I32(0), b.select(by_n, I32(1), I32(0))), sout)
    size = b.select(one, sm, b.and_(b.sdiv(ext, b.select(one, I32(1), count)), I32(-16)))
    b.store(size, b.gep(sout, [I32(1)], source_etype=I32))
    b.ret(count)

    for prefix, real, esize_ in (("s", "real_s", 4), ("d", "real_d", 8)):
        f = ir.Function(m, fnty, name=f"symnet_team_{prefix}gemm")
        b = ir.IRBuilder(f.append_basic_block("entry"))
        counter = b.alloca(I32)
        b.store(I32(0), counter)
        fptr = b.load(g[real], typ=fptr_ty)
        mm, nn, kk = (b.load(f.args[j], typ=I32) for j in (2, 3, 4))
        cut = b.alloca(I32, size=2)
        cnt = b.call(split_fn, [mm, nn, kk, b.load(g["parts"], typ=I32), cut])
        direct = f.append_basic_block("direct")
        split = f.append_basic_block("split")
        b.cbranch(b.icmp_signed("<", cnt, I32(2)), direct, split)
        b.position_at_end(direct)
        b.call(fptr, list(f.args))
        b.ret_void()
        b.position_at_end(split)
        ax = b.load(cut, typ=I32)
        size = b.load(b.gep(cut, [I32(1)], source_etype=I32), typ=I32)
        ex = b.select(b.icmp_signed("==", ax, I32(1)), nn, mm)
        mine = b.icmp_unsigned("==", atomic_load(b, g["owner"], I64), b.call(pthread_self, []))
        team = f.append_basic_block("team")
        alone = f.append_basic_block("alone")
        b.cbranch(mine, team, alone)
        # Not the team's thread (or no team): the same blocks, one after another.
        b.position_at_end(alone)
        local = b.alloca(args_ty)
        for j in range(13):
            b.store(f.args[j], b.gep(local, [I64(0), I64(j)]))
        lp = Loop(b, b.sext(cnt, I64), "alone")
        b.call(run, [fptr, I64(esize_), local, ax, ex, cnt, size, b.trunc(lp.index, I32)])
        lp.close()
        b.ret_void()
        # The team's thread: publish the job, take blocks, wait for the rest.
        b.position_at_end(team)
        b.store(fptr, g["job_fn"])
        b.store(I64(esize_), g["job_esize"])
        b.store(ax, g["job_axis"])
        b.store(ex, g["job_ext"])
        b.store(cnt, g["job_count"])
        b.store(size, g["job_size"])
        for j in range(13):
            b.store(f.args[j], b.gep(g["job_args"], [I64(0), I64(j)]))
        atomic_store(b, I32(0), g["done"])
        atomic_store(b, cnt, g["remaining"])
        work_loop(b, f)
        wait_head = f.append_basic_block("wait.head")
        wait_body = f.append_basic_block("wait.body")
        wait_out = f.append_basic_block("wait.out")
        b.branch(wait_head)
        b.position_at_end(wait_head)
        b.cbranch(b.icmp_signed("<", atomic_load(b, g["done"], I32), cnt), wait_body, wait_out)
        b.position_at_end(wait_body)
        spin(b, f, counter, "wait")
        b.branch(wait_head)
        b.position_at_end(wait_out)
        b.ret_void()

    # A helper: take blocks as they are published; after symnet_team_end,
    # linger GRACE_CYCLES for the next call (a training loop makes its calls
    # back to back, and waking a sleeping thread costs more than a product).
    f = ir.Function(m, ir.FunctionType(ir.VoidType(), []), name="symnet_team_work")
    clock = _declare(m, "llvm.readcyclecounter", I64, [])
    b = ir.IRBuilder(f.append_basic_block("entry"))
    counter = b.alloca(I32)
    b.store(I32(0), counter)
    since = b.alloca(I64)
    b.store(I64(0), since)
    top = f.append_basic_block("top")
    b.branch(top)
    b.position_at_end(top)
    work_loop(b, f, helper=True)
    ending = f.append_basic_block("ending")
    idle = f.append_basic_block("idle")
    live = f.append_basic_block("live")
    stop = f.append_basic_block("stop")
    b.cbranch(b.icmp_unsigned("!=", atomic_load(b, g["quit"], I32), I32(0)), ending, live)
    b.position_at_end(live)
    b.store(I64(0), since)
    b.branch(idle)
    b.position_at_end(ending)
    now = b.call(clock, [])
    t0 = b.load(since, typ=I64)
    first = b.icmp_unsigned("==", t0, I64(0))
    b.store(b.select(first, now, t0), since)
    late = b.icmp_unsigned(">", b.sub(now, t0), I64(GRACE_CYCLES))
    b.cbranch(b.and_(b.not_(first), late), stop, idle)
    b.position_at_end(idle)
    spin(b, f, counter, "idle")
    b.branch(top)
    b.position_at_end(stop)
    b.ret_void()

    f = ir.Function(m, ir.FunctionType(ir.VoidType(), [I64]), name="symnet_team_begin")
    b = ir.IRBuilder(f.append_basic_block("entry"))
    atomic_store(b, I32(0), g["quit"])
    atomic_store(b, f.args[0], g["owner"])
    b.ret_void()
    f = ir.Function(m, ir.FunctionType(ir.VoidType(), []), name="symnet_team_end")
    b = ir.IRBuilder(f.append_basic_block("entry"))
    atomic_store(b, I64(0), g["owner"])
    atomic_store(b, I32(1), g["quit"])
    b.ret_void()
    f = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR, PTR, I32]), name="symnet_team_set")
    b = ir.IRBuilder(f.append_basic_block("entry"))
    b.store(f.args[0], g["real_s"])
    b.store(f.args[1], g["real_d"])
    b.store(f.args[2], g["parts"])
    b.ret_void()
    f = ir.Function(m, ir.FunctionType(I64, []), name="symnet_team_helped")
    b = ir.IRBuilder(f.append_basic_block("entry"))
    b.ret(atomic_load(b, g["helped"], I64))
    return str(m)
