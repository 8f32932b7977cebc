"""W6: scikit-learn estimators: SymnetClassifier against MLPClassifier on the digits.

Both train the same 64-32-10 logistic network with softmax / cross-entropy
on the reference 1437 / 360 split of the bundled digits, with the same
optimizer, batch size, epochs and L2 penalty, and no early stopping: plain
SGD per sample (Algorithm 4.1, 15 epochs, learning rate 0.1) and Adam on
batches of 32 (30 epochs, learning rate 0.003). scikit-learn scales its
penalty by the batch (alpha / (2 batch) ||W||^2 per batch), so its alpha is
lambda x batch size for the same risk. Each row is one ``fit`` call in a
fresh process -- for symnet with an empty compile cache, so the time
includes deriving and compiling the epoch -- from the call to a fitted
model, and again after a first fit of the same architecture in the process
("warm": what every fit but the first of a grid search sees); the
validation accuracy comes from the fitted model's ``score``.
"""

from __future__ import annotations

import os
import tempfile
import time

from harness import Peer, Section, fmt_ratio, fmt_time, isolated_rounds, table
from harness import verdict as _verdict

SOLVERS = {
    "sgd": dict(optimizer="sgd", lr=0.1, batch=1, epochs=15, lam=1e-4),
    "adam": dict(optimizer="adam", lr=0.003, batch=32, epochs=30, lam=1e-4),
}


def _data():
    from symnet.data import load_digits, reference_split

    X, y = load_digits()
    return reference_split(X, y)


def symnet_fit(solver: str, warm: bool) -> Peer:
    """One fit; ``warm``: after a first fit of the same architecture in the process
    (what every fit after the first in a grid search sees), else from an empty cache."""
    cfg = SOLVERS[solver]
    os.environ["SYMNET_CACHE_DIR"] = tempfile.mkdtemp(prefix="symnet-w6-")
    from symnet.sklearn import SymnetClassifier

    X_tr, y_tr, X_va, y_va = _data()

    def make():
        return SymnetClassifier(hidden_layer_sizes=(32,), activation="logistic",
                                optimizer=cfg["optimizer"], learning_rate_init=cfg["lr"],
                                alpha=cfg["lam"], batch_size=cfg["batch"],
                                max_iter=cfg["epochs"], random_state=0)

    if warm:
        make().fit(X_tr, y_tr)
    clf = make()
    t0 = time.perf_counter()
    clf.fit(X_tr, y_tr)
    name = f"symnet SymnetClassifier ({solver}, {'warm' if warm else 'cold: compile included'})"
    peer = Peer(name, times=[time.perf_counter() - t0])
    peer.extra = {"val accuracy": f"{100 * clf.score(X_va, y_va):.2f}%",
                  "epochs": cfg["epochs"]}
    peer.result = float(clf.score(X_va, y_va))
    return peer


def sklearn_fit(solver: str) -> Peer:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    cfg = SOLVERS[solver]
    X_tr, y_tr, X_va, y_va = _data()
    kw = dict(solver="sgd", momentum=0.0, nesterovs_momentum=False,
              learning_rate="constant") if solver == "sgd" else dict(solver="adam")
    clf = MLPClassifier(hidden_layer_sizes=(32,), activation="logistic",
                        learning_rate_init=cfg["lr"], alpha=cfg["lam"] * cfg["batch"],
                        batch_size=cfg["batch"], max_iter=cfg["epochs"], shuffle=True,
                        tol=0.0, n_iter_no_change=cfg["epochs"] + 1, random_state=0, **kw)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_tr, y_tr)
    peer = Peer(f"scikit-learn MLPClassifier ({solver})", times=[time.perf_counter() - t0])
    peer.extra = {"val accuracy": f"{100 * clf.score(X_va, y_va):.2f}%",
                  "epochs": clf.n_iter_}
    peer.result = float(clf.score(X_va, y_va))
    return peer


def run(quick: bool = False, probe: dict | None = None) -> Section:
    rounds = 1 if quick else 3
    mod = __name__.rsplit(".", 1)[-1]
    text = ["## W6: scikit-learn estimators", "",
            __doc__.split("\n\n", 1)[1].replace("\n", " ").strip()
            + f" Median of {rounds} fresh process(es) per row (rows interleaved); ratio = row "
            "/ SymnetClassifier.", ""]
    lines = []
    for solver in SOLVERS:
        print(f"W6: {solver}", flush=True)
        peers = isolated_rounds(mod, [
            (f"symnet SymnetClassifier ({solver}, warm)", "symnet_fit", (solver, True),
             ("sklearn",)),
            (f"symnet SymnetClassifier ({solver}, cold: compile included)", "symnet_fit",
             (solver, False), ("sklearn",)),
            (f"scikit-learn MLPClassifier ({solver})", "sklearn_fit", (solver,), ("sklearn",)),
        ], rounds)
        warm, cold, sk = peers
        text += [f"**{solver}**", "", table(peers, warm, ["val accuracy", "epochs"],
                                            agree=False), ""]
        for sym, how in ((warm, "warm"), (cold, "cold, compile included")):
            if sym.ok and sk.ok:
                r = sk.median / sym.median
                acc_s, acc_k = (float(p.extra["val accuracy"].rstrip("%")) for p in (sym, sk))
                lines.append(_verdict(
                    r >= 10 and acc_s >= acc_k - 1.0,
                    f"{solver} ({how}): SymnetClassifier >= 10x faster than MLPClassifier at "
                    f"equal accuracy: {fmt_time(sym.median)} vs {fmt_time(sk.median)} = "
                    f"{fmt_ratio(r)} faster; validation accuracy {acc_s:.2f}% vs {acc_k:.2f}%"))
            else:
                lines.append(_verdict(None, f"{solver} ({how}): {sym.status} / {sk.status}"))
    return Section("\n".join(text), lines)


if __name__ == "__main__":
    print(run(quick=True).markdown)
