"""scikit-learn estimators: SymnetClassifier and SymnetRegressor over symnet's compiled MLPs.

They follow scikit-learn's conventions (samples as rows, ``fit`` returns
self, fitted attributes end in ``_``, ``get_params``/``set_params``,
``partial_fit``), so they work in a ``Pipeline`` and ``GridSearchCV``; the
training underneath is :func:`symnet.train.fit` (the LLVM backend's whole
native epoch by default) with the optimizer's update rules compiled in.
Needs scikit-learn (in the ``dev`` extra).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .nn import MLP
from .train import fit as _fit
from .train import predict as _predict
from .train import predict_proba as _predict_proba

__all__ = ["SymnetClassifier", "SymnetRegressor"]


class _SymnetMLP(BaseEstimator):
    """What both estimators share: the network, its training and pickling."""

    _output = "softmax"

    def __init__(self, hidden_layer_sizes=(32,), activation="logistic", optimizer="sgd",
                 learning_rate_init=0.1, alpha=1e-4, batch_size=1, max_iter=15,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5,
                 random_state=None, backend="llvm"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.alpha = alpha
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.backend = backend

    # ------------------------------------------------------------ network
    def _sizes(self, n_in: int, n_out: int) -> list[int]:
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, int | np.integer) else list(hidden)
        if any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive, got {self.hidden_layer_sizes}")
        return [n_in, *[int(h) for h in hidden], n_out]

    def _build(self, n_in: int, n_out: int) -> None:
        self.layer_sizes_ = self._sizes(n_in, n_out)
        self._net = MLP(self.layer_sizes_, self.activation, output=self._output)

    def __getstate__(self) -> dict:
        # The network caches compiled kernels (native code): rebuilt on load.
        state = dict(self.__dict__)
        state.pop("_net", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "layer_sizes_" in state:
            self._net = MLP(self.layer_sizes_, self.activation, output=self._output)

    def _train(self, X: np.ndarray, T, epochs: int, init=None) -> None:
        if not isinstance(self.max_iter, int | np.integer) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        seed = int(check_random_state(self.random_state).randint(2**31 - 1)) \
            if self.random_state is not None else 0
        kw = {}
        if self.early_stopping:
            n_val = max(1, int(round(self.validation_fraction * len(X))))
            perm = np.random.default_rng(seed).permutation(len(X))
            va, tr = perm[:n_val], perm[n_val:]
            kw = {"X_val": X[va], "y_val": T[va], "patience": self.n_iter_no_change}
            X, T = X[tr], T[tr]
        else:
            kw = {"patience": None}
        res = _fit(self._net, X, T, lam=float(self.alpha), alpha=float(self.learning_rate_init),
                   epochs=int(epochs), batch_size=int(min(self.batch_size, len(X))), seed=seed,
                   backend=self.backend, progress=False, init=init, optimizer=self.optimizer,
                   **kw)
        self.params_ = res.params
        self.history_ = res.history
        self.loss_curve_ = list(res.history.train_loss)
        self.n_iter_ = getattr(self, "n_iter_", 0) + len(res.history)
        self.best_epoch_ = res.best_epoch


class SymnetClassifier(ClassifierMixin, _SymnetMLP):
    """A softmax MLP classifier trained by symnet (see the module docstring).

    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SymnetClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9, clf.predict_proba(X[:2]).shape
    (True, (2, 3))
    """

    _output = "softmax"

    def _targets(self, y) -> np.ndarray:
        return np.searchsorted(self.classes_, y)

    def fit(self, X, y):
        """Train from scratch on ``X`` (n_samples, n_features) and labels ``y``."""
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"a classifier needs samples of at least 2 classes; got 1 class "
                             f"({self.classes_[0]!r})")
        self.n_iter_ = 0
        self._build(X.shape[1], len(self.classes_))
        self._train(X, self._targets(y), self.max_iter)
        return self

    def partial_fit(self, X, y, classes=None):
        """One more epoch on ``X``, ``y`` (``classes`` on the first call)."""
        first = not hasattr(self, "classes_")
        X, y = validate_data(self, X, y, dtype=np.float64, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("the first partial_fit needs classes=[...] (all of them)")
            self.classes_ = np.unique(classes)
            if len(self.classes_) < 2:
                raise ValueError("a classifier needs at least 2 classes; got 1 class")
            self.n_iter_ = 0
            self._build(X.shape[1], len(self.classes_))
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(f"y holds labels {unknown.tolist()} not in classes "
                             f"{self.classes_.tolist()}")
        self._train(X, self._targets(y), 1, init=None if first else self.params_)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in ``classes_`` order."""
        check_is_fitted(self, "params_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _predict_proba(self._net, self.params_, X, backend=self.backend)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample."""
        check_is_fitted(self, "params_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class SymnetRegressor(RegressorMixin, _SymnetMLP):
    """An MLP with a linear output layer trained on the squared error by symnet.

    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (200, 2)); y = X[:, 0] - 2 * X[:, 1]
    >>> reg = SymnetRegressor(hidden_layer_sizes=(8,), random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.95
    True
    """

    _output = "linear"

    def __init__(self, hidden_layer_sizes=(32,), activation="tanh", optimizer="sgd",
                 learning_rate_init=0.01, alpha=1e-4, batch_size=1, max_iter=15,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5,
                 random_state=None, backend="llvm"):
        super().__init__(hidden_layer_sizes, activation, optimizer, learning_rate_init, alpha,
                         batch_size, max_iter, early_stopping, validation_fraction,
                         n_iter_no_change, random_state, backend)

    def _prepare(self, X, y, reset: bool):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True,
                             reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, np.asarray(y, dtype=np.float64)

    def fit(self, X, y):
        """Train from scratch on ``X`` (n_samples, n_features) and targets ``y``
        ((n_samples,) or (n_samples, n_outputs))."""
        X, y = self._prepare(X, y, reset=True)
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self.n_iter_ = 0
        self._build(X.shape[1], self.n_outputs_)
        self._train(X, y, self.max_iter)
        return self

    def partial_fit(self, X, y):
        """One more epoch on ``X``, ``y``."""
        first = not hasattr(self, "params_")
        X, y = self._prepare(X, y, reset=first)
        if first:
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
            self.n_iter_ = 0
            self._build(X.shape[1], self.n_outputs_)
        self._train(X, y, 1, init=None if first else self.params_)
        return self

    def predict(self, X) -> np.ndarray:
        """The network's outputs: (n_samples,) or (n_samples, n_outputs)."""
        check_is_fitted(self, "params_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _predict(self._net, self.params_, X, backend=self.backend)
