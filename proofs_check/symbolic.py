"""The proof methods shared by the symbolic claims (SymPy's best practices: no
``simplify`` in programs, no branching on relationals, exact ``Rational`` constants).

* :func:`identity` — ``lhs − rhs`` reduced to 0 by :func:`reduce`. A residual
  that does not reduce is evaluated at a rational point; only a non-zero value
  *refutes* the identity (otherwise it is merely unproved).
* :func:`nonnegative_terms` — ``expr ≥ 0`` because ``expr`` equals a sum of
  products (checked as an identity) whose every factor SymPy's assumption system
  proves non-negative (three-valued: ``None`` is not a proof). Refuted by a
  negative value at a sample point.
* :func:`monotone_from_zero` — ``g(w) ≥ 0`` for ``w ≥ 0`` from ``g(0) = 0`` and
  ``g'(w) ≥ 0``; refuted by a negative sample value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sympy as sp

from proofs_check.registry import Check

__all__ = ["identity", "monotone_from_zero", "nonnegative", "nonnegative_terms", "rational_point", "reduce", "tex"]


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


def rational_point(expr: sp.Expr) -> dict[sp.Symbol, sp.Rational]:
    """Distinct small rationals in (0, 1/2) for the free symbols (integers get 7, 10, 13, …)."""
    syms = sorted(expr.free_symbols, key=lambda s: s.name)
    return {
        s: (sp.Integer(7 + 3 * i) if s.is_integer else sp.Rational(i + 2, 4 * len(syms) + 9))
        for i, s in enumerate(syms)
    }


def _value(expr: sp.Expr, point: Mapping[sp.Symbol, Any]) -> sp.Expr:
    return sp.N(expr.subs(dict(point)), 30)


def identity(lhs: sp.Expr, rhs: sp.Expr, *, point: Mapping[sp.Symbol, Any] | None = None, **evidence: Any) -> Check:
    """Check ``lhs = rhs``: proved if the difference reduces to 0, refuted if it is non-zero at a point.

    Parameters
    ----------
    point : mapping of symbols to exact values, optional
        Where to evaluate a residual that does not reduce (default: :func:`rational_point`).
    evidence : extra key/value pairs for the record.
    """
    residual = reduce(lhs - rhs)
    out: dict[str, Any] = {**evidence, "lhs": tex(lhs), "rhs": tex(rhs), "lhs − rhs after reduction": tex(residual)}
    if residual == 0:
        return Check(True, out)
    value = _value(residual, point if point is not None else rational_point(residual))
    out["residual at a rational point"] = str(value)
    return Check(False, out, refuted=bool(value.is_number and abs(value) > 1e-25))


def nonnegative(expr: sp.Expr) -> bool:
    """True only if SymPy proves every factor of ``expr`` non-negative from the assumptions."""
    factors = sp.Mul.make_args(sp.factor_terms(expr))
    return all(f.is_nonnegative is True for f in factors)


def nonnegative_terms(
    expr: sp.Expr, terms: Sequence[sp.Expr], *, point: Mapping[sp.Symbol, Any] | None = None
) -> Check:
    """``expr ≥ 0`` via ``expr = Σ terms`` with every term a product of proven non-negative factors."""
    same = identity(expr, sp.Add(*terms))
    signs = {tex(term): nonnegative(term) for term in terms}
    value = _value(expr, point if point is not None else rational_point(expr))
    negative = bool(value.is_number and value < -1e-25)
    return Check(
        same.passed and all(signs.values()),
        {
            "expression": tex(expr),
            "equals Σ terms": same.passed,
            "term ≥ 0 proved": signs,
            "value at a rational point": str(value),
        },
        refuted=negative,
    )


def monotone_from_zero(g: sp.Expr, w: sp.Symbol, **evidence: Any) -> Check:
    """``g(w) ≥ 0`` for ``w ≥ 0`` by ``g(0) = 0`` and a non-negative derivative."""
    at_zero = reduce(g.subs(w, 0))
    derivative = sp.factor(sp.cancel(sp.diff(g, w)))
    samples = {str(x): _value(g, {w: x}) for x in (sp.Rational(1, 10), sp.Integer(1), sp.Integer(10))}
    ok = at_zero == 0 and nonnegative(derivative)
    refuted = any(v < 0 for v in samples.values()) or (at_zero.is_number and at_zero < 0)
    return Check(
        bool(ok),
        {
            **evidence,
            "g(w)": tex(g),
            "g(0)": tex(at_zero),
            "g'(w)": tex(derivative),
            "g'(w) ≥ 0 proved": nonnegative(derivative),
            "g at w = 1/10, 1, 10": {k: str(v) for k, v in samples.items()},
        },
        refuted=bool(refuted) and not ok,
    )
