"""Closed forms of the aⁿbⁿ distribution, derived symbolically and witnessed by ``exact/``.

* ``anbn-pcfg-closed-forms`` — for ``P(n) = (1 − ρ) ρ^(n−1)``: ``Σ P(n) = 1``,
  ``E[n] = 1/(1 − ρ)``, ``H = [−(1−ρ) ln(1−ρ) − ρ ln ρ]/(1 − ρ)``; written with
  ``ρ = 1/(1 + v)``, ``v > 0``, so SymPy knows ``0 < ρ < 1``.
* ``anbn-uniform-closed-forms`` — for ``n`` uniform on ``1..N``: the conditionals
  ``p(a | SOS aᵏ) = (N−k)/(N−k+1)``, ``p(b | SOS aᵏ) = 1/(N−k+1)`` (from
  ``S(k+1)/S(k)`` and ``P(k)/S(k)``), ``H = ln N`` and the padded floor
  ``ln N/(2N + 1)`` (PAPER.md §4.2, §7).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp

from exact import AnbnDistribution, GeometricLength, TokenBatch, UniformLength
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
    norm = identity(total, sp.Integer(1), point={v: sp.Rational(1, 9)})
    mean_ok = identity(mean, 1 / (1 - RHO), point={v: sp.Rational(1, 9)})
    ent = identity(h, entropy, point={v: sp.Rational(1, 9)})
    # numeric witness: exact/ (float closed form) and a direct series over the exact log-pmf
    law = GeometricLength(str(RHO_WITNESS))
    terms = np.arange(1, 2000)
    logp = law.log_pmf(terms)
    series_h = float(-np.sum(np.exp(logp) * logp))
    at = {v: 1 / RHO_WITNESS - 1}
    sym_h = float(entropy.subs(at))
    witness_ok = math.isclose(sym_h, law.entropy(), rel_tol=1e-12) and math.isclose(sym_h, series_h, rel_tol=1e-12)
    return Check(
        norm.passed and mean_ok.passed and ent.passed and witness_ok,
        {
            "Σ P(n)": norm.evidence,
            "E[n]": mean_ok.evidence,
            "H": ent.evidence,
            "ρ = 9/10: symbolic H": sym_h,
            "ρ = 9/10: exact/ GeometricLength.entropy()": law.entropy(),
            "ρ = 9/10: series −Σ_{n<2000} P ln P from exact/ log_pmf": series_h,
            "numeric witness agrees (rel 1e-12)": witness_ok,
        },
    )


@claim(
    id="anbn-pcfg-closed-forms",
    title="Normalisation, mean and entropy of the aⁿbⁿ PCFG",
    statement=r"For $S \to a\,S\,b\ (\rho) \mid a\,b\ (1-\rho)$: $P(n) = (1-\rho)\rho^{n-1}$ sums to 1, $\mathbb{E}[n] = \frac{1}{1-\rho}$ and $H = \frac{-(1-\rho)\ln(1-\rho) - \rho\ln\rho}{1-\rho}$.",
    method="sympy: infinite sums with ρ = 1/(1+v), v > 0, reduced against the closed forms; numeric witness at ρ = 9/10 from exact/ and a direct series",
    source="PAPER.md §4.2; PEERS.md (PCFG closed forms)",
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
    sf = lambda j: (N - j + 1) / N  # noqa: E731  P(n ≥ j)
    a_ok = identity(sf(k + 1) / sf(k), p_a, point={N: 9, k: 4})
    b_ok = identity((1 / N) / sf(k), p_b, point={N: 9, k: 4})
    h = sp.summation(-(1 / N) * sp.log(1 / N), (n, 1, N))
    floor_ok = identity(h / (2 * N + 1), floor, point={N: 128})
    # numeric witness: the kernel's conditionals for N = 128, every k, and exact/'s floor
    n_val = 128
    p = AnbnDistribution(UniformLength(n_val))
    rows = p.next_token_probs(TokenBatch.from_strings(["a" * j for j in range(1, n_val + 1)])).require_defined()
    lam_a = sp.lambdify(k, p_a.subs(N, n_val), "math")
    lam_b = sp.lambdify(k, p_b.subs(N, n_val), "math")
    dev = max(
        max(abs(rows[j - 1, 0] - lam_a(j)), abs(rows[j - 1, 1] - lam_b(j))) for j in range(1, n_val + 1)
    )
    floor_val = float(floor.subs(N, n_val))
    exact_floor = p.facts().padded_loss_floor
    witness_ok = dev <= 1e-13 and math.isclose(floor_val, exact_floor, rel_tol=1e-14)
    return Check(
        a_ok.passed and b_ok.passed and floor_ok.passed and witness_ok,
        {
            "p(a | SOS a^k)": a_ok.evidence,
            "p(b | SOS a^k)": b_ok.evidence,
            "H = −Σ (1/N) ln(1/N)": tex(sp.expand_log(h, force=True)),
            "padded floor": floor_ok.evidence,
            "N = 128: max |kernel − closed form| over k": dev,
            "N = 128: closed-form floor": floor_val,
            "N = 128: exact/ padded_loss_floor": exact_floor,
            "numeric witness agrees": witness_ok,
        },
    )


@claim(
    id="anbn-uniform-closed-forms",
    title="Conditionals, entropy and padded floor of the uniform aⁿbⁿ law",
    statement=r"For $n$ uniform on $1..N$: $p(a\mid \mathrm{SOS}\,a^k) = \frac{N-k}{N-k+1}$, $p(b\mid \mathrm{SOS}\,a^k) = \frac{1}{N-k+1}$, $H = \ln N$, and the padded floor is $\frac{\ln N}{2N+1}$.",
    method="sympy: S(k+1)/S(k) and P(k)/S(k) cancelled against the closed forms, H by a finite symbolic sum; numeric witness: every conditional of the numba kernel and exact/'s floor at N = 128",
    source="PAPER.md §4.2, §7",
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
