"""Exercises 4-1 and 4-2, answered by experiment.

4-1  Why are the biases not regularized?
     A bias only shifts a unit's output; it does not make the function more sensitive to
     its input, so penalizing it does nothing against overfitting. It only pulls the
     output towards an arbitrary origin. Here a linear unit is fitted to y = 2x + c + noise
     by gradient descent on two hand-built risks, mean squared error plus
     (λ/2)‖W‖² (the textbook's, weights only) or (λ/2)(‖W‖² + ‖b‖²) (biases too). With the
     weights-only penalty the fit is the same whatever the shift c. With the biases
     penalized, the bias falls short of c, the slope is distorted, and the training error
     grows with c.

4-2  Why not start from all-zero weights?
     With all weights zero, every hidden unit computes the same value and receives the
     same δ, so every update keeps them equal: the symmetry never breaks and the hidden
     layer acts as one unit. A 64-16-10 logistic network is trained on the digits by
     minibatch SGD from zero weights and from N(0, 1/fan_in) weights. With zero weights
     the rows of W⁽¹⁾ stay identical (spread across units 0) and the accuracy is poor. With
     tanh units it is worse: tanh(0) = 0, so ∂R/∂W⁽²⁾ = δ⁽²⁾a⁽¹⁾ᵀ = 0 and
     δ⁽¹⁾ = f′(z⁽¹⁾) ⊙ W⁽²⁾ᵀδ⁽²⁾ = 0, and no weight ever moves; only the output biases learn.

``symnet.train.fit`` always starts from its own random initialization, so the training
loops here are written out with ``symnet.compile_grad``.

Run: python examples/exercises_4_1_4_2.py
"""

import numpy as np

import symnet
from symnet.data import load_digits, reference_split
from symnet.nn import MLP, l2_penalty
from symnet.train import accuracy, init_params


def gradient_descent(step, params, batches, alpha, epochs=1):
    """theta <- theta - alpha * dR/dtheta for every batch (X, Y) of ``batches(epoch)``."""
    params = [p.copy() for p in params]
    for epoch in range(epochs):
        for X, Y in batches(epoch):
            grads = step(X, Y, *params)[1:]
            for p, g in zip(params, grads, strict=True):
                p -= alpha * g
    return params


# ------------------------------------------------------------------ exercise 4-1

print("Exercise 4-1: penalizing the biases")
net = MLP([1, 1], output="linear")                 # y_hat = W1 x + b1
Y = net.labels("squared_error")
lam = 0.1
biases = [b for layer in net.layers for b in layer.biases]
loss = net.loss("squared_error")
penalties = {"weights only": l2_penalty(net.weights, lam),
             "weights + biases": l2_penalty(net.weights + biases, lam)}
risks = {name: loss + penalty for name, penalty in penalties.items()}
for name, penalty in penalties.items():
    print(f"  risk = mean squared error + {penalty}   ({name})")
inputs = [net.X, Y, *net.params]
steps = {name: symnet.compile_grad(r, net.params, inputs) for name, r in risks.items()}
evaluate = symnet.compile([loss], inputs)

rng = np.random.default_rng(0)
x = rng.uniform(-2, 2, size=(1, 100))              # samples are columns
noise = 0.3 * rng.standard_normal(x.shape)
start = list(init_params(net, seed=0).values())
print("\n  target y = 2x + c + noise, λ = 0.1; fitted by 300 gradient-descent steps")
print("   shift c | penalty           slope w   bias b   training loss (mean ½ squared error)")
mse = {}
for c in (0.0, 5.0, 20.0):
    y = 2 * x + c + noise
    for name, step in steps.items():
        W, b = gradient_descent(step, start, lambda epoch, y=y: [(x, y)], alpha=0.3, epochs=300)
        mse[c, name] = float(evaluate(x, y, W, b)[0])
        print(f"  {c:8.1f} | {name:16s}  {W[0, 0]:7.3f}  {b[0, 0]:7.3f}   {mse[c, name]:.4f}")
print("  Weights only: the same slope and error for every c, and b follows c exactly.")
print("  Weights + biases: b is pulled towards 0, and the error grows with c "
      f"({mse[0.0, 'weights + biases']:.3f} -> {mse[20.0, 'weights + biases']:.3f}).")

# ------------------------------------------------------------------ exercise 4-2

print("\nExercise 4-2: all-zero initial weights")
X_tr, y_tr, X_va, y_va = reference_split(*load_digits())
X_cols = np.ascontiguousarray(X_tr.T)


def minibatches(epoch, size=10):
    """The training set in minibatches of 10 columns, in a new order every epoch."""
    order = np.random.default_rng(epoch).permutation(X_cols.shape[1])
    return [(X_cols[:, order[s:s + size]], y_tr[order[s:s + size]])
            for s in range(0, len(order), size)]


print("   hidden    init    | W1 row spread  distinct hidden units  validation accuracy")
results = {}
for act in ("logistic", "tanh"):
    net = MLP([64, 16, 10], act, output="softmax")
    step = symnet.compile_grad(net.risk(lam=1e-4), net.params,
                               [net.X, net.labels(), *net.params])
    names = [str(p) for p in net.params]
    inits = {"zero": {n: np.zeros_like(v) for n, v in init_params(net, 0).items()},
             "random": init_params(net, 0)}
    for init, p0 in inits.items():
        trained = gradient_descent(step, [p0[n] for n in names], minibatches, alpha=0.5,
                                   epochs=5)
        params = dict(zip(names, trained, strict=True))
        W1 = params["W1"]
        spread = float(np.ptp(W1, axis=0).max())   # largest difference between two units
        distinct = len(np.unique(W1.round(12), axis=0))
        acc = accuracy(net, params, X_va, y_va)
        results[act, init] = acc, spread
        print(f"   {act:8s}  {init:6s}  | {spread:13.3g}  {distinct:20d}  {acc:19.1%}")
        if init == "zero":
            moved = float(np.abs(W1).max())
            print(f"   {'':8s}  {'':6s}  |   (largest |W1| entry after training: {moved:.3g})")

print("  From zero weights all 16 hidden units stay copies of each other (spread 0): the")
print("  network has one hidden unit in effect. tanh units never move at all (W1 = 0).")
print("  Random initialization breaks the symmetry, and the same network learns the digits.")
