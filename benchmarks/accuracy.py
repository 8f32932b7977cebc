"""Measured accuracy of every registry row's LLVM form; writes ``symnet/registry/accuracy.py``.

    python benchmarks/accuracy.py             # measure every row, rewrite the data module
    python benchmarks/accuracy.py --dry-run   # measure and print, write nothing

Each row is measured through symnet's own compiled LLVM kernels
(``symnet.compile([f(x)], [x], backend="llvm", dtype=...)`` on 1-D point
arrays) over the row's ``domain``:

* float64 against mpmath at 113 bits, rounded once: the correctly rounded
  result, on 20,000 points (uniform, plus log-spaced magnitudes where the
  domain holds 0);
* float32 against the float64 evaluation rounded once to float32 (within a
  hair of correctly rounded) on a sweep of every 2**12-th float32 in the
  domain plus 200,000 uniform points.

The error is the distance in ulp from the correctly rounded result, so 0
("exact") means every value came out correctly rounded.  A row is measured
on a probe that isolates its own form: the head applied to x for most rows,
the row's example for heads with more arguments, and a short list below for
the rest (relations inside a Piecewise, Pow by its forms, ...).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import mpmath as mp
import numpy as np
import sympy as sp
from sympy.codegen.cfunctions import exp2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import symnet  # noqa: E402
from symnet import heads, registry  # noqa: E402

OUT = ROOT / "symnet" / "registry" / "accuracy.py"
X = sp.Symbol("x", real=True)
Y = sp.Symbol("y", real=True)
#: re and im keep their argument only when it is not declared real.
W = sp.Symbol("w")
#: Points per probe (float64, uniform + log-spaced) and the float32 sweep stride.
FULL = {"n64": 16_000, "n_small": 4_000, "n32": 200_000, "stride": 1 << 12}
#: The sample of the accuracy test: a subset of FULL's (prefixes of the same
#: random streams, every 64th point of the sweep), so it cannot find more.
QUICK = {"n64": 300, "n_small": 100, "n32": 2_000, "stride": 1 << 18}
MP_PREC = 113

Probe = tuple[sp.Expr, tuple[sp.Symbol, ...]]


def _one(e: sp.Expr) -> list[Probe]:
    return [(e, (X,))]


def _in_piecewise(cond: sp.Basic) -> list[Probe]:
    return _one(sp.Piecewise((X, cond), (-X, True)))


PROBES: dict[str, list[Probe]] = {
    "StrictLessThan": _in_piecewise(X < sp.Rational(1, 2)),
    "LessThan": _in_piecewise(X <= sp.Rational(1, 2)),
    "StrictGreaterThan": _in_piecewise(X > sp.Rational(1, 2)),
    "GreaterThan": _in_piecewise(X >= sp.Rational(1, 2)),
    "Equality": _in_piecewise(sp.Eq(X, sp.Rational(1, 2))),
    "Unequality": _in_piecewise(sp.Ne(X, sp.Rational(1, 2))),
    "And": _in_piecewise(sp.And(X > -1, X < 1)),
    "Or": _in_piecewise(sp.Or(X < -1, X > 1)),
    "Not": _in_piecewise(sp.Not(X > 1)),
    "Piecewise": _one(sp.Piecewise((X, X > 0), (X / 4, True))),
    "Pow": [(e, (X,)) for e in (X**3, sp.sqrt(X), 1 / sp.sqrt(X), X ** sp.Rational(3, 2),
                                X**-2)],
    "log": _one(sp.log(X)) + _one(sp.log(1 + X)),
    "sign": _one(sp.sign(X)),
    "Heaviside": _one(sp.Heaviside(X)),
    "atan2": [(sp.atan2(Y, X), (Y, X))],
    "Mod": _one(sp.Mod(X, sp.Rational(7, 4))),
    "floor": _one(sp.floor(X)),
    "ceiling": _one(sp.ceiling(X)),
    "polygamma": _one(sp.polygamma(0, X)) + _one(sp.polygamma(1, X)),
    "re": [(sp.re(W), (W,))],
    "im": [(sp.im(W), (W,))],
}
#: Short notes for the table, beyond the sampled domain.
NOTES: dict[str, str] = {
    "sin": "NaN beyond ±2^20·π (f64), ±2^29·π (f32)",
    "cos": "NaN beyond ±2^20·π (f64), ±2^29·π (f32)",
    "tan": "NaN beyond ±2^20·π (f64), ±2^29·π (f32)",
    "Pow": "x^3, √x, 1/√x, x^(3/2), x^-2",
    "log": "log(x), log(1 + x)",
    "polygamma": "orders 0 and 1",
    "sinh": "by expm1, no cancellation near 0",
}
COLUMN_DOMAIN = (-3.0, 3.0)
COLUMN_ROWS = 8


def probes(row: registry.Op) -> list[Probe]:
    if row.name in PROBES:
        return PROBES[row.name]
    if row.example is None:
        return []
    return _one(row.example(X))


def _elementary(e: sp.Expr) -> sp.Expr:
    """e with symnet's heads (and exp2) in elementary SymPy, for lambdify."""
    e = e.replace(exp2, lambda a: 2**a)
    for head, target in [(heads.logistic, sp.exp), (heads.softplus, sp.log),
                         (heads.maxout, sp.Max)]:
        e = e.replace(head, lambda *a, h=head, t=target: h(*a).rewrite(t))
    for head in (heads.relu, heads.leaky_relu, heads.prelu, heads.hard_logistic,
                 heads.hard_tanh):
        e = e.replace(head, lambda *a, h=head: h(*a).rewrite(sp.Piecewise))
    return e


