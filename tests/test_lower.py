"""The backend-neutral lowering layer: one in-place analysis, GEMM folds, memory plan."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from symnet.graph import VARS
from symnet.lower import plan_kernel, workspace
from symnet.nn import MLP
from symnet.schedule import Program, Step
from symnet.sgd import compile_sgd

M = sp.Symbol("m", integer=True, positive=True)
SQ = (sp.S(2), sp.S(2))
ONE = (sp.S(1), sp.S(1))


def _prog(steps, outputs, inputs=("W", "g", "alpha")):
    syms = {"W": sp.MatrixSymbol("W", 2, 2), "g": sp.MatrixSymbol("g", 2, 2),
            "alpha": sp.Symbol("alpha")}
    return Program([(n, syms[n]) for n in inputs], [], steps, outputs)


UPDATE = Step("W_new", "ew", ("W", "alpha", "g"), SQ, VARS[0] - VARS[1] * VARS[2],
              (SQ, ONE, SQ))


def test_an_update_read_by_nothing_later_overwrites_its_parameter():
    kp = plan_kernel(_prog([UPDATE], ["W_new"]), inplace=[("W_new", "W")])
    assert kp.inplace == {"W_new": "W"}


def test_a_later_reader_of_the_parameter_blocks_the_overwrite():
    later = Step("u", "ew", ("W",), SQ, 2 * VARS[0], (SQ,))
    kp = plan_kernel(_prog([UPDATE, later], ["W_new", "u"]), inplace=[("W_new", "W")])
    assert kp.inplace == {}


@pytest.mark.parametrize("view", [
    Step("Wt", "transpose", ("W",), SQ, None, (SQ,)),
    Step("Wt", "ew", ("W",), SQ, VARS[0], (SQ,)),  # a renaming
])
def test_a_view_of_the_parameter_read_later_blocks_the_overwrite(view):
    # NumPy implements these as views of W: overwriting W would change them.
    reader = Step("u", "ew", ("Wt",), SQ, 2 * VARS[0], (SQ,))
    kp = plan_kernel(_prog([view, UPDATE, reader], ["W_new", "u"]), inplace=[("W_new", "W")])
    assert kp.inplace == {}


def test_an_output_sharing_the_parameters_memory_blocks_the_overwrite():
    view = Step("Wt", "transpose", ("W",), SQ, None, (SQ,))
    kp = plan_kernel(_prog([view, UPDATE], ["W_new", "Wt"]), inplace=[("W_new", "W")])
    assert kp.inplace == {}


def test_a_value_asked_for_twice_is_not_overwritten():
    kp = plan_kernel(_prog([UPDATE], ["W_new"]), inplace=[("W_new", "W"), ("W_new", "g")])
    assert kp.inplace == {}


def test_a_product_read_only_by_the_update_folds_into_one_gemm():
    A = sp.MatrixSymbol("A", 2, M)
    prog = Program([("W", sp.MatrixSymbol("W", 2, 2)), ("A", A), ("alpha", sp.Symbol("alpha"))],
                   [M], [Step("g", "matmul", ("A", "A"), SQ, (False, True), ((2, M), (2, M))),
                         Step("W_new", "ew", ("W", "alpha", "g"), SQ,
                              VARS[0] - VARS[1] * VARS[2], (SQ, ONE, SQ))], ["W_new"])
    kp = plan_kernel(prog, inplace=[("W_new", "W")])
    fold = kp.folds["g"]
    assert (fold.param, fold.alpha, fold.beta) == ("W", -VARS[1], sp.S.One)
    # With the batch fixed to one sample the product is an outer product instead.
    kp1 = plan_kernel(prog, const_dims={M: 1}, inplace=[("W_new", "W")])
    assert kp1.folds == {} and [s.op for s in kp1.steps] == ["ew", "ew"]


@pytest.mark.parametrize("sizes, act", [([5, 7, 3], "relu"), ([4, 6, 6, 2], "tanh")])
def test_the_numpy_epoch_overwrites_exactly_what_the_plan_allows(sizes, act):
    net = MLP(sizes, act)
    sgd = compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(), backend="numpy")
    spec = sgd.spec
    for one in (True, False):
        kp = plan_kernel(sgd.program, const_dims={spec.batch: 1} if one else None,
                         inplace=spec.wanted)
        body = sgd.source.split("else:")[0 if one else 1]
        in_place = {p for p, _ in spec.updates if f"{p} -= " in body}
        assert in_place <= set(kp.inplace.values())
        assert in_place, "the plan lets every update of this network run in place"


@pytest.mark.parametrize("m", [1, 3, 17])
def test_workspace_blocks_are_aligned_and_never_overlap_while_live(m):
    net = MLP([6, 9, 4], "logistic")
    sgd = compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(), backend="numpy")
    kp = plan_kernel(sgd.program, inplace=sgd.spec.wanted)
    lanes = 8
    sizes, offsets, total = workspace(kp, {M: m, sgd.spec.batch: m}, lanes)
    first, last = {}, {}
    for gi, g in enumerate(kp.groups):
        for s in g.steps:
            first.setdefault(s.out, gi)
            if s.out in kp.scratch:
                first[kp.scratch[s.out]] = last[kp.scratch[s.out]] = gi
            for a in s.args:
                last[a] = gi
    live = [n for n in offsets]
    for n in live:
        assert offsets[n] % lanes == 0
        assert offsets[n] + int(np.prod(sizes[n])) <= total
    for i, a in enumerate(live):
        for b in live[i + 1:]:
            a0, a1 = first[a], last.get(a, first[a])
            b0, b1 = first[b], last.get(b, first[b])
            if a0 <= b1 and b0 <= a1:  # live at the same time
                ea, eb = offsets[a] + int(np.prod(sizes[a])), offsets[b] + int(np.prod(sizes[b]))
                assert ea <= offsets[b] or eb <= offsets[a], (a, b)
