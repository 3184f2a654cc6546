"""Symbols shared by the symbolic checks, declared once with their assumptions."""

import sympy as sp

#: P(X2 = 0 | X1 = 1) in the two-variable example F0 (strictly inside (0, 1)).
r = sp.Symbol("r", positive=True)
#: Q(X2 = 1 | X1 = 0): the conditional on the zero-probability prefix, free in [0, 1].
t = sp.Symbol("t", nonnegative=True)

__all__ = ["r", "t"]