# ----------------------------------------------------------------- sampling and errors


def _ordinal(a: np.ndarray) -> np.ndarray:
    itype = np.int64 if a.dtype == np.float64 else np.int32
    i = a.view(itype).astype(np.int64)
    return np.where(i < 0, np.iinfo(itype).min - i, i)


def ulp_error(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Representable values between got and want (NaN matches NaN only)."""
    d = np.abs(_ordinal(got) - _ordinal(want)).astype(np.float64)
    d[np.isnan(got) & np.isnan(want)] = 0.0
    d[np.isnan(got) != np.isnan(want)] = np.inf
    return d


def points(domain: tuple[float, float], dtype: str, size: dict[str, int], k: int = 0) -> np.ndarray:
    """Sample points of the domain for input k of a probe (deterministic)."""
    lo, hi = domain
    seed = 1000 * k + round(1000 * (lo + 2 * hi)) % 997
    uni = np.random.default_rng(seed).uniform(lo, hi, size["n64"])
    parts = [uni]
    if lo < 0 < hi:
        # Small magnitudes, where relative errors show first.
        rng = np.random.default_rng(seed + 1)
        mag = np.exp2(rng.uniform(-40.0, math.log2(min(-lo, hi)), size["n_small"]))
        parts.append(mag * rng.choice([-1.0, 1.0], size["n_small"]))
    if dtype == "float32":
        parts.append(np.random.default_rng(seed + 2).uniform(lo, hi, size["n32"]))
        stride = size["stride"]
        bits = np.arange(0, 1 << 32, stride, dtype=np.uint64).astype(np.uint32)
        with np.errstate(invalid="ignore"):  # signalling NaN patterns
            sweep = bits.view(np.float32).astype(np.float64)
        parts.append(sweep[(sweep > lo) & (sweep < hi)])
    return np.concatenate(parts).astype(dtype)


def _reference64(expr: sp.Expr, syms: Sequence[sp.Symbol],
                 cols: Sequence[np.ndarray]) -> np.ndarray:
    f = sp.lambdify(syms, _elementary(expr), modules="mpmath")
    out = np.empty(cols[0].shape)
    with mp.workprec(MP_PREC):
        for i, vals in enumerate(zip(*(c.tolist() for c in cols), strict=True)):
            try:
                r = f(*(mp.mpf(v) for v in vals))
            except (ValueError, ZeroDivisionError):
                r = mp.nan
            out[i] = np.nan if isinstance(r, mp.mpc) else float(r)
    return out


def _reference32(expr: sp.Expr, syms: Sequence[sp.Symbol],
                 cols: Sequence[np.ndarray]) -> np.ndarray:
    f = sp.lambdify(syms, _elementary(expr), modules=["numpy", "scipy"])
    with np.errstate(all="ignore"):
        r = np.asarray(f(*(c.astype(np.float64) for c in cols)), dtype=np.float64)
    return np.broadcast_to(r, cols[0].shape).astype(np.float32)


def measure_probe(probe: Probe, domain: tuple[float, float], dtype: str,
                  size: dict[str, int]) -> float:
    """Max ulp error of the compiled LLVM kernel of one probe expression."""
    expr, syms = probe
    cols = [points(domain, dtype, size, k) for k in range(len(syms))]
    # Rounding to the dtype can land on an endpoint: keep the domain open
    # (one mask for all inputs, so that points stay paired).
    lo, hi = domain
    inside = np.logical_and.reduce([(c > lo) & (c < hi) for c in cols])
    cols = [c[inside] for c in cols]
    n = cols[0].size
    kernel = symnet.compile([expr], list(syms), backend="llvm", dtype=dtype)
    got = np.broadcast_to(np.asarray(kernel(*cols)[0]), (n,)).astype(dtype)
    want = (_reference64 if dtype == "float64" else _reference32)(expr, syms, cols)
    return float(ulp_error(got, want).max())


def measure_row(row: registry.Op, dtype: str, size: dict[str, int]) -> float | None:
    ps = probes(row)
    if not ps:
        return None
    return max(measure_probe(p, row.domain, dtype, size) for p in ps)


def _column_reference(op: str, z: np.ndarray) -> np.ndarray:
    out = []
    with mp.workprec(MP_PREC):
        for col in z.T.tolist():
            zs = [mp.mpf(v) for v in col]
            lse = mp.log(mp.fsum(mp.exp(v) for v in zs))
            if op == "logsumexp":
                out.append([float(lse)])
            elif op == "softmax":
                out.append([float(mp.exp(v - lse)) for v in zs])
            else:
                out.append([float(v - lse) for v in zs])
    return np.array(out).T


def measure_column(op: str, dtype: str, size: dict[str, int]) -> float:
    """Max ulp error of a column op on 8-row columns of uniform entries."""
    cols = max(size["n64"] // COLUMN_ROWS, 8)
    z = np.random.default_rng(7).uniform(*COLUMN_DOMAIN, (COLUMN_ROWS, cols)).astype(dtype)
    row = registry.column_row(op)
    Z = sp.MatrixSymbol("Z", COLUMN_ROWS, cols)
    kernel = symnet.compile([row.head(Z)], [Z], backend="llvm", dtype=dtype)
    got = np.asarray(kernel(z)[0], dtype=dtype)
    want = _column_reference(op, z.astype(np.float64)).astype(dtype)
    return float(ulp_error(got, want).max())


# ----------------------------------------------------------------- the data module


def _fmt(v: float) -> str:
    return "math.inf" if math.isinf(v) else repr(int(v))


def _domain_note(name: str, domain: tuple[float, float]) -> str:
    lo, hi = (f"{v:g}" for v in domain)
    note = f"on ({lo}, {hi})"
    return f"{note}; {NOTES[name]}" if name in NOTES else note


def render(measured: dict[str, tuple[float, float, str]], stamp: str) -> str:
    lines = [
        '"""Measured accuracy of each registry row\'s LLVM form, in ulp (data).',
        "",
        "Written by ``benchmarks/accuracy.py`` -- do not edit by hand; rerun it after",
        "changing a row's LLVM form or ``symnet/backends/llvm/vecmath.py``.  The",
        "error is the largest distance, in representable values, from the correctly",
        "rounded result over the row's sampled domain (0: always correctly rounded);",
        "``tests/test_registry.py`` re-measures the routine-backed rows against it.",
        f"Last measured: {stamp}.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import math",
        "",
        '__all__ = ["ACCURACY", "describe"]',
        "",
        "#: head (or column op) name -> (max ulp in float64, in float32, where measured)",
        "ACCURACY: dict[str, tuple[float, float, str]] = {",
    ]
    for name, (e64, e32, note) in measured.items():
        lines.append(f"    {name!r}: ({_fmt(e64)}, {_fmt(e32)}, {note!r}),")
    lines += [
        "}",
        "",
        "",
        "def _ulp(v: float) -> str:",
        '    if v == 0:',
        '        return "exact"',
        "    if math.isinf(v):",
        '        return "unbounded"',
        "    if v >= 1000:",
        '        return f"≤ 2^{math.ceil(math.log2(v))} ulp"',
        '    return f"≤ {int(v)} ulp"',
        "",
        "",
        "def describe(name: str) -> str:",
        '    """The support table\'s accuracy cell of a row.',
        "",
        "    >>> describe(\"Abs\")",
        "    'exact'",
        '    """',
        "    if name not in ACCURACY:",
        '        return "not measured"',
        "    e64, e32, note = ACCURACY[name]",
        "    if e64 == e32 == 0:",
        '        return "exact"',
        '    return f"{_ulp(e64)} (f64), {_ulp(e32)} (f32) {note}"',
        "",
    ]
    return "\n".join(lines)


