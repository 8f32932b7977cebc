"""Hand-written NumPy MLP forward pass and backprop: an independent oracle for symnet."""

from dataclasses import dataclass

import numpy as np

# Activations a hidden layer may use; 'maxout' is the only one that is not elementwise.
HIDDEN_ACTIVATIONS: tuple[str, ...] = (
    "logistic",
    "tanh",
    "hard_logistic",
    "hard_tanh",
    "relu",
    "leaky_relu",
    "prelu",
    "softplus",
    "maxout",
)
OUTPUT_ACTIVATIONS: tuple[str, ...] = ("softmax", "logistic", "linear")
LOSSES: tuple[str, ...] = ("cross_entropy", "binary_cross_entropy", "squared_error")
DEFAULT_LEAKY_GAMMA = 0.01

Grads = dict[str, np.ndarray | list[np.ndarray]]


@dataclass
class Layer:
    act: str  # hidden activation name or, for the last layer, 'softmax' | 'logistic' | 'linear'
    W: np.ndarray | list[np.ndarray]  # list of k matrices for maxout
    b: np.ndarray | list[np.ndarray]  # list of k (n_l, 1) biases for maxout
    # prelu: learnable (n_l, 1) array; leaky_relu: constant float (None means 0.01)
    gamma: np.ndarray | float | None = None


# ---------------------------------------------------------------------------
# Elementwise building blocks
# ---------------------------------------------------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-|x|) lies in (0, 1], so neither branch can overflow, even at |x| = 800.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: np.ndarray) -> np.ndarray:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): the exponent is never positive.
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    # Column-wise; shifting by the column max makes every exponent <= 0 (log-sum-exp trick).
    shifted = z - z.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


def _slope(name: str, gamma: np.ndarray | float | None) -> np.ndarray | float:
    """The negative-side slope γ of leaky_relu / prelu."""
    if name == "leaky_relu":
        return DEFAULT_LEAKY_GAMMA if gamma is None else gamma
    if gamma is None:
        raise ValueError("prelu needs a learnable gamma of shape (n_l, 1)")
    return np.asarray(gamma, dtype=np.float64)


def activation(name: str, x: np.ndarray, gamma: np.ndarray | float | None = None) -> np.ndarray:
    """f(x) for an elementwise activation ('softmax' works column-wise)."""
    x = np.asarray(x, dtype=np.float64)
    match name:
        case "logistic":
            return _sigmoid(x)
        case "tanh":
            return np.tanh(x)
        case "hard_logistic":
            return np.clip(0.25 * x + 0.5, 0.0, 1.0)
        case "hard_tanh":
            return np.clip(x, -1.0, 1.0)
        case "relu":
            return np.maximum(x, 0.0)
        case "leaky_relu" | "prelu":
            return np.where(x > 0, x, _slope(name, gamma) * x)
        case "softplus":
            return _softplus(x)
        case "softmax":
            return np.exp(_log_softmax(x))
        case "linear":
            return x.copy()
        case "maxout":
            raise ValueError("maxout is not elementwise; it is handled by forward()")
        case _:
            raise ValueError(f"unknown activation {name!r}")


def activation_grad(
    name: str, x: np.ndarray, gamma: np.ndarray | float | None = None
) -> np.ndarray:
    """f'(x) elementwise, with the textbook's one-sided conventions at kinks."""
    x = np.asarray(x, dtype=np.float64)
    match name:
        case "logistic":
            s = _sigmoid(x)
            return s * (1.0 - s)
        case "tanh":
            return 1.0 - np.tanh(x) ** 2
        case "hard_logistic":
            # Open interval: the derivative is 0 exactly at the saturation points ±2.
            return np.where((x > -2.0) & (x < 2.0), 0.25, 0.0)
        case "hard_tanh":
            return np.where((x > -1.0) & (x < 1.0), 1.0, 0.0)
        case "relu":
            # Indicator x > 0, so relu'(0) = 0.
            return np.where(x > 0, 1.0, 0.0)
        case "leaky_relu" | "prelu":
            # x > 0 strictly, so the slope at 0 is γ.
            return np.where(x > 0, 1.0, _slope(name, gamma) * np.ones_like(x))
        case "softplus":
            return _sigmoid(x)
        case "linear":
            return np.ones_like(x)
        case "softmax" | "maxout":
            raise ValueError(f"{name} has no elementwise derivative")
        case _:
            raise ValueError(f"unknown activation {name!r}")


