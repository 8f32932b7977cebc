"""The computational graph of f(x; w, b) = σ(wx + b) and both modes of automatic
differentiation on it (textbook section 4.5.3, figure 4.7).

The formula is split into primitive nodes h1 = w·x, h2 = b + h1, h3 = σ(h2). Each node
knows its value at x = 1, w = 0, b = 0 and its local partial derivatives. Forward mode
pushes tangents ∂h/∂v from one input at a time (three sweeps for three inputs); reverse
mode pulls adjoints ∂f/∂h back from the output (one sweep for the one output). Both give
∂f/∂w = ∂f/∂b = 0.25, the same as the symbolic gradient of ``symnet.grad``.

Then the gradient is checked numerically at a less special point: one-sided differences
(eq. 4.58) have error O(Δx), central differences (eq. 4.59) O(Δx²), until floating-point
round-off takes over at tiny Δx.

Run: python examples/computational_graph.py
"""

import sympy as sp

import symnet
from symnet.explain import compare_gradients, computational_graph, modes_summary

x, w, b = sp.symbols("x w b")
f = symnet.logistic(w * x + b)
point = {x: 1, w: 0, b: 0}

graph = computational_graph(f, point)
print(graph)
print()
print(graph.modes_summary())

dw, db = symnet.grad(f, [w, b])
print()
print(f"symnet.grad: ∂f/∂w = {dw}")
print(f"             ∂f/∂b = {db}")
print(f"at the point: ∂f/∂w = {dw.subs(point)}, ∂f/∂b = {db.subs(point)}")
for v in (w, b):
    assert graph.gradient[v] == graph.forward_gradient[v] == float(symnet.grad(f, v)[0].subs(point))

print()
print("The 64-32-10 digits network: its loss maps 2410 parameters to one number.")
print(modes_summary(64 * 32 + 32 + 32 * 10 + 10, 1))

print()
print(compare_gradients(f, [w], {x: 1.5, w: 0.5, b: -0.2}))
