"""F0 — autoregressive models → joints is many-to-one (docs/paper.md §4.1; Huszár 2023).

Two binary variables with ``P(X1 = 0) = 0``. Every AR model that reproduces the
joint has ``Q(X1 = 1) = 1`` and ``Q(X2 | X1 = 1) = P(X2 | X1 = 1)``; the
conditional ``Q(X2 = 1 | X1 = 0) = t`` is free. Checked symbolically with the
free parameter ``t`` kept as a symbol.
"""

from __future__ import annotations

import sympy as sp

from proofs_check.registry import Check, Control, Outcome, claim
from proofs_check.symbols import r, t


def _joint(q1: dict[int, sp.Expr], q2: dict[tuple[int, int], sp.Expr]) -> dict[tuple[int, int], sp.Expr]:
    """Joint of an AR model from ``Q(X1)`` and ``Q(X2 | X1)``."""
    return {(a, b): q1[a] * q2[(a, b)] for a in (0, 1) for b in (0, 1)}


def _kl(p: dict[tuple[int, int], sp.Expr], q: dict[tuple[int, int], sp.Expr]) -> sp.Expr:
    """``Σ_{p > 0} p ln(p/q)``; a cell with a structurally zero ``p`` contributes nothing."""
    return sp.Add(*[p[x] * sp.log(p[x] / q[x]) for x in p if p[x] != 0])


Q1, A_COND = sp.symbols("q_1 a", real=True)  # Q(X1=1) and Q(X2=0|X1=1), unknowns of the necessity step


def _necessity() -> list[dict[sp.Symbol, sp.Expr]]:
    """Every AR model whose joint is P: solve Q(x) = P(x) for Q(X1=1), Q(X2=0|X1=1) and t."""
    P = {(0, 0): sp.Integer(0), (0, 1): sp.Integer(0), (1, 0): r, (1, 1): 1 - r}
    Q = _joint({0: 1 - Q1, 1: Q1}, {(0, 0): 1 - t, (0, 1): t, (1, 0): A_COND, (1, 1): 1 - A_COND})
    return sp.solve([Q[x] - P[x] for x in P], [Q1, A_COND, t], dict=True)


def _check_f0(conditional_x1_is_1: sp.Expr) -> Check:
    """Does the AR model with ``Q(X2=0 | X1=1) = conditional_x1_is_1`` reproduce P, for every t?"""
    P = {(0, 0): sp.Integer(0), (0, 1): sp.Integer(0), (1, 0): r, (1, 1): 1 - r}
    q1 = {0: sp.Integer(0), 1: sp.Integer(1)}
    q2 = {(0, 0): 1 - t, (0, 1): t, (1, 0): conditional_x1_is_1, (1, 1): 1 - conditional_x1_is_1}
    Q = _joint(q1, q2)
    residuals = {f"{x}": sp.cancel(sp.expand(Q[x] - P[x])) for x in P}
    kl = sp.expand_log(_kl(P, Q), force=True)
    kl_zero = sp.cancel(kl) == 0
    # witness values at r = 1/3: the two extreme models t = 0 and t = 1
    at = {r: sp.Rational(1, 3)}
    kl_at = kl.subs(at)
    q_ood = [q2[(0, 1)].subs(t, v) for v in (0, 1)]
    at_point = {r: sp.Rational(1, 3), t: sp.Rational(1, 2)}
    return Check(
        passed=all(v == 0 for v in residuals.values()) and kl_zero and q_ood[0] != q_ood[1],
        refuted=any(v.subs(at_point) != 0 for v in residuals.values()),  # a joint entry differs at a point
        evidence={
            "joint residuals Q - P": {k: str(v) for k, v in residuals.items()},
            "KL(P||Q_t)": str(sp.cancel(kl)),
            "KL at r=1/3": f"{kl_at} = {float(sp.N(kl_at, 30)):.6g}",
            "Q1(X2=1|X1=0), Q2(X2=1|X1=0)": [str(v) for v in q_ood],
            "free parameter": "t = Q(X2=1|X1=0) in [0, 1]",
        },
    )


@claim(
    id="F0",
    title="AR models to joints is many-to-one",
    statement=(
        r"With $P(X_1=0)=0$, every AR model $Q$ with $Q(X_1=1)=1$ and $Q(X_2|X_1=1)=P(X_2|X_1=1)$ has "
        r"joint $P$ and $\mathrm{KL}(P\|Q)=0$ for every value $t$ of the OOD conditional "
        r"$Q(X_2=1|X_1=0)$; $Q_1$ ($t=0$) and $Q_2$ ($t=1$) differ there."
    ),
    method="sympy: every AR model consistent with P by solving Q(x) = P(x) (t stays free); joint residuals reduced to 0 by cancel/expand and KL by expand_log and cancel with t symbolic",
    source="docs/paper.md §4.1 (Huszár 2023)",
)
def check_f0() -> Outcome:
    solutions = _necessity()
    # the solution set is exactly {Q(X1=1) = 1, Q(X2=0|X1=1) = r}, t left free
    necessary = solutions == [{Q1: sp.Integer(1), A_COND: r}]
    sufficiency = _check_f0(r)
    return Outcome(
        check=Check(
            sufficiency.passed and necessary,
            {
                **sufficiency.evidence,
                "all solutions of Q(x) = P(x) for (Q(X1=1), Q(X2=0|X1=1), t)": str(solutions),
                "exactly Q(X1=1) = 1, Q(X2=0|X1=1) = r, t free": necessary,
            },
        ),
        controls=(
            Control("Q(X2=0|X1=1) changed from r to (1+r)/2 (an in-support conditional)", _check_f0((1 + r) / 2)),
        ),
    )