def _prelu_gamma_grad(x: np.ndarray) -> np.ndarray:
    """∂prelu/∂γ = min(x, 0), i.e. x where x <= 0 and 0 elsewhere."""
    return np.minimum(x, 0.0)


def _reduce_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    # γ is broadcast over the columns (and over neurons if it is a shared scalar),
    # so its gradient is the sum over the broadcast axes.
    if shape == ():
        return np.asarray(g.sum())
    return g.sum(axis=1, keepdims=True).reshape(shape)


# ---------------------------------------------------------------------------
# Forward pass
# ---------------------------------------------------------------------------


@dataclass
class _Cache:
    A: list[np.ndarray]  # A_0 .. A_L
    Z: list[np.ndarray | list[np.ndarray]]  # Z_1 .. Z_L (per-piece lists for maxout)
    winner: list[np.ndarray | None]  # maxout: index of the first maximal piece per entry


def _forward_cache(layers: list[Layer], X: np.ndarray) -> _Cache:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError("X must have shape (n0, m): samples are columns")
    cache = _Cache(A=[X], Z=[], winner=[])
    for i, layer in enumerate(layers):
        A_prev = cache.A[-1]
        if layer.act == "maxout":
            if i == len(layers) - 1:
                raise ValueError("the output layer cannot be maxout")
            pieces = [
                np.asarray(W) @ A_prev + np.asarray(b)
                for W, b in zip(layer.W, layer.b, strict=True)
            ]
            stacked = np.stack(pieces)
            # np.argmax returns the first maximal index, which is the tie-breaking convention.
            winner = stacked.argmax(axis=0)
            cache.Z.append(pieces)
            cache.winner.append(winner)
            cache.A.append(np.take_along_axis(stacked, winner[None], axis=0)[0])
        else:
            if i == len(layers) - 1 and layer.act == "prelu":
                raise ValueError("the output layer cannot be prelu")
            Z = np.asarray(layer.W) @ A_prev + np.asarray(layer.b)
            cache.Z.append(Z)
            cache.winner.append(None)
            cache.A.append(activation(layer.act, Z, layer.gamma))
    return cache


def forward(layers: list[Layer], X: np.ndarray) -> list[np.ndarray]:
    """Return [A_0 = X, A_1, ..., A_L]."""
    return _forward_cache(layers, X).A


# ---------------------------------------------------------------------------
# Loss, risk and backpropagation
# ---------------------------------------------------------------------------


def _loss_and_delta(
    act: str, Z: np.ndarray, A: np.ndarray, Y: np.ndarray, loss: str
) -> tuple[float, np.ndarray]:
    """Mean data loss over the m columns and δ_L = ∂(mean loss)/∂Z_L."""
    m = Y.shape[1]
    match loss:
        case "cross_entropy":
            if act != "softmax":
                raise ValueError("cross_entropy is defined on softmax outputs")
            logp = _log_softmax(Z)
            value = -(Y * logp).sum() / m
            # ∂/∂Z of -Σ_k Y_k log softmax_k is softmax·Σ_k Y_k − Y, which is Ŷ − Y for
            # one-hot / probability columns; the general form keeps the FD check honest.
            delta = (np.exp(logp) * Y.sum(axis=0, keepdims=True) - Y) / m
        case "binary_cross_entropy":
            if act != "logistic":
                raise ValueError("binary_cross_entropy is defined on logistic outputs")
            # −[Y log σ(Z) + (1−Y) log(1−σ(Z))], using log σ(z) = −softplus(−z)
            # and log(1−σ(z)) = −softplus(z) so nothing overflows or hits log(0).
            value = (Y * _softplus(-Z) + (1.0 - Y) * _softplus(Z)).sum() / m
            delta = (_sigmoid(Z) - Y) / m
        case "squared_error":
            value = 0.5 * ((A - Y) ** 2).sum() / m
            dA = (A - Y) / m
            if act == "softmax":
                # Softmax couples a column, so apply its Jacobian diag(s) − s sᵀ per column.
                delta = A * (dA - (dA * A).sum(axis=0, keepdims=True))
            else:
                delta = dA * activation_grad(act, Z)
        case _:
            raise ValueError(f"unknown loss {loss!r}")
    return float(value), delta


