"""Algorithm 4.1 on the bundled handwritten digits: a 64-32-10 network, logistic hidden
units, softmax output and cross-entropy, trained by per-sample stochastic gradient descent.

The 1,797 8×8 images (pixels scaled to [0, 1]) are split by the reference permutation
``numpy.random.default_rng(0).permutation(1797)``: 1,437 for training, 360 for validation.
Weights start at N(0, 1/fan_in), biases at 0; every epoch visits the training samples in a
new random order and updates θ ← θ − α ∂R/∂θ after each one (α = 0.1, λ = 1e-4). The
parameters of the epoch with the lowest validation error are kept (early stopping).

The example prints the gradient the kernel was compiled from, the per-epoch loss and
error, the best validation accuracy and a confusion matrix of the validation set.

Run: python examples/digits.py [--epochs N]
"""

import argparse

import numpy as np

import symnet
from symnet.data import load_digits, reference_split
from symnet.nn import MLP
from symnet.train import accuracy, fit, predict

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=6, help="maximum epochs (default 6)")
epochs = parser.parse_args().epochs

X_tr, y_tr, X_va, y_va = reference_split(*load_digits())
net = MLP([64, 32, 10], "logistic", output="softmax")
print("backpropagation for the risk (mean cross-entropy + λ/2 Σ‖W‖²):")
print(symnet.grad(net.risk(), net.params))

print("\nepoch  train loss  train error  val loss  val error  seconds")


def report(h):
    i = -1
    print(f"{h.epoch[i]:5d}  {h.train_loss[i]:10.4f}  {h.train_error[i]:11.4f}  "
          f"{h.val_loss[i]:8.4f}  {h.val_error[i]:9.4f}  {h.seconds[i]:7.2f}")


result = fit(net, X_tr, y_tr, X_val=X_va, y_val=y_va, lam=1e-4, alpha=0.1, epochs=epochs,
             batch_size=1, patience=5, seed=0, progress=False, callback=report)

acc = accuracy(net, result.params, X_va, y_va)
print(f"\nbest epoch {result.best_epoch}: validation accuracy {acc:.1%} "
      f"({round(acc * len(y_va))}/{len(y_va)})")

pred = predict(net, result.params, X_va)
confusion = np.zeros((10, 10), dtype=int)
np.add.at(confusion, (y_va, pred), 1)
print("\nconfusion matrix (rows: true digit, columns: predicted)")
print("     " + " ".join(f"{d:3d}" for d in range(10)))
for d in range(10):
    print(f"{d:3d}  " + " ".join(f"{c:3d}" if c else "  ." for c in confusion[d]))
