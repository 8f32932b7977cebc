"""A custom activation given as a SymPy formula: Mish(x) = x · tanh(softplus(x)).

Any scalar SymPy ``Lambda`` can be a hidden layer's activation; symnet differentiates it
with the rest of the network, so no derivative is written by hand. The example prints

* Mish's derivative, from ``symnet.grad`` on the scalar formula (SymPy's own ``diff``
  agrees), and a few values of Mish and Mish′ from a compiled kernel;
* the backpropagation equations of a 64-32-10 network with Mish hidden units: δ⁽¹⁾
  contains Mish′(z⁽¹⁾) spelled out;
* a few epochs of training on the digits (Algorithm 4.1) and the validation accuracy.

Run: python examples/custom_activation.py
"""

import numpy as np
import sympy as sp

import symnet
from symnet.data import load_digits, reference_split
from symnet.nn import MLP
from symnet.train import accuracy, fit

x = sp.Symbol("x")
mish = sp.Lambda(x, x * sp.tanh(symnet.softplus(x)))
print(f"Mish(x) = {mish(x)}")

(dmish,) = symnet.grad(mish(x), x)
print(f"Mish'(x) = {dmish}")
assert sp.simplify((dmish - sp.diff(mish(x), x)).rewrite(sp.exp)) == 0
print("(agrees with sympy.diff)")

kernel = symnet.compile([mish(x), dmish], [x])
points = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
values, slopes = kernel(points)
print("\n     x   Mish(x)  Mish'(x)")
for p, v, s in zip(points, values, slopes, strict=True):
    print(f"{p:6.1f}  {v:8.4f}  {s:8.4f}")
print("(smooth, slightly negative for x < 0, and Mish'(0) = 0.6 where ReLU' jumps from 0 to 1)")

net = MLP([64, 32, 10], [mish], output="softmax")
print(f"\nnetwork: {net.output_expr}")
print("its gradient, in backpropagation form:")
print(symnet.grad(net.risk(), net.params))

X_tr, y_tr, X_va, y_va = reference_split(*load_digits())
print("\ntraining on the digits (per-sample SGD, α = 0.05):")
result = fit(net, X_tr, y_tr, X_val=X_va, y_val=y_va, alpha=0.05, epochs=4, patience=None,
             seed=0, progress=False,
             callback=lambda h: print(f"  epoch {h.epoch[-1]}: train loss "
                                      f"{h.train_loss[-1]:.4f}, val error {h.val_error[-1]:.4f}"))
acc = accuracy(net, result.params, X_va, y_va)
print(f"Mish network: validation accuracy {acc:.1%} after {len(result.history)} epochs")
