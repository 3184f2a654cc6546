"""The proof methods shared by the symbolic claims (SymPy's best practices: no
``simplify`` in programs, no branching on relationals, exact ``Rational`` constants).

* :func:`identity` — ``lhs − rhs`` reduced to 0 by ``expand_log`` (logs of
  probabilities, assumed positive), ``expand`` and ``cancel``. A non-zero
  residual is also evaluated at a rational point, so a rejection is backed by a
  number and not only by a failure to simplify.
* :func:`nonnegative` — an expression is ``≥ 0`` when SymPy's assumption system
  answers ``True`` for every factor (three-valued: ``None`` is not a proof).
* :func:`monotone_from_zero` — ``g(w) ≥ 0`` for ``w ≥ 0`` from ``g(0) = 0`` and
  ``g'(w) ≥ 0`` (derivative sign by :func:`nonnegative`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sympy as sp

from proofs_check.registry import Check

__all__ = ["identity", "monotone_from_zero", "nonnegative", "reduce", "tex"]


def tex(expr: sp.Basic) -> str:
    """LaTeX of an expression, wrapped in ``$…$`` for the Markdown report."""
    return f"${sp.latex(expr)}$"


def reduce(expr: sp.Expr) -> sp.Expr:
    """The targeted reduction used for identities.

    Each log's argument is put over one denominator (``together``, so ``log(1 + d/c)``
    and ``log((c + d)/c)`` meet), logs of products and quotients are split
    (``expand_log``, the arguments being probabilities, i.e. positive), then the
    polynomial in the logs is expanded and cancelled.
    """
    normalised = expr.replace(lambda x: isinstance(x, sp.log), lambda x: sp.log(sp.together(x.args[0])))
    return sp.cancel(sp.expand(sp.expand_log(normalised, force=True)))


def identity(
    lhs: sp.Expr, rhs: sp.Expr, *, point: Mapping[sp.Symbol, Any] | None = None, **evidence: Any
) -> Check:
    """Check ``lhs = rhs`` by reducing the difference to zero.

    Parameters
    ----------
    point : mapping of symbols to exact values, optional
        Where to evaluate a non-zero residual as a numeric witness.
    evidence : extra key/value pairs for the record.
    """
    residual = reduce(lhs - rhs)
    ok = residual == 0
    out: dict[str, Any] = {**evidence, "lhs": tex(lhs), "rhs": tex(rhs), "lhs − rhs after reduction": tex(residual)}
    if not ok and point is not None:  # a number showing the difference is real, not unsimplified
        out["residual at a rational point"] = str(sp.N(residual.subs(dict(point)), 20))
    return Check(bool(ok), out)


def nonnegative(expr: sp.Expr) -> bool:
    """True only if SymPy proves every factor of ``expr`` non-negative from the assumptions."""
    factors = sp.Mul.make_args(sp.factor_terms(expr))
    return all(f.is_nonnegative is True for f in factors)


def monotone_from_zero(g: sp.Expr, w: sp.Symbol, **evidence: Any) -> Check:
    """``g(w) ≥ 0`` for ``w ≥ 0`` by ``g(0) = 0`` and a non-negative derivative."""
    at_zero = reduce(g.subs(w, 0))
    derivative = sp.factor(sp.cancel(sp.diff(g, w)))
    ok = at_zero == 0 and nonnegative(derivative)
    return Check(
        bool(ok),
        {**evidence, "g(w)": tex(g), "g(0)": tex(at_zero), "g'(w)": tex(derivative), "g'(w) ≥ 0 proved": nonnegative(derivative)},
    )
