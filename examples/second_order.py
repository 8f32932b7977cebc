"""Second order: the Hessian of σ(wx + b), the R-propagation of a network, and its curvature.

    python examples/second_order.py

Prints the Hessian of f(x; w, b) = σ(wx + b) entry by entry (after CSE) and at
the textbook's point x = 1, w = 0, b = 0, where σ''(0) = 0 makes it vanish;
the forward-over-reverse equations of a Hessian-vector product for a small
network; and, for the digits network trained by Newton-CG, the largest
eigenvalues of its Hessian and Gauss-Newton matrix from ``eigsh`` on the
compiled products, next to SGD on the same network (both training curves).
"""

import time

import numpy as np
import sympy as sp
from scipy.sparse.linalg import eigsh

import symnet
from symnet.data import load_digits, reference_split
from symnet.explain import modes_summary
from symnet.nn import MLP
from symnet.train import accuracy, fit

# --- the Hessian of one neuron
x, w, b = sp.symbols("x w b")
H = symnet.hessian(symnet.logistic(w * x + b), [w, b])
print("Hessian of f = σ(wx + b) w.r.t. (w, b):")
print(H)
print("at the textbook's point x = 1, w = 0, b = 0:", H.subs({x: 1, w: 0, b: 0}).tolist())
at = H.subs({x: 1, w: 0, b: sp.log(3)}).rewrite(sp.exp)
print("at x = 1, w = 0, b = log 3 (σ = 3/4):", at.tolist())
print()

# --- the R-propagation of a Hessian-vector product
net = MLP([3, 4, 2], "tanh", output="softmax")
print("Hessian-vector product of a 3-4-2 network's risk, forward-over-reverse:")
print(symnet.hvp(net.risk(), net.params))
print()
print(modes_summary(64 * 32 + 32 + 32 * 10 + 10, 1))
print()

# --- train the digits network by Newton-CG and by SGD, then look at its curvature
X, y = load_digits()
X_tr, y_tr, X_va, y_va = reference_split(X, y)
digits = MLP([64, 32, 10], "logistic")
curves = {}
for method in ("newton-cg", "sgd"):
    start = time.perf_counter()
    res = fit(digits, X_tr, y_tr, X_val=X_va, y_val=y_va, method=method, epochs=60,
              patience=10, progress=False)
    acc = accuracy(digits, res.params, X_va, y_va)
    print(f"{method:>9}: validation accuracy {100 * acc:.1f}% after {len(res.history)} "
          f"{'iterations' if method != 'sgd' else 'epochs'} in {time.perf_counter() - start:.1f} s")
    curves[method] = res.history
    if method == "newton-cg":
        trained = res.params
print("training curves (train loss / validation error; a Newton-CG row is one full-batch "
      "iteration, an SGD row one epoch of 1437 steps):")
print(f"{'row':>4}  {'newton-cg':>17}  {'sgd':>17}")
for k in range(max(len(h) for h in curves.values())):
    cells = [f"{h.train_loss[k]:8.4f} / {h.val_error[k]:6.4f}" if k < len(h) else " " * 17
             for h in curves.values()]
    print(f"{k + 1:>4}  {cells[0]}  {cells[1]}")

values = {digits.X: np.ascontiguousarray(X_tr.T), digits.labels(): np.eye(10)[:, y_tr]}
values.update({p: trained[str(p)] for p in digits.params})
R = digits.risk(lam=1e-4)
for kind in ("hessian", "gauss-newton"):
    op = symnet.curvature(R, digits.params, values, kind=kind,
                          output=digits.layers[-1].z[0])
    start = time.perf_counter()
    top = np.sort(eigsh(op, k=3, which="LA", return_eigenvectors=False))[::-1]
    print(f"largest {kind} eigenvalues of the trained network ({op.shape[0]} parameters): "
          + ", ".join(f"{t:.4g}" for t in top)
          + f"  [{op.calls} products, {time.perf_counter() - start:.2f} s]")
