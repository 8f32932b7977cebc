"""Self-checks of the hand-written reference MLP (tests/reference.py) via finite differences."""

import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

# The reference lives next to this file and must not depend on symnet; import it by location
# so this works whether or not tests/ is a package.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference as ref
from reference import Layer

HEADS = [
    ("softmax", "cross_entropy"),
    ("logistic", "binary_cross_entropy"),
    ("linear", "squared_error"),
    ("logistic", "squared_error"),
]
ELEMENTWISE = [a for a in ref.HIDDEN_ACTIVATIONS if a != "maxout"] + ["linear"]
# Distance from a kink below which a ±1e-6 parameter nudge could cross it.
KINK_MARGIN = 1e-4
TOL = 1e-6


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(1e-8, np.linalg.norm(a) + np.linalg.norm(b)))


def paired_arrays(
    analytic: list[dict], numeric: list[dict]
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Flatten two gradient structures into (name, a, n) triples, asserting equal structure."""
    assert len(analytic) == len(numeric)
    out = []
    for l, (ga, gn) in enumerate(zip(analytic, numeric, strict=True), start=1):  # noqa: E741
        assert list(ga) == list(gn), f"layer {l}: keys {list(ga)} vs {list(gn)}"
        for key in ga:
            a_list = ga[key] if isinstance(ga[key], list) else [ga[key]]
            n_list = gn[key] if isinstance(gn[key], list) else [gn[key]]
            assert len(a_list) == len(n_list)
            for i, (a, n) in enumerate(zip(a_list, n_list, strict=True)):
                assert np.shape(a) == np.shape(n), f"{key}{l}[{i}]"
                out.append((f"{key}{l}[{i}]", a, n))
    return out


def pre_activations(layers: list[Layer], X: np.ndarray) -> list[np.ndarray | list[np.ndarray]]:
    """Z_l recomputed from the public forward(), not from the reference's internals."""
    As = ref.forward(layers, X)
    Zs: list[np.ndarray | list[np.ndarray]] = []
    for layer, A_prev in zip(layers, As[:-1], strict=True):
        if isinstance(layer.W, list):
            Zs.append([W @ A_prev + b for W, b in zip(layer.W, layer.b, strict=True)])
        else:
            Zs.append(layer.W @ A_prev + layer.b)
    return Zs


def well_posed(layers: list[Layer], X: np.ndarray) -> bool:
    """No pre-activation near a kink (FD would be meaningless); hidden layers have live units."""
    for layer, Z in zip(layers[:-1], pre_activations(layers, X), strict=False):
        if layer.act == "maxout":
            top2 = np.sort(np.stack(Z), axis=0)[-2:]
            if np.min(top2[1] - top2[0]) < KINK_MARGIN:
                return False
            continue
        kinks = {
            "relu": [0.0],
            "leaky_relu": [0.0],
            "prelu": [0.0],
            "hard_tanh": [-1.0, 1.0],
            "hard_logistic": [-2.0, 2.0],
        }.get(layer.act, [])
        if any(np.min(np.abs(Z - k)) < KINK_MARGIN for k in kinks):
            return False
        # Require some units in a steep region so gradients through the layer are not all ~0.
        if not np.any(ref.activation_grad(layer.act, Z, layer.gamma) > 0.2):
            return False
    return True


def targets(out: str, loss: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    n, m = shape
    if loss == "cross_entropy":
        return np.eye(n)[:, rng.integers(0, n, size=m)]
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, size=shape).astype(np.float64)
    if out == "logistic":
        return rng.uniform(0.0, 1.0, size=shape)
    return rng.normal(size=shape)


def make_problem(hidden: str, out: str, loss: str, depth: int, m: int, seed: int):
    sizes = [3] + [4] * depth + [3]
    for attempt in range(50):
        rng = np.random.default_rng(seed + attempt)
        layers = ref.init_layers(sizes, [hidden] * depth + [out], rng)
        X = rng.normal(size=(sizes[0], m))
        if well_posed(layers, X):
            return layers, X, targets(out, loss, (sizes[-1], m), rng)
    raise AssertionError("could not draw a problem away from kinks")


def stable_seed(*parts: object) -> int:
    # hash() of a str is salted per process; crc32 keeps the drawn problems reproducible.
    return zlib.crc32(repr(parts).encode())


# ---------------------------------------------------------------------------
# The main gradient check: every hidden activation × head × depth × batch × λ
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.0, 0.1])
@pytest.mark.parametrize("m", [1, 5])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize(("out", "loss"), HEADS)
@pytest.mark.parametrize("hidden", ref.HIDDEN_ACTIVATIONS)
def test_backprop_matches_central_differences(hidden, out, loss, depth, m, lam):
    layers, X, Y = make_problem(
        hidden, out, loss, depth, m, stable_seed(hidden, out, loss, depth, m)
    )
    value, grads = ref.risk_and_grads(layers, X, Y, loss, lam)
    numeric = ref.numerical_grads(layers, X, Y, loss, lam)

    assert np.isfinite(value)
    assert value == pytest.approx(ref.risk(layers, X, Y, loss, lam), rel=1e-14)
    pairs = paired_arrays(grads, numeric)
    expected_keys = {"W", "b", "gamma"} if hidden == "prelu" else {"W", "b"}
    assert all(set(g) == expected_keys for g in grads[:-1]) and set(grads[-1]) == {"W", "b"}
    for name, a, n in pairs:
        assert rel_error(a, n) <= TOL, f"{name}: rel error {rel_error(a, n):.2e}"
    # The first layer's weights must actually receive gradient, or the check above is vacuous.
    first_W = grads[0]["W"] if isinstance(grads[0]["W"], list) else [grads[0]["W"]]
    assert max(np.linalg.norm(g) for g in first_W) > 1e-6