def _penalty(layers: list[Layer], lam: float) -> float:
    # (λ/2) Σ ‖W‖_F² over weight matrices only (every maxout piece), never biases or γ.
    total = 0.0
    for layer in layers:
        Ws = layer.W if isinstance(layer.W, list) else [layer.W]
        total += sum(float(np.sum(np.asarray(W, dtype=np.float64) ** 2)) for W in Ws)
    return 0.5 * lam * total


def _check_targets(Y: np.ndarray, cache: _Cache) -> np.ndarray:
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape != cache.A[-1].shape:
        raise ValueError(f"Y has shape {Y.shape}, expected {cache.A[-1].shape}")
    return Y


def risk(layers: list[Layer], X: np.ndarray, Y: np.ndarray, loss: str, lam: float = 0.0) -> float:
    """R = (1/m) Σ_j L_j + (λ/2) Σ_l ‖W_l‖_F²."""
    cache = _forward_cache(layers, X)
    Y = _check_targets(Y, cache)
    value, _ = _loss_and_delta(layers[-1].act, cache.Z[-1], cache.A[-1], Y, loss)
    return value + _penalty(layers, lam)


def risk_and_grads(
    layers: list[Layer], X: np.ndarray, Y: np.ndarray, loss: str, lam: float = 0.0
) -> tuple[float, list[Grads]]:
    """Risk R and per-layer grads {'W', 'b'} (lists for maxout), plus 'gamma' for prelu."""
    cache = _forward_cache(layers, X)
    Y = _check_targets(Y, cache)
    L = len(layers)
    value, delta_L = _loss_and_delta(layers[-1].act, cache.Z[-1], cache.A[-1], Y, loss)

    grads: list[Grads] = [{} for _ in range(L)]
    delta: np.ndarray | list[np.ndarray] = delta_L
    for l in reversed(range(L)):  # noqa: E741 - 'l' is the textbook's layer index
        layer = layers[l]
        A_prev = cache.A[l]
        # ∂R/∂W_l = δ_l A_{l−1}ᵀ + λ W_l ; ∂R/∂b_l = Σ_columns δ_l ; then W_lᵀ δ_l flows back.
        if layer.act == "maxout":
            assert isinstance(delta, list)
            Ws = [np.asarray(W, dtype=np.float64) for W in layer.W]
            grads[l]["W"] = [d @ A_prev.T + lam * W for d, W in zip(delta, Ws, strict=True)]
            grads[l]["b"] = [d.sum(axis=1, keepdims=True) for d in delta]
            dA_prev = sum(W.T @ d for W, d in zip(Ws, delta, strict=True))
        else:
            assert isinstance(delta, np.ndarray)
            W = np.asarray(layer.W, dtype=np.float64)
            grads[l]["W"] = delta @ A_prev.T + lam * W
            grads[l]["b"] = delta.sum(axis=1, keepdims=True)
            dA_prev = W.T @ delta
        if l == 0:
            break

        # δ_{l−1} = f'_{l−1}(Z_{l−1}) ⊙ (W_lᵀ δ_l)
        below = layers[l - 1]
        Z = cache.Z[l - 1]
        if below.act == "maxout":
            winner = cache.winner[l - 1]
            # Only the first piece attaining the max receives gradient.
            delta = [dA_prev * (winner == i) for i in range(len(below.W))]
        else:
            assert isinstance(Z, np.ndarray)
            delta = dA_prev * activation_grad(below.act, Z, below.gamma)
            if below.act == "prelu":
                gamma_shape = np.shape(below.gamma)
                grads[l - 1]["gamma"] = _reduce_to(dA_prev * _prelu_gamma_grad(Z), gamma_shape)

    # Emit keys in a stable order: W, b, gamma.
    ordered = [{k: g[k] for k in ("W", "b", "gamma") if k in g} for g in grads]
    return value + _penalty(layers, lam), ordered


