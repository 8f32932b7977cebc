"""Pipelined one-sample epochs (symnet.lower.pipeline): the next sample's first
product computed inside this sample's update, checked against hand-written SGD
(tests/reference.py), the NumPy backend and the plan's own conditions."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from reference import sgd_epoch

from symnet.lower import EpochSpec, plan_kernel
from symnet.lower.pipeline import pipeline
from symnet.nn import MLP
from symnet.sgd import compile_sgd


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act", ["logistic", "tanh", "relu"])
def test_pipelined_epochs_match_hand_written_sgd(act, dtype, tmp_path, monkeypatch):
    """Random sizes (rows not a multiple of the row block included), orders
    with a sample repeated back to back, one-sample and empty epochs, in one
    shared cache: the same weights as per-sample SGD by hand and as the
    NumPy backend's epoch."""
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(11)
    lam, alpha = 1e-3, 0.15
    tol = 1e-11 if dtype == "float64" else 2e-4
    for sizes in ([5, 7, 3], [64, 32, 10], [9, 13, 4], [16, 3, 2]):
        net = MLP(sizes, act, output="softmax")
        sgds = {be: compile_sgd(net.risk(lam=lam), net.params, net.X, net.labels(),
                                backend=be, dtype=dtype, track_loss=True)
                for be in ("llvm", "numpy")}
        sgds["llvm"].compile_for(1)
        assert ".head" in sgds["llvm"].source  # the pipelined form is what runs
        n = 30
        X = rng.standard_normal((sizes[0], n)).astype(dtype)
        y = rng.integers(0, sizes[-1], n)
        start = [(0.4 * rng.standard_normal(tuple(int(d) for d in p.shape))).astype(dtype)
                 for p in net.params]
        orders = [rng.permutation(n), np.array([3, 3, 3, 7, 3]), np.array([5]),
                  np.array([], dtype=np.int64), rng.integers(0, n, 50)]
        got = {}
        for be, sgd in sgds.items():
            params = [np.ascontiguousarray(p.copy()) for p in start]
            losses = [sgd.epoch(X, y, order, 1, alpha, params) for order in orders]
            got[be] = params, losses
        want = sgd_epoch(start, X, y, np.concatenate(orders).astype(int), alpha, lam, act)
        # In float32 a relu unit whose input is within rounding of 0 may take
        # the other side under another summation order (the float64
        # reference, the NumPy backend), and the runs then part a little.
        loose = tol if dtype == "float64" else 1e-2
        cross = loose if act == "relu" else tol
        for a, b, ref in zip(got["llvm"][0], got["numpy"][0], want, strict=True):
            np.testing.assert_allclose(a, ref, rtol=loose, atol=loose)
            np.testing.assert_allclose(a, b, rtol=cross, atol=cross)
        la, lb = np.array(got["llvm"][1]), np.array(got["numpy"][1])
        assert np.isnan(la[3]) == np.isnan(lb[3])
        keep = ~np.isnan(lb)
        np.testing.assert_allclose(la[keep], lb[keep], rtol=cross)


def test_pipelined_epoch_stays_finite_at_800_scale_inputs(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMNET_CACHE_DIR", str(tmp_path))
    net = MLP([8, 6, 3], "logistic", output="softmax")
    sgd = compile_sgd(net.risk(lam=0.0), net.params, net.X, net.labels(), backend="llvm",
                      track_loss=True)
    rng = np.random.default_rng(2)
    X = 800.0 * rng.standard_normal((8, 20))
    y = rng.integers(0, 3, 20)
    params = [np.ascontiguousarray(rng.standard_normal(tuple(int(d) for d in p.shape)))
              for p in net.params]
    loss = sgd.epoch(X, y, rng.permutation(20), 1, 0.01, params)
    assert np.isfinite(loss) and all(np.isfinite(p).all() for p in params)


def _one_sample_plan(net: MLP):
    sgd = compile_sgd(net.risk(lam=1e-3), net.params, net.X, net.labels(), backend="numpy",
                      track_loss=False)
    prog = sgd.program
    spec = sgd.spec
    generic = plan_kernel(prog, inplace=spec.wanted)
    kp = plan_kernel(prog, const_dims={spec.batch: 1}, inplace=spec.wanted)
    return kp, spec, generic.buffer_names


def test_pipeline_applies_only_where_it_is_the_same_arithmetic():
    kp, spec, order = _one_sample_plan(MLP([6, 5, 3], "logistic", output="softmax"))
    one = EpochSpec(spec.x, spec.y, spec.batch, spec.loss, spec.updates, 1, any_batch=False)
    pipe = pipeline(kp, one, order)
    assert pipe is not None
    product = [g for g in kp.groups if g.op == "matmul" and spec.x in g.steps[0].args][0]
    assert [g.steps[0].out for g in pipe.head.groups] == [product.steps[0].out]
    assert product.steps[0].out not in [g.steps[0].out for g in pipe.plan.groups]
    fused = [g for g in pipe.plan.groups if g.dot_next is not None]
    assert len(fused) == 1 and fused[0].dot_next[2] == pipe.product
    # a driver that may see batches of other sizes, or batches of several samples
    assert pipeline(kp, spec, order) is None
    assert pipeline(kp, EpochSpec(spec.x, spec.y, spec.batch, spec.loss, spec.updates, 4,
                                  any_batch=False), order) is None
    # the product's buffer not in the epoch's table: it could not carry over
    assert pipeline(kp, one, [n for n in order if n != pipe.product]) is None
    # a parameter the step does not update in place
    assert pipeline(kp, EpochSpec(spec.x, spec.y, spec.batch, spec.loss, spec.updates[1:], 1,
                                  any_batch=False), order) is None


def test_a_product_read_after_the_update_is_not_pipelined():
    """If the step reads the first product after the update, the update
    cannot overwrite it with the next sample's."""
    from dataclasses import replace

    from symnet.lower import Group
    from symnet.schedule import Step

    kp, spec, order = _one_sample_plan(MLP([6, 5, 3], "logistic", output="softmax"))
    one = EpochSpec(spec.x, spec.y, spec.batch, spec.loss, spec.updates, 1, any_batch=False)
    t = pipeline(kp, one, order).product
    # A reader of the product placed after the update.
    reader = Group([Step("late", "ew", (t,), kp.shapes[t], sp.Symbol("_0") * 2,
                         (kp.shapes[t],))], ["late"])
    late = replace(kp, groups=[*kp.groups, reader], outputs=[*kp.outputs, "late"],
                   buffers=[*kp.buffers, "late"], shapes={**kp.shapes, "late": kp.shapes[t]})
    assert pipeline(late, one, order) is None
