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

from harness import ROOT, Peer, Section, bench_env, fmt_ratio, fmt_time, isolated_rounds, table
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


#: End to end: the same training (64-32-10 logistic, per-sample SGD at 0.1, L2 1e-4,
#: 15 epochs, the reference split) from process start to the printed validation accuracy.
E2E_EPOCHS = 15
_LOAD = """
import numpy as np
with np.load({data!r}) as z:
    X, y = z["images"].astype(np.float64) / 16.0, z["labels"].astype(np.int64)
p = np.random.default_rng(0).permutation(len(y))
tr, va = p[:1437], p[1437:]
"""
SKLEARN_SCRIPT = _LOAD + """
import warnings
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
clf = MLPClassifier(hidden_layer_sizes=(32,), activation="logistic", solver="sgd",
                    learning_rate="constant", learning_rate_init=0.1, momentum=0.0,
                    nesterovs_momentum=False, alpha=1e-4, batch_size=1, max_iter={epochs},
                    tol=0.0, n_iter_no_change={epochs} + 1, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    clf.fit(X[tr], y[tr])
print(f"validation accuracy: {{100 * clf.score(X[va], y[va]):.2f}}%")
"""
TORCH_SCRIPT = _LOAD + """
import torch
torch.manual_seed(0)
Xt, yt = torch.tensor(X[tr]), torch.tensor(y[tr])
model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Sigmoid(),
                            torch.nn.Linear(32, 10)).double()
decay = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
rest = [m.bias for m in model if isinstance(m, torch.nn.Linear)]
opt = torch.optim.SGD([{{"params": decay, "weight_decay": 1e-4}}, {{"params": rest}}], lr=0.1)
loss_fn = torch.nn.CrossEntropyLoss()
g = torch.Generator().manual_seed(0)
for epoch in range({epochs}):
    for i in torch.randperm(len(yt), generator=g).tolist():
        opt.zero_grad()
        loss_fn(model(Xt[i:i + 1]), yt[i:i + 1]).backward()
        opt.step()
with torch.no_grad():
    acc = (model(torch.tensor(X[va])).argmax(1).numpy() == y[va]).mean()
print(f"validation accuracy: {{100 * acc:.2f}}%")
"""


def _wall(cmd: list[str], env: dict) -> tuple[float, str]:
    import subprocess
    import sys

    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *cmd] if cmd[0] == "-c" else cmd, env=env,
                         capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip()
                           else f"exit {out.returncode}")
    acc = [line for line in out.stdout.splitlines() if "validation accuracy" in line]
    return wall, acc[-1].split(":", 1)[1].split("%")[0].strip() + "%" if acc else "?"


def _end_to_end(rounds: int) -> tuple[list[str], list[str]]:
    """Wall time of three processes doing the same training, start to printed accuracy."""
    import shutil
    import sys
    from importlib.util import find_spec
    from pathlib import Path

    data = str(ROOT / "symnet" / "data" / "digits.npz")
    symnet_cmd = [str(Path(sys.executable).with_name("symnet")), "train", "--epochs",
                  str(E2E_EPOCHS), "--patience", str(E2E_EPOCHS), "--no-progress"]
    rows = [("symnet train (cold: empty compile cache)", symnet_cmd, "cold"),
            ("symnet train (warm cache)", symnet_cmd, "warm"),
            ("scikit-learn MLPClassifier script", ["-c", SKLEARN_SCRIPT.format(
                data=data, epochs=E2E_EPOCHS)], "sklearn"),
            ("PyTorch script (eager, per-sample SGD)", ["-c", TORCH_SCRIPT.format(
                data=data, epochs=E2E_EPOCHS)], "torch")]
    peers = {name: Peer(name) for name, _, _ in rows}
    warm_dir = tempfile.mkdtemp(prefix="symnet-w6-warm-")
    try:
        for _ in range(rounds):
            for name, cmd, kind in rows:
                peer = peers[name]
                if kind in ("sklearn", "torch") and find_spec(kind) is None:
                    peer.status = f"skipped (not installed): {kind}"
                    continue
                env = bench_env()
                cold = tempfile.mkdtemp(prefix="symnet-w6-cold-")
                env["SYMNET_CACHE_DIR"] = warm_dir if kind == "warm" else cold
                try:
                    if kind == "warm" and not peer.times:
                        _wall(cmd, env)  # fills the warm cache
                    wall, acc = _wall(cmd, env)
                    peer.times.append(wall)
                    peer.extra["val accuracy"] = acc
                except Exception as exc:  # noqa: BLE001 - a broken row must not stop the run
                    peer.status = f"failed: {exc}"
                finally:
                    shutil.rmtree(cold, ignore_errors=True)
    finally:
        shutil.rmtree(warm_dir, ignore_errors=True)
    ps = list(peers.values())
    cold = ps[0]
    text = ["### End to end: `symnet train` against a scikit-learn and a PyTorch script", "",
            f"The same training ({E2E_EPOCHS} epochs of per-sample SGD at 0.1, L2 1e-4, 64-32-10 "
            "logistic / softmax, the reference split of the bundled digits) as three "
            "commands, each timed from process start to its printed validation accuracy, "
            f"median of {rounds} run(s): `symnet train --epochs {E2E_EPOCHS} --patience "
            f"{E2E_EPOCHS}` with an empty compile cache and with a warm one, a scikit-learn "
            "`MLPClassifier` script and a PyTorch eager script (the idiomatic per-sample "
            "loop). Ratio = row / cold `symnet train`.", "",
            table(ps, cold, ["val accuracy"], ratio_label="ratio to symnet train (cold)",
                  agree=False), ""]
    lines = []
    others = [p for p in ps[2:] if p.ok]
    if cold.ok and others:
        worst = min(p.median for p in others)
        lines.append(_verdict(cold.median < worst, "end to end, cold: `symnet train` faster "
                              "than the scikit-learn and PyTorch scripts: "
                              f"{fmt_time(cold.median)} vs "
                              + ", ".join(f"{p.name} {fmt_time(p.median)} "
                                          f"({p.extra.get('val accuracy', '?')})"
                                          for p in others)
                              + f"; symnet's validation accuracy "
                              f"{cold.extra.get('val accuracy', '?')}"))
    return text, lines


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
    e2e_text, e2e_lines = _end_to_end(rounds)
    text += e2e_text
    lines += e2e_lines
    return Section("\n".join(text), lines)


if __name__ == "__main__":
    print(run(quick=True).markdown)