# ---------------------------------------------------------------------------
# Initialisation and finite differences
# ---------------------------------------------------------------------------


def sgd_epoch(params, X, y, order, alpha, lam, act="logistic"):
    """Per-sample SGD on a two-layer softmax MLP (``act`` hidden) with an L2
    penalty on the weights, in float64: each step's gradient from
    :func:`risk_and_grads`. ``params`` are (W1, b1, W2, b2); returns the new ones."""
    W1, b1, W2, b2 = (np.asarray(p).astype(np.float64).copy() for p in params)
    layers = [Layer(act, W1, b1), Layer("softmax", W2, b2)]
    for i in order:
        onehot = np.zeros((W2.shape[0], 1))
        onehot[y[i]] = 1.0
        _, grads = risk_and_grads(layers, X[:, i:i + 1].astype(np.float64), onehot,
                                  "cross_entropy", lam)
        for layer, g in zip(layers, grads, strict=True):
            layer.W -= alpha * g["W"]
            layer.b -= alpha * g["b"]
    return W1, b1, W2, b2


def _init_affine(n_in: int, n_out: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    W = rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_out, n_in))
    # Small but non-zero biases so the tests exercise bias gradients.
    b = rng.normal(0.0, 0.1, size=(n_out, 1))
    return W, b


def init_layers(
    sizes: list[int], acts: list[str], rng: np.random.Generator, k: int = 2
) -> list[Layer]:
    """Layers for sizes [n0, n1, ..., nL] and acts [f1, ..., fL]; N(0, 1/fan_in) weights."""
    if len(acts) != len(sizes) - 1:
        raise ValueError("need one activation per layer: len(acts) == len(sizes) - 1")
    layers: list[Layer] = []
    for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts, strict=True):
        if act == "maxout":
            pieces = [_init_affine(n_in, n_out, rng) for _ in range(k)]
            layers.append(Layer(act, [W for W, _ in pieces], [b for _, b in pieces]))
        elif act == "prelu":
            W, b = _init_affine(n_in, n_out, rng)
            layers.append(Layer(act, W, b, rng.uniform(0.05, 0.3, size=(n_out, 1))))
        else:
            layers.append(Layer(act, *_init_affine(n_in, n_out, rng)))
    return layers


def _float_copy(layers: list[Layer]) -> list[Layer]:
    # Private float64 copies: the finite differences perturb entries in place.
    def arr(x: np.ndarray | list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
        if isinstance(x, list):
            return [np.array(v, dtype=np.float64) for v in x]
        return np.array(x, dtype=np.float64)

    out = []
    for layer in layers:
        gamma = layer.gamma
        if layer.act == "prelu" and gamma is not None:
            gamma = np.array(gamma, dtype=np.float64)
        out.append(Layer(layer.act, arr(layer.W), arr(layer.b), gamma))
    return out


def numerical_grads(
    layers: list[Layer], X: np.ndarray, Y: np.ndarray, loss: str, lam: float, eps: float = 1e-6
) -> list[Grads]:
    """Central differences (R(θ+ε) − R(θ−ε)) / 2ε entry by entry, shaped like risk_and_grads."""
    work = _float_copy(layers)

    def fd(p: np.ndarray) -> np.ndarray:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            orig = p[idx]
            p[idx] = orig + eps
            plus = risk(work, X, Y, loss, lam)
            p[idx] = orig - eps
            minus = risk(work, X, Y, loss, lam)
            p[idx] = orig
            g[idx] = (plus - minus) / (2.0 * eps)
        return g

    grads: list[Grads] = []
    for layer in work:
        g: Grads = {}
        for key in ("W", "b"):
            p = getattr(layer, key)
            g[key] = [fd(q) for q in p] if isinstance(p, list) else fd(p)
        if layer.act == "prelu":
            assert isinstance(layer.gamma, np.ndarray)
            g["gamma"] = fd(layer.gamma)
        grads.append(g)
    return grads