# ---------------------------------------------------------------------------
# Activations and kink conventions
# ---------------------------------------------------------------------------


def test_activation_values():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(ref.activation("logistic", x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(ref.activation("tanh", x), np.tanh(x))
    np.testing.assert_allclose(ref.activation("hard_logistic", x), [0.0, 0.25, 0.5, 0.625, 1.0])
    np.testing.assert_allclose(ref.activation("hard_tanh", x), [-1.0, -1.0, 0.0, 0.5, 1.0])
    np.testing.assert_allclose(ref.activation("relu", x), [0.0, 0.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(ref.activation("leaky_relu", x), [-0.03, -0.01, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(ref.activation("leaky_relu", x, 0.2), [-0.6, -0.2, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(ref.activation("softplus", x), np.log1p(np.exp(x)), rtol=1e-14)
    np.testing.assert_allclose(ref.activation("linear", x), x)
    # prelu's γ is per neuron (rows), broadcast over sample columns.
    g = np.array([[0.1], [0.3]])
    np.testing.assert_allclose(
        ref.activation("prelu", np.array([[-1.0, 2.0], [-2.0, -0.5]]), g),
        [[-0.1, 2.0], [-0.6, -0.15]],
    )
    z = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    s = ref.activation("softmax", z)
    np.testing.assert_allclose(s.sum(axis=0), [1.0, 1.0])
    np.testing.assert_allclose(s[:, 0], np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum())
    np.testing.assert_allclose(s[:, 1], [1 / 3] * 3)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_activation_grad_matches_finite_differences(name):
    rng = np.random.default_rng(stable_seed("act", name))
    x = rng.uniform(-3.0, 3.0, size=200)
    # Keep away from every kink so the two-sided difference is valid.
    x = x[np.min(np.abs(x[:, None] - np.array([-2.0, -1.0, 0.0, 1.0, 2.0])), axis=1) > 1e-3]
    gamma = 0.2 if name == "leaky_relu" else (np.full_like(x, 0.15) if name == "prelu" else None)
    eps = 1e-6
    fd = (ref.activation(name, x + eps, gamma) - ref.activation(name, x - eps, gamma)) / (2 * eps)
    np.testing.assert_allclose(ref.activation_grad(name, x, gamma), fd, rtol=1e-7, atol=1e-8)


def test_kink_conventions():
    assert ref.activation_grad("relu", np.array(0.0)) == 0.0
    np.testing.assert_array_equal(
        ref.activation_grad("hard_tanh", np.array([-1.0, 1.0])), [0.0, 0.0]
    )
    np.testing.assert_array_equal(
        ref.activation_grad("hard_tanh", np.array([-0.999, 0.999])), [1.0, 1.0]
    )
    np.testing.assert_array_equal(
        ref.activation_grad("hard_logistic", np.array([-2.0, 2.0])), [0.0, 0.0]
    )
    np.testing.assert_array_equal(
        ref.activation_grad("hard_logistic", np.array([-1.999, 1.999])), [0.25, 0.25]
    )
    assert ref.activation_grad("leaky_relu", np.array(0.0)) == pytest.approx(0.01)
    assert ref.activation_grad("leaky_relu", np.array(0.0), 0.2) == pytest.approx(0.2)
    np.testing.assert_allclose(
        ref.activation_grad("prelu", np.zeros((2, 3)), np.array([[0.1], [0.25]])),
        [[0.1] * 3, [0.25] * 3],
    )


def test_prelu_gradients_by_hand():
    # Hidden prelu layer with W = 0 so Z = b = [-1, 0, 2], identity linear output,
    # so R = ½‖prelu(b) − 1‖².
    b = np.array([[-1.0], [0.0], [2.0]])
    gamma = np.full((3, 1), 0.2)
    layers = [
        Layer("prelu", np.zeros((3, 2)), b, gamma),
        Layer("linear", np.eye(3), np.zeros((3, 1))),
    ]
    X, Y = np.array([[0.7], [-0.4]]), np.ones((3, 1))
    value, grads = ref.risk_and_grads(layers, X, Y, "squared_error")
    dA = np.array([[-1.2], [-1.0], [1.0]])  # prelu(b) − Y = [-0.2, 0, 2] − 1
    assert value == pytest.approx(0.5 * float(np.sum(dA**2)))
    # ∂/∂x at 0 is γ (so the middle entry is −1·0.2); ∂/∂γ = min(x, 0).
    np.testing.assert_allclose(grads[0]["b"], [[-0.24], [-0.2], [1.0]])
    np.testing.assert_allclose(grads[0]["gamma"], [[1.2], [0.0], [0.0]])
    np.testing.assert_allclose(grads[0]["W"], np.array([[-0.24], [-0.2], [1.0]]) @ X.T)


def test_maxout_tie_goes_to_first_piece():
    rng = np.random.default_rng(7)
    W, b = rng.normal(size=(4, 3)), rng.normal(size=(4, 1))
    out = Layer("linear", rng.normal(size=(2, 4)), rng.normal(size=(2, 1)))
    X, Y = rng.normal(size=(3, 5)), rng.normal(size=(2, 5))
    # Identical pieces tie everywhere; only piece 0 may receive gradient.
    tied = [Layer("maxout", [W.copy(), W.copy()], [b.copy(), b.copy()]), out]
    _, grads = ref.risk_and_grads(tied, X, Y, "squared_error")
    np.testing.assert_array_equal(grads[0]["W"][1], 0.0)
    np.testing.assert_array_equal(grads[0]["b"][1], 0.0)
    # Piece 0 then behaves exactly like a plain linear hidden layer.
    _, plain = ref.risk_and_grads([Layer("linear", W, b), out], X, Y, "squared_error")
    np.testing.assert_allclose(grads[0]["W"][0], plain[0]["W"], rtol=1e-14)
    np.testing.assert_allclose(grads[0]["b"][0], plain[0]["b"], rtol=1e-14)
    assert np.linalg.norm(grads[0]["W"][0]) > 0

    # A tie in a single row only: that row goes to piece 0, the others to the real winner.
    W2, b2 = W.copy(), b.copy()
    W2[1:] += 10.0 * np.abs(W[1:]).max()  # make piece 1 win rows 1..3 for positive inputs
    Xpos = np.abs(X) + 0.1
    _, grads = ref.risk_and_grads(
        [Layer("maxout", [W, W2], [b, b2]), out], Xpos, Y, "squared_error"
    )
    np.testing.assert_array_equal(grads[0]["b"][1][0], 0.0)
    np.testing.assert_array_equal(grads[0]["b"][0][1:], 0.0)
    assert grads[0]["b"][0][0, 0] != 0.0 and np.all(grads[0]["b"][1][1:] != 0.0)


def test_maxout_forward_is_elementwise_max():
    rng = np.random.default_rng(3)
    Ws, bs = (
        [rng.normal(size=(4, 3)) for _ in range(3)],
        [rng.normal(size=(4, 1)) for _ in range(3)],
    )
    X = rng.normal(size=(3, 6))
    layers = [Layer("maxout", Ws, bs), Layer("linear", np.eye(4), np.zeros((4, 1)))]
    As = ref.forward(layers, X)
    np.testing.assert_allclose(
        As[1], np.max([W @ X + b for W, b in zip(Ws, bs, strict=True)], axis=0)
    )


# ---------------------------------------------------------------------------
# Numerical stability at extreme logits
# ---------------------------------------------------------------------------


@pytest.fixture
def strict_fp():
    # Overflow / invalid / divide-by-zero must not happen at all (underflow to 0 is expected).
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        yield


def test_softmax_cross_entropy_at_extreme_logits(strict_fp):
    layers = [Layer("softmax", np.array([[800.0], [-800.0], [0.0]]), np.zeros((3, 1)))]
    X = np.array([[1.0, 1.0]])
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])  # column 0 is badly wrong, column 1 right
    value, grads = ref.risk_and_grads(layers, X, Y, "cross_entropy")
    assert value == pytest.approx((1600.0 + 0.0) / 2, rel=1e-12)
    # dZ = (Ŷ − Y)/m with Ŷ = [1, 0, 0] in both columns.
    np.testing.assert_allclose(grads[0]["b"], [[0.5], [-0.5], [0.0]], atol=1e-300)
    assert all(np.all(np.isfinite(g)) for g in (grads[0]["W"], grads[0]["b"]))
    assert np.all(np.isfinite(ref.forward(layers, X)[-1]))


def test_logistic_bce_at_extreme_logits(strict_fp):
    layers = [Layer("logistic", np.array([[800.0], [-800.0]]), np.zeros((2, 1)))]
    X = np.array([[1.0]])
    value, grads = ref.risk_and_grads(layers, X, np.array([[0.0], [1.0]]), "binary_cross_entropy")
    assert value == pytest.approx(1600.0, rel=1e-12)
    np.testing.assert_allclose(grads[0]["b"], [[1.0], [-1.0]])
    value, grads = ref.risk_and_grads(layers, X, np.array([[1.0], [0.0]]), "binary_cross_entropy")
    assert value == pytest.approx(0.0, abs=1e-300)
    np.testing.assert_allclose(grads[0]["b"], [[0.0], [0.0]], atol=1e-300)
    np.testing.assert_array_equal(ref.forward(layers, X)[-1], [[1.0], [0.0]])


def test_softplus_and_logistic_at_extremes(strict_fp):
    x = np.array([-800.0, 800.0])
    np.testing.assert_array_equal(ref.activation("softplus", x), [0.0, 800.0])
    np.testing.assert_array_equal(ref.activation_grad("softplus", x), [0.0, 1.0])
    np.testing.assert_array_equal(ref.activation("logistic", x), [0.0, 1.0])
    np.testing.assert_array_equal(ref.activation_grad("logistic", x), [0.0, 0.0])
    # Through a network: a softplus hidden layer fed ±800 pre-activations.
    layers = [
        Layer("softplus", np.array([[800.0], [-800.0]]), np.zeros((2, 1))),
        Layer("linear", np.array([[1.0, 1.0]]), np.zeros((1, 1))),
    ]
    value, grads = ref.risk_and_grads(
        layers, np.array([[1.0]]), np.array([[799.0]]), "squared_error"
    )
    assert value == pytest.approx(0.5)
    np.testing.assert_allclose(grads[0]["b"], [[1.0], [0.0]])
    assert all(np.all(np.isfinite(g[k])) for g in grads for k in g)


# ---------------------------------------------------------------------------
# Regularisation, structure and API behaviour
# ---------------------------------------------------------------------------


def test_biases_and_gamma_are_not_penalized():
    rng = np.random.default_rng(11)
    layers = ref.init_layers([3, 4, 4, 2], ["prelu", "maxout", "softmax"], rng, k=3)
    X, Y = rng.normal(size=(3, 5)), np.eye(2)[:, rng.integers(0, 2, size=5)]
    r0, g0 = ref.risk_and_grads(layers, X, Y, "cross_entropy", lam=0.0)
    r1, g1 = ref.risk_and_grads(layers, X, Y, "cross_entropy", lam=0.7)
    weights = [layers[0].W, *layers[1].W, layers[2].W]
    assert r1 - r0 == pytest.approx(0.35 * sum(float(np.sum(W**2)) for W in weights), rel=1e-12)
    np.testing.assert_array_equal(g1[0]["b"], g0[0]["b"])
    np.testing.assert_array_equal(g1[0]["gamma"], g0[0]["gamma"])
    for i in range(3):
        np.testing.assert_array_equal(g1[1]["b"][i], g0[1]["b"][i])
        np.testing.assert_allclose(g1[1]["W"][i], g0[1]["W"][i] + 0.7 * layers[1].W[i], rtol=1e-13)
    np.testing.assert_array_equal(g1[2]["b"], g0[2]["b"])
    np.testing.assert_allclose(g1[0]["W"], g0[0]["W"] + 0.7 * layers[0].W, rtol=1e-13)
    np.testing.assert_allclose(g1[2]["W"], g0[2]["W"] + 0.7 * layers[2].W, rtol=1e-13)


def test_softmax_cross_entropy_output_delta():
    # One layer, so ∂R/∂b = Σ_columns (Ŷ − Y)/m directly.
    rng = np.random.default_rng(5)
    layers = ref.init_layers([3, 4], ["softmax"], rng)
    X, Y = rng.normal(size=(3, 6)), np.eye(4)[:, rng.integers(0, 4, size=6)]
    Yhat = ref.forward(layers, X)[-1]
    value, grads = ref.risk_and_grads(layers, X, Y, "cross_entropy")
    assert value == pytest.approx(-np.mean(np.sum(Y * np.log(Yhat), axis=0)), rel=1e-13)
    np.testing.assert_allclose(
        grads[0]["b"], ((Yhat - Y) / 6).sum(axis=1, keepdims=True), atol=1e-15
    )
    np.testing.assert_allclose(grads[0]["W"], (Yhat - Y) / 6 @ X.T, atol=1e-15)


def test_forward_shapes_and_init():
    rng = np.random.default_rng(2)
    sizes = [5, 7, 6, 3]
    layers = ref.init_layers(sizes, ["maxout", "prelu", "logistic"], rng, k=4)
    X = rng.normal(size=(5, 9))
    As = ref.forward(layers, X)
    assert len(As) == 4
    np.testing.assert_array_equal(As[0], X)
    assert [A.shape for A in As] == [(n, 9) for n in sizes]
    assert len(layers[0].W) == 4 and all(W.shape == (7, 5) for W in layers[0].W)
    assert all(b.shape == (7, 1) and np.all(b != 0) for b in layers[0].b)
    assert layers[1].gamma.shape == (6, 1) and np.all(
        (layers[1].gamma >= 0.05) & (layers[1].gamma <= 0.3)
    )
    assert layers[2].W.shape == (3, 6) and layers[2].b.shape == (3, 1) and np.all(layers[2].b != 0)


def test_init_weight_scale_is_one_over_fan_in():
    layers = ref.init_layers([400, 300], ["linear"], np.random.default_rng(0))
    assert np.var(layers[0].W) == pytest.approx(1 / 400, rel=0.02)


def test_numerical_grads_leave_parameters_untouched():
    rng = np.random.default_rng(9)
    layers = ref.init_layers([2, 3, 2], ["prelu", "linear"], rng)
    before = [(layer.W.copy(), layer.b.copy()) for layer in layers]
    gamma = layers[0].gamma.copy()
    ref.numerical_grads(
        layers, rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), "squared_error", 0.1
    )
    for layer, (W, b) in zip(layers, before, strict=True):
        np.testing.assert_array_equal(layer.W, W)
        np.testing.assert_array_equal(layer.b, b)
    np.testing.assert_array_equal(layers[0].gamma, gamma)


@pytest.mark.parametrize(
    ("out", "loss"),
    [("linear", "cross_entropy"), ("softmax", "binary_cross_entropy"), ("linear", "hinge")],
)
def test_incompatible_head_and_loss_rejected(out, loss):
    layers = ref.init_layers([2, 2], [out], np.random.default_rng(0))
    with pytest.raises(ValueError):
        ref.risk_and_grads(layers, np.ones((2, 1)), np.array([[1.0], [0.0]]), loss)


def test_unknown_activation_rejected():
    with pytest.raises(ValueError):
        ref.activation("swish", np.zeros(3))
    with pytest.raises(ValueError):
        ref.activation_grad("softmax", np.zeros((3, 1)))
