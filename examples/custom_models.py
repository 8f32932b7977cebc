"""Your own models through fit: a tied-weight autoencoder, a residual MLP, a Huber regression.

Each is a symnet.Model (inputs, targets, parameters, prediction, loss),
trained by the same fit as the built-in MLP -- both backends, the LLVM one as
one native call per epoch.

Run: python examples/custom_models.py
"""

import numpy as np
import sympy as sp

from symnet import Model, ops
from symnet.data import load_digits, reference_split
from symnet.train import fit, predict

m = sp.Symbol("m", integer=True, positive=True)
ones = ops.ones(1, m)  # 1 x m: a bias column repeated over the batch

X_all, y_all = load_digits()
X_tr, y_tr, X_va, y_va = reference_split(X_all, y_all)

# 1. A tied-weight autoencoder: the decoder is the encoder's transpose.
X = sp.MatrixSymbol("X", 64, m)
W, b, c = sp.MatrixSymbol("W", 16, 64), sp.MatrixSymbol("b", 16, 1), sp.MatrixSymbol("c", 64, 1)
code = ops.logistic(W * X + b * ones)
recon = W.T * code + c * ones
Y = sp.MatrixSymbol("Y", 64, m)
ae = Model(X, Y, [W, b, c], recon, ops.matsum(sp.HadamardPower(recon - Y, 2)) / (2 * m),
           name="tied autoencoder")
for backend in ("numpy", "llvm"):
    res = fit(ae, X_tr, X_tr, X_val=X_va, y_val=X_va, alpha=0.01, epochs=5, progress=False,
              backend=backend, patience=None)
    print(f"autoencoder ({backend}): validation reconstruction mse "
          f"{res.history.val_error[-1]:.4f} (first epoch {res.history.val_error[0]:.4f})")

# 2. A residual MLP: a2 = a1 + tanh(W2 a1 + b2), softmax on top.
W1, b1 = sp.MatrixSymbol("W1", 32, 64), sp.MatrixSymbol("b1", 32, 1)
W2, b2 = sp.MatrixSymbol("W2", 32, 32), sp.MatrixSymbol("b2", 32, 1)
W3, b3 = sp.MatrixSymbol("W3", 10, 32), sp.MatrixSymbol("b3", 10, 1)
a1 = ops.Elementwise(sp.tanh, W1 * X + b1 * ones)
a2 = a1 + ops.Elementwise(sp.tanh, W2 * a1 + b2 * ones)
out = ops.softmax(W3 * a2 + b3 * ones)
T = ops.OneHot("T", 10, m)
residual = Model(X, T, [W1, b1, W2, b2, W3, b3], out,
                 -ops.matsum(sp.HadamardProduct(T, ops.log_softmax(W3 * a2 + b3 * ones))) / m,
                 name="residual MLP")
for backend in ("numpy", "llvm"):
    res = fit(residual, X_tr, y_tr, X_val=X_va, y_val=y_va, alpha=0.05, epochs=5,
              progress=False, backend=backend)
    acc = float(np.mean(predict(residual, res.params, X_va, backend=backend) == y_va))
    print(f"residual MLP ({backend}): validation accuracy {100 * acc:.1f}%")

# 3. A Huber regression on data with outliers: the Huber fit stays near the truth.
rng = np.random.default_rng(0)
Xr = rng.uniform(-1, 1, (400, 2))
yr = Xr @ np.array([2.0, -3.0]) + 0.5 + 0.05 * rng.standard_normal(400)
yr[:20] += 30.0  # outliers
x = sp.MatrixSymbol("X", 2, m)
w, b0 = sp.MatrixSymbol("w", 1, 2), sp.MatrixSymbol("b0", 1, 1)
pred = w * x + b0 * ones
t = sp.MatrixSymbol("t", 1, m)
r = sp.Symbol("r")
delta = 1.0
huber = sp.Lambda(r, sp.Piecewise((r ** 2 / 2, sp.Abs(r) <= delta),
                                  (delta * (sp.Abs(r) - delta / 2), True)))
model = Model(x, t, [w, b0], pred, ops.matsum(ops.Elementwise(huber, pred - t)) / m,
              weights=[], name="Huber regression")
for backend in ("numpy", "llvm"):
    res = fit(model, Xr, yr, alpha=0.05, epochs=40, progress=False, backend=backend)
    print(f"Huber regression ({backend}): w = {np.round(res.params['w'].ravel(), 2).tolist()},"
          f" b = {res.params['b0'][0, 0]:.2f} (truth [2.0, -3.0], 0.5)")
ls = np.linalg.lstsq(np.c_[Xr, np.ones(400)], yr, rcond=None)[0]
print(f"least squares for comparison: w = {np.round(ls[:2], 2).tolist()}, b = {ls[2]:.2f}")
