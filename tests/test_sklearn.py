"""symnet.sklearn: scikit-learn's own estimator checks, Pipeline, GridSearchCV, partial_fit.

Checks scikit-learn skips by itself, with its reasons: the array-API checks
(they run only with ``SCIPY_ARRAY_API=1`` set before SciPy is imported and
``array-api-strict`` installed; the estimators convert their input to NumPy
float64 like ``MLPClassifier``) -- and the pandas checks when pandas is not
installed (it is in ``dev``).
"""

from __future__ import annotations

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="the estimators need scikit-learn (dev extra)")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from symnet.data import load_digits, reference_split  # noqa: E402
from symnet.sklearn import SymnetClassifier, SymnetRegressor  # noqa: E402


@parametrize_with_checks([SymnetClassifier(), SymnetRegressor()])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_a_pipeline_in_a_grid_search():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), SymnetClassifier(max_iter=10, random_state=0))
    grid = GridSearchCV(pipe, {"symnetclassifier__hidden_layer_sizes": [(4,), (12,)],
                               "symnetclassifier__optimizer": ["sgd", "adam"],
                               "symnetclassifier__learning_rate_init": [0.05]}, cv=3)
    grid.fit(X, y)
    assert grid.best_score_ > 0.9
    assert set(grid.cv_results_["param_symnetclassifier__optimizer"]) == {"sgd", "adam"}


def test_partial_fit_continues_where_fit_left_off():
    X, y = load_digits()
    X_tr, y_tr, X_va, y_va = reference_split(X, y)
    clf = SymnetClassifier(random_state=0, max_iter=1)
    clf.partial_fit(X_tr, y_tr, classes=np.arange(10))
    first = clf.score(X_va, y_va)
    for _ in range(4):
        clf.partial_fit(X_tr, y_tr)
    assert clf.n_iter_ == 5 and clf.score(X_va, y_va) > first
    # Five partial fits of one epoch walk the same path as one fit of five epochs
    # except for the shuffling, which restarts each call: both reach ~95%.
    full = SymnetClassifier(random_state=0, max_iter=5).fit(X_tr, y_tr)
    assert abs(full.score(X_va, y_va) - clf.score(X_va, y_va)) < 0.03
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X_tr[:3], np.array([0, 1, 11]))


def test_predictions_match_the_network_they_wrap():
    X, y = load_iris(return_X_y=True)
    clf = SymnetClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=1).fit(X, y)
    p = clf.params_
    z = p["W2"] @ (1 / (1 + np.exp(-(p["W1"] @ X.T + p["b1"])))) + p["b2"]
    prob = np.exp(z - z.max(axis=0))
    prob /= prob.sum(axis=0)
    np.testing.assert_allclose(clf.predict_proba(X), prob.T, rtol=1e-10)
    rng = np.random.default_rng(0)
    Xr = rng.uniform(-1, 1, (100, 3))
    yr = np.c_[Xr[:, 0] * Xr[:, 1], Xr[:, 2]]
    reg = SymnetRegressor(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(Xr, yr)
    q = reg.params_
    want = (q["W2"] @ np.tanh(q["W1"] @ Xr.T + q["b1"]) + q["b2"]).T
    np.testing.assert_allclose(reg.predict(Xr), want, rtol=1e-10)


def test_an_activation_written_in_sympy_survives_clone_and_pickle():
    import pickle

    import sympy as sp
    from sklearn.base import clone

    t = sp.Symbol("t")
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = SymnetClassifier(hidden_layer_sizes=(6,), activation=sp.Lambda(t, t / (1 + sp.Abs(t))),
                           max_iter=20, learning_rate_init=0.05, random_state=0)
    fitted = clone(clf).fit(X, y)
    assert fitted.score(X, y) > 0.9
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))
