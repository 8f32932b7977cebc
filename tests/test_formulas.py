"""Printed gradients: the textbook's backpropagation form, pinned."""

from __future__ import annotations

import sympy as sp

import symnet
from symnet.nn import MLP

n0, n1, n2, n3 = sp.symbols("n0 n1 n2 n3", integer=True, positive=True)

EXPECTED_TEXT = """\
z1 = W1*X + b1*1
a1 = logistic(z1)
z2 = W2*a1 + b2*1
a2 = logistic(z2)
z3 = W3*a2 + b3*1
a3 = softmax(z3)
delta3 = 1/m*(a3 - Y)
delta2 = HadamardProduct(a2, W3.T*delta3, -a2 + 1)
delta1 = HadamardProduct(a1, W2.T*delta2, -a1 + 1)
dL/dW1 = lambda*W1 + delta1*X.T
dL/db1 = delta1*1
dL/dW2 = lambda*W2 + delta2*a1.T
dL/db2 = delta2*1
dL/dW3 = lambda*W3 + delta3*a2.T
dL/db3 = delta3*1"""


def _two_hidden():
    net = MLP([n0, n1, n2, n3], "logistic")
    return net, symnet.grad(net.risk(), net.params)


def test_delta_form_text():
    """delta^(L) = y_hat - y, delta^(l) = f'(z^(l)) o W^(l+1)T delta^(l+1),
    dL/dW = delta a^T + lambda W, dL/db = delta (eqs. 4.54-4.57), per batch."""
    _, grads = _two_hidden()
    assert str(grads) == EXPECTED_TEXT


def test_delta_form_latex():
    _, grads = _two_hidden()
    tex = grads.latex()
    assert r"\delta_{3} &= \frac{1}{m} \left(a_{3} - Y\right)" in tex
    assert (r"\delta_{2} &= a_{2} \circ \left(W_{3}^{T} \delta_{3}\right) \circ "
            r"\left(- a_{2} + 1\right)") in tex
    assert r"\frac{\partial L}{\partial W_{1}} &= \lambda W_{1} + \delta_{1} X^{T}" in tex
    assert grads._repr_latex_().startswith("$\\begin{aligned}")


def test_pretty_has_symbolic_shapes_and_unicode():
    net, grads = _two_hidden()
    text = grads.pretty()
    assert "δ₂" in text and "σ(z₁)" in text and "softmax(z₃)" in text
    assert net.params[0].shape == (n1, n0)
    assert grads[0].shape == (n1, n0) and grads[1].shape == (n1, 1)


def test_gradients_are_plain_sympy():
    """Items are ordinary SymPy expressions: subs / doit / latex work and the
    values agree with an explicit entry-by-entry evaluation."""
    net = MLP([2, 2, 2], "tanh")
    lam = sp.Symbol("lambda")
    R = net.risk(lam=lam)
    grads = symnet.grad(R, net.params)
    vals = {net.X: sp.Matrix([[0.5, -1.0], [2.0, 0.25]]),
            net.labels(): sp.Matrix([[1, 0], [0, 1]]),
            net.params[0]: sp.Matrix([[0.1, -0.2], [0.3, 0.4]]),
            net.params[1]: sp.Matrix([[0.05], [-0.05]]),
            net.params[2]: sp.Matrix([[0.7, -0.1], [0.2, 0.6]]),
            net.params[3]: sp.Matrix([[0.0], [0.1]]),
            lam: sp.Rational(1, 10)}
    dW1 = grads[0].subs({**vals, net.batch: 2}).doit()
    k = symnet.compile(list(grads), [net.X, net.labels(), lam, *net.params])
    num = k(*[sp.matrix2numpy(vals[s], dtype=float) if isinstance(vals[s], sp.MatrixBase)
              else float(vals[s]) for s in [net.X, net.labels(), lam, *net.params]])
    import numpy as np
    assert np.allclose(np.array(sp.Matrix(dW1).evalf(), dtype=float), num[0], rtol=1e-12)
    assert sp.latex(grads[0])


def test_textbook_worked_example():
    """Section 4.5.3: f(x; w, b) = sigma(wx + b) at x=1, w=0, b=0: df/dw = df/db = 1/4."""
    x, w, b = sp.symbols("x w b")
    dw, db = symnet.grad(symnet.logistic(w * x + b), [w, b])
    at = {x: 1, w: 0, b: 0}
    assert dw.subs(at) == sp.Rational(1, 4) and db.subs(at) == sp.Rational(1, 4)
    k = symnet.compile([dw, db], [x, w, b])
    assert [float(v) for v in k(1.0, 0.0, 0.0)] == [0.25, 0.25]


def test_scalar_gradient_is_compact():
    """Reverse mode on the scalar DAG: the derivative of a deep composition
    stays small (shared subexpressions), unlike naive expansion."""
    x = sp.Symbol("x")
    f = x
    for _ in range(12):
        f = sp.tanh(symnet.logistic(f) * x)
    (d,) = symnet.grad(f, [x])
    k = symnet.compile([d], [x])
    lines = [ln for ln in k.source.splitlines() if "=" in ln]
    assert len(lines) < 120
    h = 1e-6
    kf = symnet.compile([f], [x])
    num = (kf(0.3 + h)[0] - kf(0.3 - h)[0]) / (2 * h)
    assert abs(float(k(0.3)[0]) - num) < 1e-7
