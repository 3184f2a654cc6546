"""Certified (interval) bounds for the ICL construction, with python-flint's ``arb`` balls.

A float can say ``KL ≈ 3e-12``; it cannot *prove* ``KL < 1e-9``, and below
``1e-308`` it says 0. Here every quantity is an ``arb`` ball (a midpoint and a
radius, with outward rounding throughout, and an unbounded exponent range),
so a statement "``KL(p‖q_n) < ε``" is made only when the ball's upper end is
below ``ε``.

*Which model is certified.* The model whose float64 parameters (prior, start,
``V``, ``S_θ``, ``B``) have each row renormalised **exactly** (in ball
arithmetic), with ``T_θ = V ⊗ S_θ`` formed in ball arithmetic too. The float
engine uses the same parameters without the renormalisation: if every row sum
is within ``δ`` of 1 (the generator's are within a few ulps; validation allows
1e-9), each probability of a string of length ``L`` differs between the two by a
relative factor within ``(1 ± δ)^{3L+2}``. :func:`row_sum_deviation` reports ``δ``.

Certified here (docs/paper.md §4.4.2):

* ``P_p(S_n)`` for every ``n`` up to a limit, by one forward pass over token
  sets (:func:`certified_prompt_set_masses`);
* ``β = min_{θ,h,y} B_θ[h, y]``, a lower bound of ``c_min`` because every
  ``p(y | s) = Σ_h w_h B[h, y]`` is an average of emission probabilities
  (:func:`emission_floor`);
* ``ρ = max_{θ,h} Σ_{h'} T_θ[h, h'] B_θ[h', /]``, an upper bound of the
  probability of any delimiter placement given any prefix (:func:`delimiter_ceiling`);
* the bound ``KL(p‖q_n) ≤ P_p(S_n)·ln(1/β)`` (:func:`certified_kl_upper`), valid because
  ``(p1 − p2) ln(p1/p2) ≤ ln(1/p2) ≤ ln(1/β)``;
* the identity's sum itself, enclosed, for small instances (:func:`certified_identity`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from functools import reduce

import numpy as np
from flint import arb, arb_mat, ctx

from exact.core.validate import InputError
from exact.hmm.mixture import HMMMixture

__all__ = [
    "PRECISION",
    "format_upper",
    "ArbParams",
    "arb_float_bounds",
    "arb_log10_bounds",
    "certified_identity",
    "certified_kl_upper",
    "certified_prompt_set_masses",
    "delimiter_ceiling",
    "emission_floor",
    "row_sum_deviation",
]

#: Working precision in bits of every ball computation.
PRECISION = 128


def _up(x: float) -> float:
    return float(np.nextafter(x, np.inf))


def arb_float_bounds(x: arb) -> tuple[float, float]:
    """Floats ``lo ≤ x ≤ hi`` (rounded outward; ``lo`` may be 0.0 for tiny positive balls)."""
    lo, hi = x.lower(), x.upper()
    flo, fhi = float(lo), float(hi)
    if arb(flo) > lo:
        flo = float(np.nextafter(flo, -np.inf))
    if arb(fhi) < hi:
        fhi = _up(fhi)
    return flo, fhi


def format_upper(x: float, log10: float | None = None, digits: int = 4) -> str:
    """``x`` printed with ``digits`` significant digits rounded **up** (so "≤ printed" stays true);
    ``10^e`` with ``e`` rounded up when ``x`` is below the float range (pass ``log10``).

    >>> format_upper(5.48587e-10), format_upper(0.0, log10=-400.2011)
    ('5.486e-10', '10^-400.201')
    """
    if (x == 0.0 or x < 1e-300) and log10 is not None:
        return f"10^{math.ceil(log10 * 1000) / 1000:.3f}"
    if x == 0.0:
        return "0"
    d = Decimal(x)  # the exact binary value
    r = d.quantize(Decimal(1).scaleb(d.adjusted() - digits + 1), rounding=ROUND_CEILING)
    # r has `digits` significant digits; the float nearest to it prints back as r exactly
    return f"{float(r):.{digits - 1}e}"


def arb_log10_bounds(x: arb) -> tuple[float, float]:
    """Floats bounding ``log10(x)`` for a positive ball (works far below the float64 range)."""
    if not x.lower() > 0:
        raise InputError(f"log10 needs a ball certainly above 0, got {x}")
    with ctx.workprec(PRECISION):
        return arb_float_bounds(x.lower().log_base(10))[0], arb_float_bounds(x.upper().log_base(10))[1]


@dataclass(frozen=True)
class ArbParams:
    """A mixture's parameters as balls, every row renormalised exactly (dense ``T_θ``)."""

    prior: list[arb]
    start: list[arb_mat]  # (1, H) per concept
    trans: list[arb_mat]  # (H, H) per concept
    emis: list[list[list[arb]]]  # [concept][state][token]

    @classmethod
    def from_mixture(cls, mix: HMMMixture) -> ArbParams:
        with ctx.workprec(PRECISION):

            def rows(a: np.ndarray) -> list[list[arb]]:
                out = []
                for r in np.atleast_2d(a):
                    cells = [arb(float(v)) for v in r]
                    total = sum(cells, arb(0))
                    out.append([c / total for c in cells])
                return out

            k = mix.n_concepts
            vs = [rows(v) for v in mix.value_transmat]

            def kron(c: int) -> arb_mat:
                v, s = vs[c if len(vs) > 1 else 0], rows(mix.slot_transmat[c])
                ns = len(s)
                h = len(v) * ns
                return arb_mat([[v[i // ns][j // ns] * s[i % ns][j % ns] for j in range(h)] for i in range(h)])

            return cls(
                rows(mix.prior)[0],
                [arb_mat(rows(mix.start[c])) for c in range(k)],
                [kron(c) for c in range(k)],
                [rows(mix.emission_matrix(c)) for c in range(k)],
            )


def row_sum_deviation(mix: HMMMixture) -> float:
    """``δ = max |Σ row − 1|`` over every stochastic row of the mixture's float parameters."""
    arrays = [mix.prior[None, :], mix.start, mix.value_transmat, mix.slot_transmat, mix.emissions]
    return max(float(np.max(np.abs(a.sum(axis=-1) - 1.0))) for a in arrays)


def certified_prompt_set_masses(
    mix: HMMMixture, k: int, max_shots: int, *, delimiter: int = 0, params: ArbParams | None = None
) -> Iterator[arb]:
    """Balls containing ``P_p(S_n)`` for ``n = 0, 1, …, max_shots``, yielded in order.

    One forward pass over token sets, all concepts at once: ``S_n`` = strings
    of length ``L_n = n(k+1) + k − 1`` with the delimiter at positions
    ``i(k+1) + k`` (``i < n``) and any token elsewhere. The first ``L_n``
    constraints of ``S_{n+1}`` are those of ``S_n``, so the mass after ``L_n``
    steps is ``P_p(S_n)`` and the pass extends by ``k + 1`` steps per shot
    (stop iterating to stop computing).
    """
    p = params or ArbParams.from_mixture(mix)
    h = mix.n_states
    with ctx.workprec(PRECISION):
        delim = [[p.emis[c][j][delimiter] for j in range(h)] for c in range(mix.n_concepts)]
        alphas = list(p.start)
        t = 0
        for n in range(max_shots + 1):
            end = n * (k + 1) + k - 1
            while t < end:
                for c in range(mix.n_concepts):
                    a = alphas[c] * p.trans[c] if t else alphas[c]
                    if t % (k + 1) == k:  # a delimiter position (the template never starts with one)
                        a = arb_mat([[a[0, j] * delim[c][j] for j in range(h)]])
                    # elsewhere any token: the emission rows sum to exactly 1, a factor of one
                    alphas[c] = a
                t += 1
            yield sum(
                (p.prior[c] * sum((alphas[c][0, j] for j in range(h)), arb(0)) for c in range(mix.n_concepts)),
                arb(0),
            )


def emission_floor(mix: HMMMixture, params: ArbParams | None = None) -> arb:
    """An exact lower bound ``β ≤ min_{θ,h,y} B_θ[h, y]`` (as a point ball); 0 if some emission is 0."""
    p = params or ArbParams.from_mixture(mix)
    lows = [cell.lower() for rows in p.emis for row in rows for cell in row]
    best = lows[0]
    for v in lows[1:]:
        if v < best:
            best = v
    return best if best > 0 else arb(0)


def delimiter_ceiling(mix: HMMMixture, *, delimiter: int = 0, params: ArbParams | None = None) -> arb:
    """An exact upper bound ``ρ`` of ``p(o_t = delimiter | o_<t)`` for every ``t ≥ 1`` and prefix."""
    p = params or ArbParams.from_mixture(mix)
    h = mix.n_states
    best = arb(0)
    with ctx.workprec(PRECISION):
        for c in range(mix.n_concepts):
            col = arb_mat([[p.emis[c][j][delimiter]] for j in range(h)])
            prob = p.trans[c] * col
            for i in range(h):
                up = prob[i, 0].upper()
                if up > best:
                    best = up
    return best


def certified_kl_upper(mass: arb, beta: arb) -> arb:
    """Upper end of ``P_p(S_n)·ln(1/β)`` as a point ball (``+inf`` if ``β = 0``)."""
    if not beta > 0:
        return arb("inf")
    with ctx.workprec(PRECISION):
        return (mass * (1 / beta).log()).upper()


def certified_identity(
    mix: HMMMixture,
    k: int,
    n_shots: int,
    *,
    delimiter: int = 0,
    max_strings: int = 20_000,
    params: ArbParams | None = None,
) -> arb:
    """A ball containing ``Σ_{s ∈ S_n} p(s)(p1 − p2) ln(p1/p2)`` for the (exactly renormalised) model.

    Enumerates the ``M^(L_n − n)`` strings (refused above ``max_strings``) and
    runs every forward pass in ball arithmetic; ``p2`` is the ball maximum of
    the other tokens. The top token must be certainly above the rest
    (``p1 > p2`` for the balls); otherwise ``ValueError``.
    """
    p = params or ArbParams.from_mixture(mix)
    h, m = mix.n_states, mix.vocab_size
    length = n_shots * (k + 1) + k - 1
    is_delim = [t % (k + 1) == k and t < n_shots * (k + 1) for t in range(length)]
    free = sum(not d for d in is_delim)
    if m**free > max_strings:
        raise InputError(f"the template has {m}^{free} strings, above max_strings={max_strings}")
    choices: Sequence[Sequence[int]] = [[delimiter] if d else range(m) for d in is_delim]
    total = arb(0)
    with ctx.workprec(PRECISION):
        emit_cols = [[arb_mat([[p.emis[c][j][y]] for j in range(h)]) for y in range(m)] for c in range(mix.n_concepts)]
        for s in itertools.product(*choices):
            joint = []
            for c in range(mix.n_concepts):
                alpha = p.start[c]
                for t, o in enumerate(s):
                    if t:
                        alpha = alpha * p.trans[c]
                    alpha = arb_mat([[alpha[0, j] * p.emis[c][j][o] for j in range(h)]])
                joint.append((p.prior[c], alpha))
            ps = sum((w * sum((a[0, j] for j in range(h)), arb(0)) for w, a in joint), arb(0))
            if not ps > 0:
                if ps.is_zero():
                    continue
                raise InputError(f"p(s) of {s} is not certainly positive: {ps}")
            nxt = [w * (a * p.trans[c]) for c, (w, a) in enumerate(joint)]
            probs = [sum(((v * emit_cols[c][y])[0, 0] for c, v in enumerate(nxt)), arb(0)) / ps for y in range(m)]
            top = max(range(m), key=lambda y: float(probs[y].mid()))
            p1 = probs[top]
            p2 = reduce(lambda a, b: a.max(b), (probs[y] for y in range(m) if y != top))
            if not p1 > p2:
                raise InputError(f"cannot certify that p(·|s) has a unique top token for s = {s}")
            if not p2 > 0:
                raise InputError(f"the runner-up of p(·|s) for s = {s} is not certainly positive")
            total = total + ps * (p1 - p2) * (p1 / p2).log()
    return total