def measure_all(size: dict[str, int], log: Callable[[str], None] = print) -> dict:
    measured: dict[str, tuple[float, float, str]] = {}
    for row in registry.rows():
        t = time.perf_counter()
        e64 = measure_row(row, "float64", size)
        if e64 is None:
            log(f"{row.name:18s} no probe, skipped")
            continue
        e32 = measure_row(row, "float32", size)
        measured[row.name] = (e64, e32, _domain_note(row.name, row.domain))
        log(f"{row.name:18s} f64 {e64:>8g}  f32 {e32:>8g}  ({time.perf_counter() - t:.1f} s)")
    for c in registry.COLUMN_ROWS:
        e64, e32 = (measure_column(c.op, d, size) for d in ("float64", "float32"))
        lo, hi = (f"{v:g}" for v in COLUMN_DOMAIN)
        measured[c.op] = (e64, e32, f"on {COLUMN_ROWS}-entry columns in ({lo}, {hi})")
        log(f"{c.op:18s} f64 {e64:>8g}  f32 {e32:>8g}")
    return measured


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print only, do not write")
    args = ap.parse_args(argv)
    measured = measure_all(FULL)
    if not args.dry_run:
        stamp = time.strftime("%Y-%m-%d")
        OUT.write_text(render(measured, stamp))
        print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
