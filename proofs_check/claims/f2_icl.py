"""Claim F2 on a concrete mixture: in-context learning is ε-non-identifiable (docs/paper.md §4.4.2).

``q_n`` swaps p's two most likely next tokens on every n-shot prompt string and
equals ``p`` elsewhere (:class:`exact.icl.qn.SwapModel`), on the demo mixture of
``nonident icl`` (:data:`exact.icl.qn.DEMO_CONFIG`, k = 2):

* ``F2-identity`` — ``KL(p‖q_n)`` by the swap identity over ``S_n`` equals the
  brute-force KL over all sequences of length ``T ≥ L_n + 1``, and a ball
  computed in interval arithmetic contains it;
* ``F2-symmetry`` — ``KL(q_n‖p) = KL(p‖q_n)``;
* ``F2-bounds`` — ``KL ≤ P(S_n) ln(1/c_min)``, ``KL ≤ ρⁿ ln(1/c_min)``, ``P(S_n) ≤ ρⁿ``
  and the certified ``P(S_n) ln(1/β)``;
* ``F2-flips`` — every string of ``S_n`` flips the argmax;
* ``F2-vanishing`` — the KL decays and a certified ``N_ε`` exists down to
  ``ε = 1e-50``; with the figure of the report.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from collections.abc import Callable

import numpy as np
from flint import arb
from numpy.typing import NDArray

from exact import TokenBatch
from exact.core.kl import kl_by_sequences
from exact.core.predictor import NextTokenProbs, Predictor
from exact.core.rng import stream
from exact.hmm.ginc import generate_ginc
from exact.hmm.mixture import HMMMixture
from exact.hmm.prompts import PromptTemplate, prompt_set_log_prob
from exact.icl.certify import (
    ArbParams,
    arb_float_bounds,
    certified_identity,
    certified_kl_upper,
    certified_prompt_set_masses,
    emission_floor,
)
from exact.icl.qn import DEMO_CONFIG, DEMO_K, SwapModel
from exact.icl.swap_kl import (
    IclRow,
    IclTable,
    icl_table,
    swap_identity,
    swap_identity_masked,
)
from proofs_check.registry import Check, Control, Figure, Outcome, claim

BRUTE_SHOTS = (0, 1, 2)
TABLE_SHOTS = 6
RTOL = 1e-10
#: The float identity must lie this close (relative) to the ball enclosing the exact value.
BALL_RTOL = 1e-12
EPSILON = 1e-9
PLOT_SHOTS = 40
DEMO_DESCRIPTION = (
    f"{DEMO_CONFIG.n_concepts} concepts, {DEMO_CONFIG.n_values} values × {DEMO_CONFIG.n_slots} slots, "
    f"{DEMO_CONFIG.n_symbols} symbols, η = {DEMO_CONFIG.emission_smoothing}, seed {DEMO_CONFIG.seed}, k = {DEMO_K}"
)


def _mix() -> HMMMixture:
    return generate_ginc(DEMO_CONFIG).mixture


@functools.cache
def _table() -> IclTable:
    """The demo table, computed once per process (three claims read it)."""
    prompts = stream(DEMO_CONFIG.seed, "prompts")
    return icl_table(_mix(), DEMO_K, TABLE_SHOTS, accuracy_prompts=2000, seed=prompts)


class _Modified:
    """``base`` with ``change(row)`` applied to the rows of the prefixes ``where`` selects."""

    def __init__(
        self,
        base: Predictor,
        where: Callable[[TokenBatch], NDArray[np.bool_]],
        change: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    ) -> None:
        self.base, self.where, self.change = base, where, change
        self.vocab_size = base.vocab_size

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        out = self.base.next_token_probs(batch)
        rows = np.flatnonzero(self.where(batch) & out.defined)
        probs = out.probs.copy()
        if rows.size:
            probs[rows] = self.change(probs[rows])
        return NextTokenProbs(probs, out.defined)


def _prefix_is(prefix: tuple[int, ...]) -> Callable[[TokenBatch], NDArray[np.bool_]]:
    def where(batch: TokenBatch) -> NDArray[np.bool_]:
        ok = batch.lengths == len(prefix)
        for i, tok in enumerate(prefix):
            ok &= (batch.tokens[:, i] == tok) if batch.tokens.shape[1] > i else False
        return np.asarray(ok)

    return where


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def _identity_check(models: Callable[[HMMMixture, PromptTemplate], Predictor]) -> Check:
    mix = _mix()
    evidence: dict[str, object] = {}
    ok = True
    for n in BRUTE_SHOTS:
        t = PromptTemplate(DEMO_K, n)
        ident = swap_identity(mix, t)
        q = models(mix, t)
        for extra in (1, 2) if n == 0 else (1,):
            brute = kl_by_sequences(mix, q, t.length + extra)
            good = _rel(brute, ident.kl) <= RTOL
            ok &= good
            evidence[f"n = {n}, T = L_n + {extra} = {t.length + extra}"] = (
                f"identity {ident.kl!r}, brute force {brute!r}, relative difference {_rel(brute, ident.kl):.2e}"
            )
        ball = certified_identity(mix, DEMO_K, n)
        lo, hi = arb_float_bounds(ball)
        dist = max(lo - ident.kl, ident.kl - hi, 0.0) / hi  # float rounding vs the enclosure of the exact value
        ok &= dist <= BALL_RTOL
        evidence[f"n = {n}: ball enclosing the exact identity (interval arithmetic)"] = (
            f"[{lo!r}, {hi!r}]; the float identity lies within {dist:.1e} (relative) of it"
        )
    return Check.numeric(ok, evidence)


@claim(
    id="F2-identity",
    title="KL(p‖q_n) is the swap identity summed over the n-shot prompts",
    statement=(
        f"On the demo GINC-structured mixture ({DEMO_DESCRIPTION}), "
        "KL(p‖q_n) = Σ_{s∈S_n} p(s)(p1 − p2) ln(p1/p2), whatever the sequence length T ≥ L_n + 1."
    ),
    method=(
        f"the identity summed by the numba enumeration of S_n against brute force over all 3^T sequences "
        f"(n ∈ {list(BRUTE_SHOTS)}, T = L_n + 1, and L_n + 2 for n = 0; relative ≤ {RTOL:g}); a ball enclosing "
        f"the exact value (interval arithmetic, python-flint arb) must lie within {BALL_RTOL:g} of the float identity"
    ),
    source="docs/paper.md §4.4.2 (1), §4.4.2 item 5",
)
def check_f2_identity() -> Outcome:
    def changed_elsewhere(mix: HMMMixture, t: PromptTemplate) -> Predictor:
        return _Modified(SwapModel(mix, t), _prefix_is((1, 1)), lambda r: 0.5 * r + 0.5 / r.shape[1])

    return Outcome(
        _identity_check(lambda mix, t: SwapModel(mix, t)),
        (
            Control(
                "a swap that also changes the unrelated prefix (1, 1) (half-way to uniform)",
                _identity_check(changed_elsewhere),
            ),
        ),
    )


def _symmetry_check(models: Callable[[HMMMixture, PromptTemplate], Predictor]) -> Check:
    mix = _mix()
    evidence: dict[str, object] = {}
    ok = True
    for n in BRUTE_SHOTS:
        t = PromptTemplate(DEMO_K, n)
        q = models(mix, t)
        fwd, rev = kl_by_sequences(mix, q, t.length + 1), kl_by_sequences(q, mix, t.length + 1)
        good = _rel(rev, fwd) <= RTOL
        ok &= good
        evidence[f"n = {n}"] = f"KL(p‖q) = {fwd!r}, KL(q‖p) = {rev!r}, relative difference {_rel(rev, fwd):.2e}"
    return Check.numeric(ok, evidence)


@claim(
    id="F2-symmetry",
    title="The swap costs the same in both directions",
    statement="KL(q_n‖p) = KL(p‖q_n): on each s the swap exchanges two probabilities, so both sums have the same terms.",
    method=f"brute force over all sequences of length L_n + 1 in both directions, n ∈ {list(BRUTE_SHOTS)}, relative ≤ {RTOL:g}",
    source="docs/paper.md §4.4.2; Lemma L1-swap",
)
def check_f2_symmetry() -> Outcome:
    def half_uniform(mix: HMMMixture, t: PromptTemplate) -> Predictor:
        return _Modified(mix, SwapModel(mix, t).in_prompt_set, lambda r: 0.5 * r + 0.5 / r.shape[1])

    return Outcome(
        _symmetry_check(lambda mix, t: SwapModel(mix, t)),
        (
            Control(
                "q = p mixed half-way with the uniform distribution on S_n (not a swap)", _symmetry_check(half_uniform)
            ),
        ),
    )


def _bounds_check(bound: Callable[[IclTable, int], float], label: str) -> Check:
    tab = _table()
    rows = tab.rows
    evidence: dict[str, object] = {
        "β (certified c_min lower bound)": tab.beta,
        "ρ (certified delimiter ceiling)": tab.rho,
    }
    ok = True
    for r in rows:
        assert r.exact is not None
        b = bound(tab, r.n_shots)
        holds = r.exact.kl <= b and r.exact.kl <= r.bound_rho and r.prompt_set_mass <= tab.rho**r.n_shots * (1 + 1e-12)
        holds &= r.exact.kl <= r.certified_upper and _rel(r.exact.prompt_set_mass, r.prompt_set_mass) <= 1e-12
        ok &= holds
        evidence[f"n = {r.n_shots}"] = (
            f"KL {r.exact.kl:.6e} ≤ {label} {b:.6e}; ≤ ρⁿ ln(1/c_min) {r.bound_rho:.6e}; ≤ certified "
            f"{r.certified_upper:.6e}; P(S_n) {r.prompt_set_mass:.6e} ≤ ρⁿ {tab.rho**r.n_shots:.6e} "
            f"(enumerated mass {r.exact.prompt_set_mass:.6e}): {holds}"
        )
    return Check.numeric(ok, evidence)


def _log_inv_cmin(row: IclRow) -> float:
    assert row.exact is not None
    return math.log(1 / row.exact.c_min)


@claim(
    id="F2-bounds",
    title="KL(p‖q_n) ≤ P(S_n)·ln(1/c_min) ≤ ρⁿ·ln(1/c_min), and the certified bound",
    statement=(
        "For n = 0..6 on the demo mixture: KL(p‖q_n) ≤ P_p(S_n) ln(1/c_min) and ≤ ρⁿ ln(1/c_min), "
        "P_p(S_n) ≤ ρⁿ with ρ the certified ceiling of a delimiter placement, and KL(p‖q_n) ≤ the certified "
        "upper end of P_p(S_n) ln(1/β), β ≤ c_min the smallest emission probability."
    ),
    method=(
        "exact KL and c_min from the enumeration of S_n, P_p(S_n) from the forward pass over token sets "
        "(equal to the enumerated mass within 1e-12), ρ and β and the certified bound in interval arithmetic"
    ),
    source="docs/paper.md §4.4.2 (2) and item 4",
)
def check_f2_bounds() -> Outcome:
    def mass_bound(tab: IclTable, n: int) -> float:
        return tab.rows[n].prompt_set_mass * _log_inv_cmin(tab.rows[n])

    def squared(tab: IclTable, n: int) -> float:
        return tab.rows[n].prompt_set_mass ** 2 * _log_inv_cmin(tab.rows[n])

    def next_mass(tab: IclTable, n: int) -> float:
        nxt = math.exp(prompt_set_log_prob(_mix(), PromptTemplate(DEMO_K, n + 1)))
        return nxt * _log_inv_cmin(tab.rows[n])

    return Outcome(
        _bounds_check(mass_bound, "P(S_n) ln(1/c_min)"),
        (
            Control("P(S_n)² ln(1/c_min) claimed as the bound", _bounds_check(squared, "P(S_n)² ln(1/c_min)")),
            Control(
                "the next shot count's mass P(S_{n+1}) ln(1/c_min) claimed as the bound",
                _bounds_check(next_mass, "P(S_{n+1}) ln(1/c_min)"),
            ),
        ),
    )


def _flips_check(models: Callable[[HMMMixture, PromptTemplate], Predictor]) -> Check:
    mix = _mix()
    evidence: dict[str, object] = {}
    ok = True
    for r in _table().rows:
        assert r.exact is not None
        evidence[f"n = {r.n_shots}: strings of S_n whose argmax the swap flips (enumeration)"] = (
            f"{r.exact.flips}/{r.exact.n_positive}"
        )
    for n in BRUTE_SHOTS:
        t = PromptTemplate(DEMO_K, n)
        strings = [list(s) for s in itertools.product(*t.token_sets(mix.vocab_size))]
        batch = TokenBatch.from_sequences(strings, vocab_size=mix.vocab_size)
        p = mix.next_token_probs(batch).probs
        q = models(mix, t).next_token_probs(batch).probs
        flipped = np.argmax(q, axis=1) != np.argmax(p, axis=1)
        ok &= bool(flipped.all())
        evidence[f"n = {n}: argmax q ≠ argmax p through the predictor interface"] = (
            f"{int(flipped.sum())}/{len(strings)}"
        )
    ok &= all(r.exact is not None and r.exact.flips == r.exact.n_positive and r.exact.ties == 0 for r in _table().rows)
    return Check.numeric(ok, evidence)


@claim(
    id="F2-flips",
    title="q_n's in-context argmax differs from p's on every n-shot prompt",
    statement=(
        "argmax_y q_n(y | s) = y′(s) ≠ y*(s) = argmax_y p(y | s) for every s ∈ S_n, n = 0..6 (no ties on the demo "
        "mixture): wherever p's in-context prediction is right, q_n's is wrong."
    ),
    method="every string of S_n, n = 0..6, in the enumeration (no tie), and n = 0..2 through the predictor interface",
    source="docs/paper.md §4.4.2 (3)",
)
def check_f2_flips() -> Outcome:
    return Outcome(
        _flips_check(lambda mix, t: SwapModel(mix, t)),
        (Control("q = p: a 'swap' that changes nothing", _flips_check(lambda mix, t: mix)),),
    )


def _vanishing_check(exact_kl: list[float], uppers: list[float], label: str) -> Check:
    decays = all(b < a for a, b in zip(exact_kl[1:], exact_kl[2:], strict=False))
    n_eps = {e: next((n for n, u in enumerate(uppers) if u < e), None) for e in (1e-2, 1e-9, 1e-20, 1e-50)}
    ok = decays and all(v is not None for v in n_eps.values())
    return Check.numeric(
        ok,
        {
            f"exact KL, n = 0..{len(exact_kl) - 1} ({label})": exact_kl,
            "strictly decreasing from n = 1": decays,
            **{f"N_ε for ε = {e:g} (certified)": v for e, v in n_eps.items()},
        },
    )


def _figure(tab: IclTable, uppers: list[float]) -> Figure:
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(11, 4.2))
    ax, ax2 = fig.subplots(1, 2)
    ns = [r.n_shots for r in tab.rows]
    ax.semilogy(range(len(uppers)), uppers, "-", color="0.4", label="certified upper bound P(S_n)·ln(1/β)")
    ax.semilogy(ns, [r.bound_rho for r in tab.rows], "s--", color="tab:orange", label="ρⁿ·ln(1/c_min)")
    ax.semilogy(ns, [r.bound_mass for r in tab.rows], "^-", color="tab:green", label="P(S_n)·ln(1/c_min)")
    ax.semilogy(ns, [r.exact.kl for r in tab.rows if r.exact], "o-", color="tab:blue", label="KL(p‖q_n), exact")
    ax.axhline(EPSILON, color="tab:red", lw=1, ls=":", label=f"ε = {EPSILON:g}")
    n_eps = tab.n_epsilon.get(EPSILON)
    if n_eps is not None:
        ax.axvline(n_eps, color="tab:red", lw=1, ls="--", label=f"N_ε = {n_eps}")
    ax.set_xlabel("shots n")
    ax.set_ylabel("nats")
    ax.set_title("KL(p‖q_n) and its bounds")
    ax.legend(fontsize=7)
    acc_p = [r.accuracy_p for r in tab.rows]
    acc_q = [r.accuracy_q for r in tab.rows]
    ax2.plot(ns, acc_p, "o-", label="p (Bayes predictor)")
    ax2.plot(ns, acc_q, "s-", label="q_n (top two swapped)")
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("shots n")
    ax2.set_ylabel("ICL accuracy against GINC's label")
    ax2.set_title("In-context accuracy")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return Figure(
        "icl-kl",
        f"Left: KL(p‖q_n) (exact, n ≤ {TABLE_SHOTS}), its two bounds and the certified bound against n on the demo "
        f"mixture, with ε = {EPSILON:g} and the certified N_ε. Right: ICL accuracy of p and q_n against GINC's label.",
        buf.getvalue(),
    )


@claim(
    id="F2-vanishing",
    title="KL(p‖q_n) → 0: for every ε a certified N_ε exists",
    statement=(
        "On the demo mixture the exact KL(p‖q_n) decreases with n (from n = 1, n ≤ 6), and for ε = 1e-2, 1e-9, "
        "1e-20 and 1e-50 some n has a certified KL(p‖q_n) < ε (so does every larger n: P(S_n) is non-increasing)."
    ),
    method=(
        f"exact KL for n = 0..{TABLE_SHOTS}; certified upper bounds P(S_n) ln(1/β) in interval arithmetic for "
        "n up to 2000, searched in order"
    ),
    source="docs/paper.md §4.4.2 (4)",
)
def check_f2_vanishing() -> Outcome:
    tab = _table()
    mix = _mix()
    params = ArbParams.from_mixture(mix)
    beta = emission_floor(mix, params)
    uppers = []
    for n, mass in enumerate(certified_prompt_set_masses(mix, DEMO_K, 2000, params=params)):
        uppers.append(arb_float_bounds(certified_kl_upper(mass, beta))[1])
        if uppers[-1] < 1e-50 and n >= PLOT_SHOTS:
            break
    exact = [r.exact.kl for r in tab.rows if r.exact]
    # control: swap on every string of length L_n, whatever sits at the delimiter positions
    free = [swap_identity_masked(mix, PromptTemplate(DEMO_K, n), delimiters=False).kl for n in range(4)]
    return Outcome(
        _vanishing_check(exact, uppers, "swap on S_n"),
        (
            Control(
                "swapping on every string of length L_n (not only the n-shot prompts): the swapped set has probability 1",
                _vanishing_check(
                    free,
                    [arb_float_bounds(certified_kl_upper(arb(1), beta))[1]] * len(uppers),
                    "swap on all strings of length L_n",
                ),
            ),
        ),
        (_figure(tab, uppers[: PLOT_SHOTS + 1]),),
    )
