"""The KL identities and inequalities behind every non-identifiability claim (docs/paper.md §2, §4.3, §4.4).

* ``KL-chain-rule`` — ``KL(p‖q) = Σ_t E_{x<t∼p} KL(p(·|x<t) ‖ q(·|x<t))`` for AR models.
* ``L1`` — changing ``q`` only on a prefix-free set ``S`` costs ``Σ_{s∈S} p(s) KL(p(·|s)‖q(·|s))``.
* ``L1-swap`` — swapping the top two probabilities costs ``(p1 − p2) ln(p1/p2)``, symmetric in p, q.
* ``L1-inequalities`` — (i) ``(p1−p2) ln(p1/p2) ≤ ln(p1/p2) ≤ ln(1/p2) ≤ ln(1/c_min)``,
  (ii) ``(p1−p2) ln(p1/p2) ≤ (p1−p2)²/p2``.
* ``F2-bound`` — ``KL(p‖q_n) ≤ P_p(S_n) ln(1/c_min)`` and ``ρⁿ ln(1/c_min) → 0``.

Symbolic models are binary AR models of depth 3 with every conditional a
positive symbol (:func:`proofs_check.symbols.binary_ar`); numeric witnesses come
from :mod:`exact.core.tabular` on the instance of docs/paper.md Appendix A.1 (V = 3, T = 4,
Dirichlet(1,1,1) conditionals from ``numpy.random.default_rng(0)``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import sympy as sp
from scipy.special import rel_entr

from exact.core.kl import kl_joint, kl_lemma_l1
from exact.core.tabular import TabularAR
from proofs_check.registry import Check, Control, Outcome, claim
from proofs_check.symbolic import (
    identity,
    monotone_from_zero,
    nonnegative,
    nonnegative_terms,
    tex,
)
from proofs_check.symbols import (
    C,
    binary_ar,
    c,
    d,
    e,
    f,
    masses,
    p1,
    p2,
    p3,
    shots,
    swap_costs,
    v,
    w,
)

Prefix = tuple[int, ...]
DEPTH = 3
#: docs/paper.md Appendix A.1, items 1, 5, 6 (stated to 14 digits).
A1_SWAP_KL = 0.37052133818341
A1_P_S = 0.3954620
A1_GENERAL_KL = 0.32316643309327


def _cond(table: dict[Prefix, sp.Symbol], prefix: Prefix, y: int) -> sp.Expr:
    return table[prefix] if y == 1 else 1 - table[prefix]


def _joint(table: dict[Prefix, sp.Symbol], x: Prefix) -> sp.Expr:
    return sp.Mul(*[_cond(table, x[:t], x[t]) for t in range(len(x))])


def _row_kl(p: dict[Prefix, sp.Symbol], q: dict[Prefix, sp.Symbol], s: Prefix) -> sp.Expr:
    return sp.Add(*[_cond(p, s, y) * sp.log(_cond(p, s, y) / _cond(q, s, y)) for y in (0, 1)])


def _kl_joint(p: dict[Prefix, sp.Symbol], q: dict[Prefix, sp.Symbol]) -> sp.Expr:
    return sp.Add(
        *[_joint(p, x) * sp.log(_joint(p, x) / _joint(q, x)) for x in itertools.product((0, 1), repeat=DEPTH)]
    )


def _point(*tables: dict[Prefix, sp.Symbol]) -> dict[sp.Symbol, sp.Rational]:
    """A rational point in (0, 1) for every symbol, to evaluate residuals."""
    symbols = [s for tbl in tables for s in tbl.values()]
    return {s: sp.Rational(i + 2, 2 * len(symbols) + 5) for i, s in enumerate(symbols)}


def _a1_model() -> tuple[TabularAR, list[Prefix], np.random.Generator]:
    rng = np.random.default_rng(0)
    p = TabularAR.from_dirichlet(3, 4, rng)
    S = [s for s in p.prefixes(2) if s[0] == 0]
    return p, S, rng


# ---------------------------------------------------------------------------- chain rule


def _chain_rule(weight: Callable[[dict, dict, Prefix], sp.Expr]) -> Check:
    p, q = binary_ar("p", DEPTH), binary_ar("q", DEPTH)
    rhs = sp.Add(*[weight(p, q, s) * _row_kl(p, q, s) for s in p])
    return identity(
        _kl_joint(p, q), rhs, point=_point(p, q), model="binary alphabet, 3 steps, 14 symbolic conditionals"
    )


def _chain_rule_witness() -> Check:
    """Two unrelated random AR models over 3 tokens, depth 4: brute-force joint KL vs the chain-rule sum."""
    rng = np.random.default_rng(2024)
    p, q = TabularAR.from_dirichlet(3, 4, rng), TabularAR.from_dirichlet(3, 4, rng)
    brute = kl_joint(p, q)
    chain = math.fsum(p.prefix_prob(s) * float(rel_entr(p.rows[s], q.rows[s]).sum()) for s in p.prefixes())
    return Check.numeric(
        math.isclose(brute, chain, rel_tol=1e-12),
        {"V = 3, T = 4 random p, q: brute-force KL over 81 sequences": brute, "chain-rule sum over 40 prefixes": chain},
    )


@claim(
    id="KL-chain-rule",
    title="Chain rule of KL for autoregressive models",
    statement=r"$\mathrm{KL}(p\|q) = \sum_{t=1}^{T} \mathbb{E}_{x_{<t}\sim p}\,\mathrm{KL}(p(\cdot|x_{<t})\,\|\,q(\cdot|x_{<t}))$ for any two AR models on a finite alphabet.",
    method="sympy: joint KL minus the chain-rule sum reduced to 0 by expand_log, expand and cancel (binary alphabet, T = 3, all conditionals symbolic); numeric witness: brute force over all 3^4 sequences of two random AR models",
    source="docs/paper.md §2",
)
def check_chain_rule() -> Outcome:
    return Outcome(
        check=Check.all_of(
            {"symbolic": _chain_rule(lambda p, q, s: _joint(p, s)), "numeric witness": _chain_rule_witness()}
        ),
        controls=(
            Control("prefix weights q(x<t) instead of p(x<t)", _chain_rule(lambda p, q, s: _joint(q, s))),
            Control("the first step's term left out", _chain_rule(lambda p, q, s: _joint(p, s) if s else 0)),
        ),
    )


# ---------------------------------------------------------------------------- Lemma L1

S_L1: list[Prefix] = [(0,), (1, 0)]  # prefix-free, at two depths


def _lemma_l1(term: Callable[[dict, dict, Prefix], sp.Expr]) -> Check:
    p = binary_ar("p", DEPTH)
    new = binary_ar("q", DEPTH)
    q = {s: (new[s] if s in S_L1 else p[s]) for s in p}  # q = p except at S
    lhs = _kl_joint(p, q)
    rhs = sp.Add(*[term(p, q, s) for s in S_L1])
    return identity(lhs, rhs, point=_point(p, new), S=str(S_L1))


def _a1_general() -> dict[str, object]:
    p, S, rng = _a1_model()
    q = p.with_rows({s: rng.dirichlet(np.ones(3)) for s in S})  # continue the same generator
    brute, formula = kl_joint(p, q), kl_lemma_l1(p, q, S)
    # the second half of L1: KL ≤ P(S) · sup_s KL(p(·|s) ‖ q(·|s))
    sup_bound = sum(p.prefix_prob(s) for s in S) * max(float(rel_entr(p.rows[s], q.rows[s]).sum()) for s in S)
    return {
        "A.1 item 6: brute force": brute,
        "A.1 item 6: L1 formula": formula,
        "A.1 item 6: paper": A1_GENERAL_KL,
        "A.1 item 6: P(S)·sup_s KL_s": sup_bound,
        "numeric witness agrees (rel 1e-12)": math.isclose(brute, formula, rel_tol=1e-12)
        and math.isclose(brute, A1_GENERAL_KL, rel_tol=1e-12)
        and brute <= sup_bound,
    }


@claim(
    id="L1",
    title="Lemma L1: the cost of changing a model on a prefix-free set",
    statement=r"If $q = p$ except at the next-token conditionals of a prefix-free set $S$, then $\mathrm{KL}(p\|q) = \sum_{s\in S} p(s)\,\mathrm{KL}(p(\cdot|s)\|q(\cdot|s))$.",
    method=(
        "sympy: identity for S = {0, 10} in a depth-3 binary AR model, reduced to 0; numeric witness: "
        "brute force over all 3^4 sequences = formula on docs/paper.md A.1 (conditionals on S redrawn)"
    ),
    source="docs/paper.md §4.3, Appendix A.1 item 6",
)
def check_lemma_l1() -> Outcome:
    sym = _lemma_l1(lambda p, q, s: _joint(p, s) * _row_kl(p, q, s))
    witness = _a1_general()
    check = Check(sym.passed and bool(witness["numeric witness agrees (rel 1e-12)"]), {**sym.evidence, **witness})
    return Outcome(
        check=check,
        controls=(
            Control("the factor p(s) left out", _lemma_l1(lambda p, q, s: _row_kl(p, q, s))),
            Control(
                "arguments swapped: KL(q(·|s) ‖ p(·|s))", _lemma_l1(lambda p, q, s: _joint(p, s) * _row_kl(q, p, s))
            ),
        ),
    )


# ---------------------------------------------------------------------------- swap identity


def _swap_kl(first: tuple[sp.Expr, ...], second: tuple[sp.Expr, ...]) -> sp.Expr:
    return sp.Add(*[a * sp.log(a / b) for a, b in zip(first, second)])


def _swap_numeric() -> dict[str, object]:
    p, S, _ = _a1_model()
    q = p.swap_top_two(S)
    brute, reverse, formula = kl_joint(p, q), kl_joint(q, p), kl_lemma_l1(p, q, S)
    flips = sum(int(np.argmax(q.rows[s]) != np.argmax(p.rows[s])) for s in S)
    mass = sum(p.prefix_prob(s) for s in S)
    # Length convention: one more step (same draws, then extra rows equal in p and q) leaves the KL unchanged.
    longer = TabularAR.from_dirichlet(3, 5, np.random.default_rng(0))
    brute_t5 = kl_joint(longer, longer.swap_top_two(S))
    ok = (
        math.isclose(brute, formula, rel_tol=1e-12)
        and math.isclose(brute, reverse, rel_tol=1e-12)
        and math.isclose(brute, A1_SWAP_KL, rel_tol=1e-12)
        and abs(mass - A1_P_S) < 1e-7
        and flips == len(S)
        and math.isclose(brute_t5, brute, rel_tol=1e-12)
    )
    return {
        "A.1: KL(p‖q) brute force": brute,
        "A.1: Σ p(s)(p1−p2)ln(p1/p2)": formula,
        "A.1: KL(q‖p) brute force": reverse,
        "A.1: paper": A1_SWAP_KL,
        "A.1: P(S)": mass,
        "A.1: argmax flips": f"{flips}/{len(S)}",
        "A.1 with T = 5 instead of 4: KL(p‖q)": brute_t5,
        "numeric witness agrees": ok,
    }


def _swap(identity_rhs: sp.Expr, q_row: tuple[sp.Expr, sp.Expr, sp.Expr]) -> Check:
    p_row = (p1, p2, p3)
    at = {p1: sp.Rational(1, 2), p2: sp.Rational(1, 3), p3: sp.Rational(1, 6)}
    return Check.all_of(
        {
            "KL(p‖q)": identity(_swap_kl(p_row, q_row), identity_rhs, point=at),
            "KL(q‖p) (symmetry)": identity(_swap_kl(q_row, p_row), identity_rhs, point=at),
        }
    )


@claim(
    id="L1-swap",
    title="Swapping the top two probabilities: identity and symmetry",
    statement=r"For $q(\cdot|s)$ equal to $p(\cdot|s)$ with $p_1$ and $p_2$ exchanged, $\mathrm{KL}(p(\cdot|s)\|q(\cdot|s)) = \mathrm{KL}(q(\cdot|s)\|p(\cdot|s)) = (p_1-p_2)\ln(p_1/p_2)$; on docs/paper.md A.1, KL = 0.37052133818341 in both directions and every argmax flips.",
    method="sympy: both directions reduced to the closed form (third entry kept symbolic); numeric witness: brute force over 3^4 sequences vs the L1 formula and the paper's value",
    source="docs/paper.md §4.3 (swap identity, (iii)), Appendix A.1 items 1 and 5",
)
def check_swap() -> Outcome:
    closed = (p1 - p2) * sp.log(p1 / p2)
    sym = _swap(closed, (p2, p1, p3))
    witness = _swap_numeric()
    return Outcome(
        check=Check(sym.passed and bool(witness["numeric witness agrees"]), {**sym.evidence, **witness}),
        controls=(
            Control("a wrong closed form (p1 + p2) ln(p1/p2)", _swap((p1 + p2) * sp.log(p1 / p2), (p2, p1, p3))),
            Control(
                "not a swap: p1 ↔ p3 exchanged instead (KL is then (p1−p3)ln(p1/p3), and the claimed form fails)",
                _swap(closed, (p3, p2, p1)),
            ),
        ),
    )


# ---------------------------------------------------------------------------- inequalities

# The row (p1, p2, p3) = (c + d, c, e)/Z with Z = 2c + d + e: p1 ≥ p2 > 0 by construction,
# and c_min = p2/(1 + f) with f ≥ 0 is any lower bound of p2.
_Z = 2 * c + d + e
_P1, _P2 = (c + d) / _Z, c / _Z
_CMIN = _P2 / (1 + f)
_SWAP = (_P1 - _P2) * sp.log(_P1 / _P2)
_POINT = {c: sp.Rational(1, 3), d: sp.Rational(1, 4), e: sp.Rational(1, 5), f: sp.Rational(1, 7), w: sp.Rational(1, 2)}

#: name → (smaller side, larger side, the terms whose sum is larger − smaller, each a product of factors ≥ 0)
INEQUALITIES: dict[str, tuple[sp.Expr, sp.Expr, tuple[sp.Expr, ...]]] = {
    "(i.a) swap ≤ ln(p1/p2)": (_SWAP, sp.log(_P1 / _P2), ((2 * c + e) / _Z * sp.log(1 + d / c),)),
    "(i.b) ln(p1/p2) ≤ ln(1/p2)": (sp.log(_P1 / _P2), sp.log(1 / _P2), (sp.log(1 + (c + e) / (c + d)),)),
    "(i.c) ln(1/p2) ≤ ln(1/c_min)": (sp.log(1 / _P2), sp.log(1 / _CMIN), (sp.log(1 + f),)),
}


def _ineq(small: sp.Expr, large: sp.Expr, terms: tuple[sp.Expr, ...]) -> Check:
    return nonnegative_terms(large - small, terms, point=_POINT)


def _ineq_ii(scale: sp.Expr) -> Check:
    """(ii) with the bound scaled: swap ≤ scale·(p1−p2)²/p2 (scale = 1 is the claim)."""
    # difference = (p1 − p2)·g(d/c) with g(w) = scale·w − ln(1 + w)
    g = scale * w - sp.log(1 + w)
    factored = identity(scale * (_P1 - _P2) ** 2 / _P2 - _SWAP, (_P1 - _P2) * g.subs(w, d / c), point=_POINT)
    mono = monotone_from_zero(g, w)
    return Check(
        factored.passed and nonnegative(_P1 - _P2) and mono.passed,
        {"difference = (p1−p2)·g(d/c)": factored.evidence, "g(w) ≥ 0 for w ≥ 0 (g(0) = 0, g' ≥ 0)": mono.evidence},
        refuted=factored.refuted or mono.refuted,
    )


def _inequalities(reverse: str | None = None) -> Check:
    """All of (i) and (ii); ``reverse`` names one inequality to claim the wrong way round (a control)."""
    parts = {}
    for name, (small, large, terms) in INEQUALITIES.items():
        parts[name] = _ineq(large, small, tuple(-t for t in terms)) if name == reverse else _ineq(small, large, terms)
    parts["(ii) swap ≤ (p1−p2)²/p2"] = _ineq_ii(sp.Rational(1, 2) if reverse == "(ii)" else sp.Integer(1))
    return Check.all_of(parts)


def _inequality_witness() -> dict[str, object]:
    """The inequalities on every swapped row of docs/paper.md A.1."""
    p, S, _ = _a1_model()
    worst: dict[str, float] = {"(i) slack min": math.inf, "(ii) slack min": math.inf}
    for s in S:
        a, b = sorted(p.rows[s])[::-1][:2]
        swap = (a - b) * math.log(a / b)
        worst["(i) slack min"] = min(worst["(i) slack min"], math.log(a / b) - swap, math.log(1 / b) - math.log(a / b))
        worst["(ii) slack min"] = min(worst["(ii) slack min"], (a - b) ** 2 / b - swap)
    return {**worst, "numeric witness holds": all(x >= 0 for x in worst.values())}


@claim(
    id="L1-inequalities",
    title="Inequalities (i) and (ii) of Lemma L1",
    statement=r"For $p_1 \ge p_2 \ge c_{\min} > 0$: (i) $(p_1-p_2)\ln\frac{p_1}{p_2} \le \ln\frac{p_1}{p_2} \le \ln\frac{1}{p_2} \le \ln\frac{1}{c_{\min}}$; (ii) $(p_1-p_2)\ln\frac{p_1}{p_2} \le \frac{(p_1-p_2)^2}{p_2}$.",
    method=(
        "row parametrised as (c+d, c, e)/(2c+d+e) and c_min = p2/(1+f) with c > 0, d, e, f ≥ 0; (i): each difference "
        "shown equal to a product whose factors SymPy proves ≥ 0 from the assumptions; (ii): difference = "
        "(p1−p2)·g(d/c) with g(w) = w − ln(1+w), g(0) = 0 and g'(w) = w/(1+w) ≥ 0 (i.e. ln z ≤ z − 1)"
    ),
    source="docs/paper.md §4.3 (i), (ii)",
)
def check_inequalities() -> Outcome:
    sym = _inequalities()
    witness = _inequality_witness()
    controls = tuple(
        Control(f"{name} claimed the other way round", _inequalities(reverse=name)) for name in INEQUALITIES
    )
    return Outcome(
        check=Check(sym.passed and bool(witness["numeric witness holds"]), {**sym.evidence, **witness}),
        controls=(
            *controls,
            Control("(ii) with the bound halved: swap ≤ (p1−p2)²/(2 p2)", _inequalities(reverse="(ii)")),
        ),
    )


# ---------------------------------------------------------------------------- the ε-bound


def _bound(constant: sp.Expr, terms: tuple[sp.Expr, ...], rho: sp.Expr, point: dict | None = None) -> Check:
    """KL(p‖q_n) = Σ m_s k_s ≤ P(S)·constant, and ρ^n·ln(1/c_min) → 0.

    ``k_s = (p1−p2) ln(p1/p2) ≤ constant`` is shown per prompt as a sum of proven
    non-negative ``terms`` (and tested numerically at ``point``).
    """
    per_prompt = nonnegative_terms(constant - _SWAP, terms, point=point or _POINT)
    # Σ_s m_s (constant − k_s) with m_s ≥ 0: the per-prompt gaps (symbols kept ≥ 0 by the step above)
    gap = sp.Add(*masses) * constant - sp.Add(*[m * ks for m, ks in zip(masses, swap_costs)])
    as_sum = identity(gap, sp.Add(*[m * (constant - ks) for m, ks in zip(masses, swap_costs)]))
    limit = sp.limit(rho**shots * C, shots, sp.oo)
    limit_check = Check(
        limit == 0,
        {"ρ": tex(rho), "lim_{n→∞} ρ^n ln(1/c_min)": tex(limit)},
        refuted=bool(limit.is_number and limit != 0),
    )  # an unevaluated Limit is not a refutation
    return Check.all_of(
        {
            "k_s ≤ constant for every prompt": per_prompt,
            "P(S)·constant − KL = Σ m_s (constant − k_s), m_s ≥ 0": as_sum,
            "vanishing bound": limit_check,
        },
        constant=tex(constant),
    )


#: ln(1/c_min) − k_s = [ln(1/c_min) − ln(1/p2)] + [ln(1/p2) − ln(p1/p2)] + [ln(p1/p2) − k_s], by (i).
_TRUE_TERMS = tuple(t for _, _, ts in INEQUALITIES.values() for t in ts)


def _bound_witness() -> dict[str, object]:
    p, S, _ = _a1_model()
    q = p.swap_top_two(S)
    kl = kl_joint(p, q)
    c_min_value = min(sorted(p.rows[s])[-2] for s in S)
    bound = sum(p.prefix_prob(s) for s in S) * math.log(1 / c_min_value)
    return {"A.1: KL": kl, "A.1: P(S) ln(1/c_min)": bound, "numeric witness holds": kl <= bound}


@claim(
    id="F2-bound",
    title="The ε-bound on the swap construction vanishes with the prompt mass",
    statement=r"$\mathrm{KL}(p\|q_n) = \sum_{s\in S_n} p(s)\,k_s \le P_p(S_n)\ln\frac{1}{c_{\min}}$, because each swap cost $k_s = (p_1-p_2)\ln\frac{p_1}{p_2} \le \ln\frac1{c_{\min}}$ when $p_2 \ge c_{\min}$; if $P_p(S_n)\le\rho^n$ with $0<\rho<1$ then $\rho^n\ln\frac1{c_{\min}} \to 0$.",
    method=(
        "sympy: ln(1/c_min) − k_s shown equal to the three gaps of (i), each a product of factors proved ≥ 0 "
        "(row (c+d, c, e)/Z, c_min = p2/(1+f)); the sum over prompts is Σ m_s (ln(1/c_min) − k_s) with m_s ≥ 0; "
        "the limit with ρ = 1/(1+v), v > 0; numeric witness on docs/paper.md A.1"
    ),
    source="docs/paper.md §4.4.2 items 2 and 4",
)
def check_bound() -> Outcome:
    sym = _bound(sp.log(1 / _CMIN), _TRUE_TERMS, 1 / (1 + v))
    witness = _bound_witness()
    return Outcome(
        check=Check(sym.passed and bool(witness["numeric witness holds"]), {**sym.evidence, **witness}),
        controls=(
            Control(
                "the bound with ln(1/p1) (the top probability) in place of ln(1/c_min)",
                # p1 ≈ 0.99, p2 ≈ 0.0098 there: k_s ≈ 4.5 > ln(1/p1) ≈ 0.01
                _bound(
                    sp.log(1 / _P1),
                    (),
                    1 / (1 + v),
                    point={c: sp.Rational(1, 100), d: sp.Integer(1), e: sp.Integer(0), f: sp.Rational(1, 7)},
                ),
            ),
            Control("ρ = 1 + v > 1 (prompts not getting rarer)", _bound(sp.log(1 / _CMIN), _TRUE_TERMS, 1 + v)),
        ),
    )


__all__ = ["check_bound", "check_chain_rule", "check_inequalities", "check_lemma_l1", "check_swap"]
