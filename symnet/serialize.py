"""SymPy expressions and Programs as JSON data, read back without running code.

The compile cache stores derived programs in this form (never as pickles:
unpickling a file runs whatever the file says). Reading rebuilds only
SymPy/symnet classes that are already imported, from their arguments, with
evaluation off, so what comes back is structurally the expression that was
written -- and a file that names anything else is refused.

>>> import sympy as sp
>>> x = sp.Symbol('x', positive=True)
>>> e = sp.exp(-x / 2) + sp.Float('0.1')
>>> loads(dumps(e)) == e
True
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.core.parameters import evaluate

from .errors import SerializeError
from .schedule import Program, Step

__all__ = ["SerializeError", "dumps", "loads"]


_ALLOWED_MODULES = ("sympy.", "symnet.")


# ------------------------------------------------------------------ expressions


class _Writer:
    """Expressions written once each into a table (a DAG: shared parts are
    stored and rebuilt once), referred to by index."""

    def __init__(self):
        self.table: list[dict] = []
        # Parts are matched by their type and their arguments' entries (hash
        # consing), never by SymPy's ``==``: comparing two equal deep trees
        # that are distinct objects recurses through all of their depth.
        self.index: dict[tuple, int] = {}
        self.seen: dict[int, tuple[sp.Basic, int]] = {}

    def expr(self, e: sp.Basic) -> int:
        hit = self.seen.get(id(e))
        if hit is not None:
            return hit[1]
        # Post-order with an explicit stack: an expression of any depth is
        # written without recursion, each part after its arguments.
        stack = [(e, False)]
        while stack:
            x, ready = stack.pop()
            if id(x) in self.seen:
                continue
            if not isinstance(x, sp.Basic):
                raise SerializeError(f"cannot store {x!r}: not a SymPy object")
            atom = self._atom(x)
            if not ready and not atom:
                stack.append((x, True))
                stack.extend((a, False) for a in reversed(x.args) if id(a) not in self.seen)
                continue
            key = (type(x), x) if atom else (type(x), *(self.seen[id(a)][1] for a in x.args))
            k = self.index.get(key)
            if k is None:
                k = self.index[key] = len(self.table)
                self.table.append(self._node(x))
            self.seen[id(x)] = (x, k)  # x kept alive, so its id stays unique
        return self.seen[id(e)][1]

    @staticmethod
    def _atom(e: sp.Basic) -> bool:
        return isinstance(e, (sp.Rational, sp.Float, sp.Symbol, sp.core.symbol.Str))

    def _node(self, e: sp.Basic) -> dict:
        if isinstance(e, sp.Integer):
            return {"int": str(int(e))}
        if isinstance(e, sp.Rational):
            return {"rat": [str(e.p), str(e.q)]}
        if isinstance(e, sp.Float):
            sign, man, exp, bc = e._mpf_
            return {"float": [sign, str(man), exp, bc], "prec": e._prec}
        if isinstance(e, sp.Symbol):
            if type(e) not in (sp.Symbol, sp.Dummy):
                raise SerializeError(f"cannot store the symbol {e!r} of type "
                                     f"{type(e).__name__}")
            out = {"sym": e.name, "assume": dict(sorted(e._assumptions_orig.items()))}
            if isinstance(e, sp.Dummy):
                out["dummy"] = e.dummy_index
            return out
        if isinstance(e, sp.core.symbol.Str):
            return {"str": e.name}
        args = [self.seen[id(a)][1] for a in e.args]
        if isinstance(e, AppliedUndef):
            return {"undef": type(e).__name__, "args": args}
        cls = type(e)
        node = {"cls": f"{cls.__module__}:{cls.__qualname__}", "args": args}
        if not cls.__module__.startswith(_ALLOWED_MODULES):
            # A user's own head (a registry row of theirs) is written, so it
            # is part of a kernel's identity, but never read back as code.
            node["foreign"] = True
        return node


def _class(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith(_ALLOWED_MODULES) or module not in sys.modules:
        raise SerializeError(f"refusing class {name!r}: not a loaded SymPy or symnet class")
    obj: Any = sys.modules[module]
    for part in qualname.split("."):
        if part.startswith("_"):
            raise SerializeError(f"refusing class {name!r}")
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, sp.Basic)):
        raise SerializeError(f"refusing {name!r}: not a SymPy class")
    return obj


def _int(text) -> int:
    if not isinstance(text, str) or not text.lstrip("-").isdigit() or len(text) > 4000:
        raise SerializeError(f"not an integer: {text!r}")
    return int(text)


class _Reader:
    """Rebuilds a :class:`_Writer` table, entry by entry (an entry refers only
    to earlier ones, so the data cannot describe a cycle)."""

    def __init__(self, table):
        if not isinstance(table, list):
            raise SerializeError("the expression table is not a list")
        self.built: list[sp.Basic] = []
        with evaluate(False):
            for node in table:
                self.built.append(self._build(node))

    def ref(self, k) -> sp.Basic:
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < len(self.built):
            raise SerializeError(f"bad expression reference {k!r}")
        return self.built[k]

    def _build(self, d) -> sp.Basic:
        if not isinstance(d, dict):
            raise SerializeError(f"not an expression: {d!r}")
        if "int" in d:
            return sp.Integer(_int(d["int"]))
        if "rat" in d:
            p, q = d["rat"]
            return sp.Rational(_int(p), _int(q))
        if "float" in d:
            sign, man, exp, bc = d["float"]
            if not all(isinstance(v, int) for v in (sign, exp, bc, d["prec"])):
                raise SerializeError(f"not a float: {d!r}")
            return sp.Float._new((sign, _int(man), exp, bc), d["prec"])
        if "sym" in d:
            name, assume = d["sym"], d["assume"]
            if not (isinstance(name, str) and isinstance(assume, dict)
                    and all(isinstance(v, bool) for v in assume.values())):
                raise SerializeError(f"not a symbol: {d!r}")
            if "dummy" in d:
                return sp.Dummy(name, dummy_index=d["dummy"], **assume)
            return sp.Symbol(name, **assume)
        if "str" in d:
            return sp.core.symbol.Str(str(d["str"]))
        if "undef" in d:
            return sp.Function(str(d["undef"]))(*[self.ref(a) for a in d["args"]])
        if "cls" in d:
            if d.get("foreign"):
                raise SerializeError(f"refusing {d['cls']!r}: a class outside SymPy and symnet")
            cls = _class(d["cls"])
            return cls(*[self.ref(a) for a in d["args"]])
        raise SerializeError(f"not an expression: {d!r}")


# ------------------------------------------------------------------ values

_STEP_FIELDS = tuple(f.name for f in dataclasses.fields(Step))
_PROGRAM_FIELDS = tuple(f.name for f in dataclasses.fields(Program))


def _encode(value, w: _Writer) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return {"pyfloat": repr(value)}
    if isinstance(value, str):
        return {"s": value}
    if isinstance(value, sp.Basic):
        return {"e": w.expr(value)}
    if isinstance(value, tuple):
        return {"t": [_encode(v, w) for v in value]}
    if isinstance(value, list):
        return {"l": [_encode(v, w) for v in value]}
    if isinstance(value, dict):
        items = [(_encode(k, w), _encode(v, w)) for k, v in value.items()]
        items.sort(key=lambda kv: json.dumps(kv[0], sort_keys=True))
        return {"d": [[k, v] for k, v in items]}
    if isinstance(value, Step):
        return {"step": {f: _encode(getattr(value, f), w) for f in _STEP_FIELDS}}
    if isinstance(value, Program):
        return {"program": {f: _encode(getattr(value, f), w) for f in _PROGRAM_FIELDS}}
    if isinstance(value, np.dtype):
        return {"dtype": value.str}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Written, never read back: a record of options in a kernel's identity.
        cls = type(value)
        return {"record": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: _encode(getattr(value, f.name), w)
                           for f in dataclasses.fields(value)}}
    raise SerializeError(f"cannot store {value!r} ({type(value).__name__}) as data")


def _fields(body, names: tuple[str, ...], what: str) -> dict:
    if not isinstance(body, dict) or set(body) != set(names):
        raise SerializeError(f"not a {what}: {body!r:.200}")
    return body


def _decode(data, r: _Reader) -> Any:
    if data is None or isinstance(data, bool | int):
        return data
    if not isinstance(data, dict) or len(data) != 1:
        raise SerializeError(f"not an encoded value: {data!r:.200}")
    ((tag, body),) = data.items()
    if tag == "s" and isinstance(body, str):
        return body
    if tag == "pyfloat" and isinstance(body, str):
        return float(body)
    if tag == "e":
        return r.ref(body)
    if tag == "t" and isinstance(body, list):
        return tuple(_decode(v, r) for v in body)
    if tag == "l" and isinstance(body, list):
        return [_decode(v, r) for v in body]
    if tag == "d" and isinstance(body, list):
        return {_decode(k, r): _decode(v, r) for k, v in body}
    if tag == "dtype" and isinstance(body, str):
        return np.dtype(body)
    if tag == "step":
        return Step(**{f: _decode(v, r) for f, v in _fields(body, _STEP_FIELDS, "step").items()})
    if tag == "program":
        return Program(**{f: _decode(v, r)
                          for f, v in _fields(body, _PROGRAM_FIELDS, "program").items()})
    raise SerializeError(f"not an encoded value: tag {tag!r}")


def dumps(value) -> str:
    """Canonical JSON text of a value made of SymPy objects, numbers, strings,
    tuples, lists, dicts, Steps and Programs (same value, same text: dicts
    are written in the order of their encoded keys, nothing by set order).

    >>> from symnet.api import compile
    >>> m = sp.Symbol('m', integer=True, positive=True)
    >>> W, X = sp.MatrixSymbol('W', 3, 4), sp.MatrixSymbol('X', 4, m)
    >>> p = compile([W * X], [W, X]).program
    >>> q = loads(dumps(p))
    >>> q.steps == p.steps and q.inputs == p.inputs and dumps(q) == dumps(p)
    True
    """
    w = _Writer()
    value_data = _encode(value, w)
    return json.dumps({"exprs": w.table, "value": value_data}, sort_keys=True,
                      separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """The value :func:`dumps` wrote; SerializeError for anything else."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SerializeError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"exprs", "value"}:
        raise SerializeError("not symnet data")
    try:
        return _decode(data["value"], _Reader(data["exprs"]))
    except RecursionError:
        raise SerializeError("nested too deeply") from None
    except SerializeError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise SerializeError(f"malformed data: {exc}") from None
