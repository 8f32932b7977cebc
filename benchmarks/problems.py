"""The shared problems: data, initial parameters, sample orders and a NumPy evaluator.

Every peer of a workload starts from :func:`init_mlp` (weights
N(0, 1/fan_in) from ``numpy.random.default_rng(seed)`` in layer order
W1, W2, ..., biases 0) and sees the data in the same order, so all of them
do the same arithmetic. Parameters are the list ``[W1, b1, W2, b2, ...]``
with ``W`` of shape (fan_out, fan_in) and ``b`` of shape (fan_out, 1), as in
symnet (samples are columns there).
"""

from __future__ import annotations

import math

import numpy as np

#: W1: Algorithm 4.1 on the digits.
W1_SIZES = (64, 32, 10)
W1_ALPHA = 0.1
W1_LAMBDA = 1e-4
W1_SEED = 42

#: W2: minibatch SGD on random data.
W2_SIZES = (784, 256, 256, 10)
W2_ALPHA = 0.01
W2_BATCH = 64
W2_SAMPLES = 8192
W2_SEED = 42


def init_mlp(sizes, rng: np.random.Generator, dtype="float64") -> list[np.ndarray]:
    """[W1, b1, W2, b2, ...]: W ~ N(0, 1/fan_in) drawn in layer order, b = 0."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        W = rng.normal(0.0, math.sqrt(1.0 / n_in), size=(n_out, n_in))
        params += [W.astype(dtype), np.zeros((n_out, 1), dtype=dtype)]
    return params


def w1_problem(epochs: int):
    """Digits split, initial parameters and one permutation per epoch.

    The generator ``default_rng(42)`` draws W1, then W2, then one
    permutation of the 1437 training samples per epoch: the same sequence
    ``symnet.train.fit(..., seed=42)`` uses, so fit runs this exact problem.
    Returns (X_tr, y_tr, X_va, y_va, params, orders); X rows are samples.
    """
    from symnet.data import load_digits, reference_split

    X, y = load_digits()
    X_tr, y_tr, X_va, y_va = reference_split(X, y)
    rng = np.random.default_rng(W1_SEED)
    params = init_mlp(W1_SIZES, rng)
    orders = [rng.permutation(X_tr.shape[0]) for _ in range(epochs)]
    return X_tr, y_tr, X_va, y_va, params, orders


def w2_problem(dtype="float64"):
    """X ~ U(0, 1) (8192 x 784) and labels 0..9 from default_rng(1); initial parameters.

    Batches are taken in order (no shuffling): batch k is rows 64k .. 64k+63.
    """
    rng = np.random.default_rng(1)
    X = rng.uniform(0.0, 1.0, size=(W2_SAMPLES, W2_SIZES[0]))
    y = rng.integers(0, 10, size=W2_SAMPLES)
    params = init_mlp(W2_SIZES, np.random.default_rng(W2_SEED), dtype)
    return X.astype(dtype), y, params


def onehot(y: np.ndarray, classes: int, dtype="float64") -> np.ndarray:
    """(n, classes) one-hot rows."""
    T = np.zeros((y.shape[0], classes), dtype=dtype)
    T[np.arange(y.shape[0]), y] = 1.0
    return T


def _act(name: str, z: np.ndarray) -> np.ndarray:
    if name == "logistic":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(name)


def logits(params, X: np.ndarray, act: str) -> np.ndarray:
    """Output pre-activations (n, classes) in float64; X rows are samples."""
    a = np.asarray(X, dtype=np.float64)
    n_layers = len(params) // 2
    for k in range(n_layers):
        W = np.asarray(params[2 * k], dtype=np.float64)
        b = np.asarray(params[2 * k + 1], dtype=np.float64).reshape(-1)
        z = a @ W.T + b
        a = _act(act, z) if k < n_layers - 1 else z
    return a


def mean_cross_entropy(params, X, y, act: str) -> float:
    """Mean softmax cross-entropy (no penalty), evaluated in float64."""
    z = logits(params, X, act)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def accuracy(params, X, y, act: str) -> float:
    return float(np.mean(np.argmax(logits(params, X, act), axis=1) == y))


def max_param_diff(a, b) -> float:
    """Largest absolute difference over all parameters."""
    return max(float(np.max(np.abs(np.asarray(p, np.float64).reshape(q.shape) - q)))
               for p, q in zip(a, (np.asarray(q, np.float64) for q in b), strict=True))
