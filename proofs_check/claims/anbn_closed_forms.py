"""Closed forms of the aⁿbⁿ distribution, derived symbolically and witnessed by ``exact/``.

* ``anbn-pcfg-closed-forms`` — for ``P(n) = (1 − ρ) ρ^(n−1)``: ``Σ P(n) = 1``,
  ``E[n] = 1/(1 − ρ)``, ``H = [−(1−ρ) ln(1−ρ) − ρ ln ρ]/(1 − ρ)``; written with
  ``ρ = 1/(1 + v)``, ``v > 0``, so SymPy knows ``0 < ρ < 1``.
* ``anbn-uniform-closed-forms`` — for ``n`` uniform on ``1..N``: the conditionals
  ``p(a | SOS aᵏ) = (N−k)/(N−k+1)``, ``p(b | SOS aᵏ) = 1/(N−k+1)`` (from
  ``S(k+1)/S(k)`` and ``P(k)/S(k)``), ``H = ln N`` and the padded floor
  ``ln N/(2N + 1)`` (docs/paper.md §4.2, §7).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np
import sympy as sp

from exact import AnbnDistribution, GeometricLength, TokenBatch, UniformLength
from proofs_check.claims.anbn import brute_force_cross_entropy
from proofs_check.registry import Check, Control, Outcome, claim
from proofs_check.symbolic import identity, tex
from proofs_check.symbols import N, k, n, v

RHO = 1 / (1 + v)
#: The rational ρ at which the closed forms are compared with exact/ (PAPER's PCFG example value).
RHO_WITNESS = sp.Rational(9, 10)


@functools.lru_cache(maxsize=8)
def _series(pmf: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """``Σ P(n)``, ``Σ n P(n)`` and ``−Σ P(n) ln P(n)`` over n ≥ 1 (cached: the sums are slow)."""
    total = sp.summation(pmf, (n, 1, sp.oo))
    mean = sp.summation(n * pmf, (n, 1, sp.oo))
    # ln P(n) expanded so that every series is geometric or arithmetico-geometric
    log_pmf = sp.expand_log(sp.log(pmf), force=True)
    return total, mean, -sp.summation(sp.expand(pmf * log_pmf), (n, 1, sp.oo))


def _pcfg(pmf: sp.Expr, entropy: sp.Expr) -> Check:
    total, mean, h = _series(pmf)
    at_sym = {v: sp.Rational(1, 9)}
    symbolic = {
        "Σ P(n) = 1": identity(total, sp.Integer(1), point=at_sym),
        "E[n] = 1/(1−ρ)": identity(mean, 1 / (1 - RHO), point=at_sym),
        "H = closed form": identity(h, entropy, point=at_sym),
    }
    # numeric witness at ρ = 9/10: the claimed pmf and entropy against exact/ (its log_pmf
    # summed directly; the tail beyond n = 2000 is ρ^2000 < 1e-91) and its entropy()
    law = GeometricLength(Fraction(RHO_WITNESS.p, RHO_WITNESS.q))
    n_vals = np.arange(1, 2001)
    logp = law.log_pmf(n_vals)
    at = {v: 1 / RHO_WITNESS - 1}
    claimed_pmf = sp.lambdify(n, pmf.subs(at), "math")
    pmf_dev = max(abs(claimed_pmf(int(j)) - math.exp(lp)) for j, lp in zip(n_vals[:50], logp[:50]))
    witness = {
        "ρ = 9/10: max |claimed P(n) − exact/ P(n)|, n ≤ 50": pmf_dev,
        "ρ = 9/10: series Σ P(n) (exact/)": math.fsum(np.exp(logp)),
        "ρ = 9/10: series Σ n P(n) (exact/)": math.fsum(n_vals * np.exp(logp)),
        "ρ = 9/10: closed-form E[n]": float((1 / (1 - RHO)).subs(at)),
        "ρ = 9/10: claimed H": float(entropy.subs(at)),
        "ρ = 9/10: series −Σ P ln P (exact/)": float(-np.sum(np.exp(logp) * logp)),
        "ρ = 9/10: exact/ GeometricLength.entropy()": law.entropy(),
    }
    ok = (
        pmf_dev < 1e-15
        and math.isclose(witness["ρ = 9/10: series Σ P(n) (exact/)"], 1.0, rel_tol=1e-13)
        and math.isclose(
            witness["ρ = 9/10: series Σ n P(n) (exact/)"], witness["ρ = 9/10: closed-form E[n]"], rel_tol=1e-12
        )
        and math.isclose(witness["ρ = 9/10: claimed H"], witness["ρ = 9/10: series −Σ P ln P (exact/)"], rel_tol=1e-12)
        and math.isclose(witness["ρ = 9/10: claimed H"], law.entropy(), rel_tol=1e-12)
    )
    return Check.all_of({**symbolic, "numeric witness": Check.numeric(ok, witness)})


@claim(
    id="anbn-pcfg-closed-forms",
    title="Normalisation, mean and entropy of the aⁿbⁿ PCFG",
    statement=r"For $S \to a\,S\,b\ (\rho) \mid a\,b\ (1-\rho)$: $P(n) = (1-\rho)\rho^{n-1}$ sums to 1, $\mathbb{E}[n] = \frac{1}{1-\rho}$ and $H = \frac{-(1-\rho)\ln(1-\rho) - \rho\ln\rho}{1-\rho}$.",
    method="sympy: infinite sums with ρ = 1/(1+v), v > 0, reduced against the closed forms; numeric witness at ρ = 9/10 from exact/ and a direct series",
    source="docs/paper.md §4.2; docs/official-code.md §6.1 (closed forms of aⁿbⁿ)",
)
def check_pcfg() -> Outcome:
    true_h = (-(1 - RHO) * sp.log(1 - RHO) - RHO * sp.log(RHO)) / (1 - RHO)
    return Outcome(
        check=_pcfg((1 - RHO) * RHO ** (n - 1), true_h),
        controls=(
            Control("the pmf with ρⁿ instead of ρⁿ⁻¹ (mass ρ < 1)", _pcfg((1 - RHO) * RHO**n, true_h)),
            Control("entropy without the 1/(1−ρ) factor", _pcfg((1 - RHO) * RHO ** (n - 1), true_h * (1 - RHO))),
        ),
    )


def _uniform(p_a: sp.Expr, p_b: sp.Expr, floor: sp.Expr) -> Check:
    j = sp.Symbol("j", integer=True, positive=True)
    sf = sp.Lambda(j, sp.summation(1 / N, (n, j, N)))  # P(n ≥ j) = Σ_{n=j}^{N} 1/N, derived
    h = sp.summation(-(1 / N) * sp.log(1 / N), (n, 1, N))
    targets = sp.summation(1, (n, 1, 2 * N + 1))  # positions 1..2N+1 after SOS in a padded row
    symbolic = {
        "p(a | SOS a^k) = S(k+1)/S(k)": identity(sf(k + 1) / sf(k), p_a, point={N: 9, k: 4}),
        "p(b | SOS a^k) = P(k)/S(k)": identity((1 / N) / sf(k), p_b, point={N: 9, k: 4}),
        "padded floor = H / #targets": identity(h / targets, floor, point={N: 128}),
    }
    # numeric witness at N = 128: every conditional of the numba kernel, and the floor against the
    # brute-force cross-entropy of p over the 128 padded training sequences (chain rule)
    n_val = 128
    p = AnbnDistribution(UniformLength(n_val))
    rows = p.next_token_probs(TokenBatch.from_strings(["a" * i for i in range(1, n_val + 1)])).require_defined()
    lam_a = sp.lambdify(k, p_a.subs(N, n_val), "math")
    lam_b = sp.lambdify(k, p_b.subs(N, n_val), "math")
    dev = max(max(abs(rows[i - 1, 0] - lam_a(i)), abs(rows[i - 1, 1] - lam_b(i))) for i in range(1, n_val + 1))
    floor_val = float(floor.subs(N, n_val))
    brute = brute_force_cross_entropy(n_val)[0]
    witness = {
        "N = 128: max |kernel − claimed conditional| over k": dev,
        "N = 128: claimed floor": floor_val,
        "N = 128: brute-force cross-entropy of p, padded": brute,
    }
    ok = dev <= 1e-13 and math.isclose(floor_val, brute, rel_tol=1e-12)
    return Check.all_of(
        {**symbolic, "numeric witness": Check.numeric(ok, witness)},
        **{"S(j) = Σ_{n=j}^N 1/N": tex(sf(j)), "H": tex(sp.expand_log(h, force=True)), "#targets": tex(targets)},
    )


@claim(
    id="anbn-uniform-closed-forms",
    title="Conditionals, entropy and padded floor of the uniform aⁿbⁿ law",
    statement=r"For $n$ uniform on $1..N$: $p(a\mid \mathrm{SOS}\,a^k) = \frac{N-k}{N-k+1}$, $p(b\mid \mathrm{SOS}\,a^k) = \frac{1}{N-k+1}$, $H = \ln N$, and the padded floor is $\frac{\ln N}{2N+1}$.",
    method="sympy: S(j) derived as a finite sum, S(k+1)/S(k) and P(k)/S(k) cancelled against the closed forms, H and the number of padded targets by finite sums; numeric witness: every conditional of the numba kernel at N = 128, and the floor against the brute-force cross-entropy of p on the 128 padded sequences",
    source="docs/paper.md §4.2, §7",
)
def check_uniform() -> Outcome:
    p_a, p_b = (N - k) / (N - k + 1), 1 / (N - k + 1)
    floor = sp.log(N) / (2 * N + 1)
    return Outcome(
        check=_uniform(p_a, p_b, floor),
        controls=(
            Control("p(a | SOS a^k) = (N−k+1)/(N−k+2) (off by one)", _uniform((N - k + 1) / (N - k + 2), p_b, floor)),
            Control("the official floor ln N / N", _uniform(p_a, p_b, sp.log(N) / N)),
        ),
    )


__all__ = ["check_pcfg", "check_uniform"]
