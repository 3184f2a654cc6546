"""Symbols shared by the symbolic checks, declared once with their assumptions."""

from __future__ import annotations

import itertools

import sympy as sp

# F0 (two binary variables)
#: P(X2 = 0 | X1 = 1) in the two-variable example F0 (strictly positive).
r = sp.Symbol("r", positive=True)
#: Q(X2 = 1 | X1 = 0): the conditional on the zero-probability prefix, free in [0, 1].
t = sp.Symbol("t", nonnegative=True)

# A next-token row (p1, p2, p3) = (c + d, c, e) / (2c + d + e): p1 ≥ p2 > 0, p3 ≥ 0,
# normalised by construction, so no side constraint is needed.
c = sp.Symbol("c", positive=True)
d = sp.Symbol("d", nonnegative=True)
e = sp.Symbol("e", nonnegative=True)
#: A generic non-negative variable (e.g. ``z − 1`` or ``d/c``) for monotonicity arguments.
w = sp.Symbol("w", nonnegative=True)
#: Two probabilities of a row, for identities that hold for any positive values.
p1, p2, p3 = sp.symbols("p1 p2 p3", positive=True)
#: c_min = p2/(1 + f) with f ≥ 0 is any lower bound of the runner-up probability p2.
f = sp.Symbol("f", nonnegative=True)

# Laws of n
#: ρ = 1/(1 + v) with v > 0 is exactly 0 < ρ < 1 (an assumption SymPy can use).
v = sp.Symbol("v", positive=True)
n = sp.Symbol("n", integer=True, positive=True)
N = sp.Symbol("N", integer=True, positive=True)
k = sp.Symbol("k", integer=True, positive=True)
#: Shot count and the constant ln(1/c_min) of the ε-bound.
shots = sp.Symbol("n_shots", integer=True, positive=True)
C = sp.Symbol("C", positive=True)

# F3 (ReLU rescaling, SGD, LayerNorm)
alpha = sp.Symbol("alpha", positive=True)
eta = sp.Symbol("eta", positive=True)
eps = sp.Symbol("epsilon", positive=True)
#: A two-layer ReLU net f = W2 relu(W1 x) with loss (f − y)², and the same shapes for its copy.
W1 = sp.Matrix(2, 2, sp.symbols("w1_11 w1_12 w1_21 w1_22", real=True))
W2 = sp.Matrix(1, 2, sp.symbols("w2_11 w2_12", real=True))
V1 = sp.Matrix(2, 2, sp.symbols("v1_11 v1_12 v1_21 v1_22", real=True))
V2 = sp.Matrix(1, 2, sp.symbols("v2_11 v2_12", real=True))
X = sp.Matrix(2, 1, sp.symbols("x1 x2", real=True))
Y = sp.Symbol("y", real=True)
#: A LayerNorm input vector and a positive scale.
H = sp.symbols("h1:4", real=True)
SCALE_S = sp.Symbol("s", positive=True)
#: Prompt masses p(s) ≥ 0 and swap costs k_s of the ε-bound (three prompts).
masses = sp.symbols("m1:4", nonnegative=True)
swap_costs = sp.symbols("k1:4", real=True)


def binary_ar(tag: str, depth: int) -> dict[tuple[int, ...], sp.Symbol]:
    """``{prefix: P(next = 1 | prefix)}`` for every binary prefix of length < depth (positive symbols)."""
    return {
        pre: sp.Symbol(f"{tag}_{''.join(map(str, pre)) or 'root'}", positive=True)
        for L in range(depth)
        for pre in itertools.product((0, 1), repeat=L)
    }


__all__ = [
    "C",
    "H",
    "N",
    "V1",
    "V2",
    "W1",
    "W2",
    "X",
    "Y",
    "alpha",
    "binary_ar",
    "c",
    "d",
    "e",
    "eps",
    "eta",
    "f",
    "k",
    "masses",
    "n",
    "p1",
    "p2",
    "p3",
    "r",
    "SCALE_S",
    "shots",
    "swap_costs",
    "t",
    "v",
    "w",
]
