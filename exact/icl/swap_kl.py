"""``KL(p‖q_n)`` three ways, its bounds, a certified upper bound and ``N_ε`` (docs/paper.md §4.4.2).

* :func:`swap_identity` — ``Σ_{s∈S_n} p(s)(p1 − p2) ln(p1/p2)`` summed exactly over
  every n-shot prompt string (numba, depth first, log space; :mod:`exact.icl._kernels`);
* :func:`exact.core.kl.kl_by_sequences` — brute force ``Σ_x p(x) ln(p(x)/q(x))`` over all ``M^T``
  sequences of length ``T ≥ L_n + 1`` through the predictor interface, for any
  two predictors (so also ``KL(q_n‖p)``, equal by the symmetry of the swap);
* the bounds ``P_p(S_n)·ln(1/c_min)`` and ``ρⁿ·ln(1/c_min)`` and the certified
  ``P_p(S_n)·ln(1/β)`` (:mod:`exact.icl.certify`), in :func:`icl_table`, which
  also finds ``N_ε`` = the smallest ``n`` whose *certified* bound is below ``ε``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from flint import arb, ctx
from numpy.typing import NDArray

from exact.core.limits import check_work
from exact.core.logspace import log_sum_exp
from exact.core.rng import SeedLike
from exact.core.validate import InputError, InputTypeError, check_int
from exact.hmm.ginc import GincMixture
from exact.hmm.mixture import HMMMixture, as_mixture
from exact.hmm.prompts import TIE_RTOL, PromptTemplate, icl_accuracy
from exact.icl import _kernels as kern
from exact.icl.certify import (
    PRECISION,
    ArbParams,
    arb_float_bounds,
    arb_log10_bounds,
    certified_kl_upper,
    certified_prompt_set_masses,
    delimiter_ceiling,
    emission_floor,
    row_sum_deviation,
)
from exact.icl.qn import ZeroRunnerUpError

__all__ = [
    "TooManyStringsError",
    "IclRow",
    "IclTable",
    "SwapIdentity",
    "icl_table",
    "swap_identity",
    "swap_identity_masked",
]

#: Default largest number of prompt strings the exact identity enumerates.
MAX_STRINGS = 20_000_000
#: Strings per parallel subtree and per kernel call of the exact swap sum (a call takes ~0.1 s).
_SUBTREE_LEAVES = 4096
#: Operations one ball-arithmetic product counts as in the run-time limit.
ARB_OPS = 100
_CHUNK_LEAVES = 65536
#: The ε values reported by default, from 1e-2 down to 1e-50.
EPSILON_LADDER = ("1e-2", "1e-3", "1e-5", "1e-9", "1e-12", "1e-20", "1e-30", "1e-50")
#: Largest number of sequences the brute force enumerates.


class TooManyStringsError(InputError):
    """The prompt set has more strings than the enumeration limit allows."""


@dataclass(frozen=True)
class SwapIdentity:
    """The swap identity summed over ``S_n`` (see :func:`swap_identity`).

    ``log_kl`` is exact even where ``kl`` underflows to 0; ``flips`` counts
    the strings of ``S_n`` whose argmax the swap flips (all of them unless
    ``ties > 0``); ``c_min`` is ``min_s p2(s)``, ``max_cost`` ``max_s (p1 − p2) ln(p1/p2)``.
    """

    n_shots: int
    kl: float
    log_kl: float
    prompt_set_mass: float
    log_prompt_set_mass: float
    n_strings: int
    n_positive: int
    flips: int
    ties: int
    c_min: float
    max_cost: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dense_logs(mix: HMMMixture) -> tuple[NDArray[np.float64], ...]:
    k = mix.n_concepts
    t = np.stack([mix.transmat(c) for c in range(k)])
    b = np.stack([mix.emission_matrix(c) for c in range(k)])
    with np.errstate(divide="ignore"):
        return np.log(mix.prior), np.log(mix.start), np.log(t), np.log(b), t, b


def swap_identity(
    mixture: HMMMixture | GincMixture,
    template: PromptTemplate,
    *,
    tie_policy: str = "raise",
    max_strings: int = MAX_STRINGS,
) -> SwapIdentity:
    """``KL(p‖q_n)`` by the swap identity over every string of ``S_n`` (numba, log space).

    Raises :class:`~exact.icl.qn.ZeroRunnerUpError` if some ``s ∈ S_n`` has a
    runner-up of probability 0 (the KL is infinite), ``ValueError`` if the
    top two tie somewhere and ``tie_policy="raise"``, or if the template has
    more than ``max_strings`` strings.
    """
    return swap_identity_masked(mixture, template, tie_policy=tie_policy, max_strings=max_strings)


def swap_identity_masked(
    mixture: HMMMixture | GincMixture,
    template: PromptTemplate,
    *,
    delimiters: bool = True,
    tie_policy: str = "raise",
    max_strings: int = MAX_STRINGS,
) -> SwapIdentity:
    """:func:`swap_identity`; with ``delimiters=False`` the swap acts on *every* string of
    length ``L_n`` (a negative control: that set has probability one)."""
    mix = as_mixture(mixture)
    if not isinstance(template, PromptTemplate):
        raise InputTypeError(f"template must be a PromptTemplate, got {type(template).__name__}")
    if tie_policy not in ("raise", "keep"):
        raise InputError(f"tie_policy must be 'raise' or 'keep', got {tie_policy!r}")
    check_int(max_strings, "max_strings")
    if template.delimiter >= mix.vocab_size:
        raise InputError(f"template.delimiter={template.delimiter} is not a token id (vocab_size={mix.vocab_size})")
    length, m = template.length, mix.vocab_size
    is_delim = np.zeros(length, dtype=np.bool_)
    if delimiters:
        is_delim[list(template.delimiter_positions)] = True
    free = int(length - is_delim.sum())
    if free * math.log(m) > math.log(max_strings) + 1e-9:
        raise TooManyStringsError(
            f"S_n for k={template.k}, n_shots={template.n_shots} has {m}^{free} strings, above "
            f"max_strings={max_strings}; use the bounds (icl_table) for larger n"
        )
    k_, h = mix.n_concepts, mix.n_states
    check_work(
        float(min(m**free, 10**300)) * k_ * h * h,
        "the exact swap sum over S_n",
        {"n_shots": template.n_shots, "k": template.k, "strings": m**free},
    )
    logprior, logstart, logt, logb, t, b = _dense_logs(mix)
    # subtrees of at most _SUBTREE_LEAVES strings (at least m² of them, for the threads), run
    # _CHUNK_LEAVES strings per kernel call so that Ctrl-C is honoured between calls
    n_prefix_free = min(free, max(min(2, free), free - int(math.log(_SUBTREE_LEAVES) // math.log(m))))
    free_pos = np.flatnonzero(~is_delim)
    split = int(free_pos[n_prefix_free - 1]) + 1 if n_prefix_free else 0
    n_sub = m**n_prefix_free
    per_call = max(1, _CHUNK_LEAVES // m ** (free - n_prefix_free))
    merged = []
    for lo in range(0, n_sub, per_call):
        part = np.empty((min(per_call, n_sub - lo), kern.N_STATS))
        kern.swap_identity(
            length,
            is_delim,
            template.delimiter,
            split,
            n_prefix_free,
            lo,
            logprior,
            logstart,
            logt,
            logb,
            t,
            b,
            TIE_RTOL,
            part,
        )
        merged.append(_merge(part))
    stats = np.array(merged)
    log_kl = float(log_sum_exp(stats[:, kern.STAT_LOG_KL], axis=0))
    log_mass = float(log_sum_exp(stats[:, kern.STAT_LOG_MASS], axis=0))
    count = lambda j: int(stats[:, j].sum())  # noqa: E731
    if count(kern.STAT_ZERO_RUNNER_UP):
        raise ZeroRunnerUpError(
            f"{count(kern.STAT_ZERO_RUNNER_UP)} prompt string(s) of S_n have a runner-up of probability 0, "
            "so KL(p‖q_n) = inf; give every token positive probability with emission smoothing "
            "(GincConfig(emission_smoothing=…), nonident icl --smoothing)"
        )
    if count(kern.STAT_TIES) and tie_policy == "raise":
        raise InputError(
            f"{count(kern.STAT_TIES)} prompt string(s) of S_n have tied top tokens: no swap flips them; "
            "use tie_policy='keep'"
        )
    with np.errstate(under="ignore"):
        return SwapIdentity(
            template.n_shots,
            math.exp(log_kl),
            log_kl,
            math.exp(log_mass),
            log_mass,
            m**free,
            count(kern.STAT_LEAVES),
            count(kern.STAT_FLIPS),
            count(kern.STAT_TIES),
            float(stats[:, kern.STAT_C_MIN].min()),
            float(stats[:, kern.STAT_MAX_COST].max()),
        )


def _merge(stats: NDArray[np.float64]) -> NDArray[np.float64]:
    """One row of statistics (layout ``STAT_*``) for the subtrees of ``stats``."""
    out = stats.sum(axis=0)
    out[kern.STAT_LOG_KL] = log_sum_exp(stats[:, kern.STAT_LOG_KL], axis=0)
    out[kern.STAT_LOG_MASS] = log_sum_exp(stats[:, kern.STAT_LOG_MASS], axis=0)
    out[kern.STAT_C_MIN] = stats[:, kern.STAT_C_MIN].min()
    out[kern.STAT_MAX_COST] = stats[:, kern.STAT_MAX_COST].max()
    return out


@dataclass(frozen=True)
class IclRow:
    """One shot count of :func:`icl_table` (``None`` where the exact sum was not attempted)."""

    n_shots: int
    prompt_set_mass: float
    log10_prompt_set_mass: float
    exact: SwapIdentity | None
    bound_mass: float
    bound_rho: float
    log10_bound_mass: float
    log10_bound_rho: float
    c_min_source: str
    certified_upper: float
    log10_certified_upper: float
    accuracy_p: float | None = None
    accuracy_q: float | None = None
    accuracy_method: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exact"] = self.exact.as_dict() if self.exact else None
        return d


@dataclass(frozen=True)
class IclTable:
    """Rows ``n = 0..max_shots``, ``N_ε`` per ``ε`` (``None``: not reached by ``search_shots``), constants."""

    rows: list[IclRow]
    n_epsilon: dict[float | str, int | None]
    n_epsilon_log10_upper: dict[float | str, float | None]
    beta: float
    rho: float
    search_shots: int
    row_sum_deviation: float
    config: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": [r.as_dict() for r in self.rows],
            "n_epsilon": {_key(e): n for e, n in self.n_epsilon.items()},
            "log10 of the certified upper bound of KL(p‖q_n) at N_epsilon": {
                _key(e): u for e, u in self.n_epsilon_log10_upper.items()
            },
            "beta (certified lower bound of c_min)": self.beta,
            "rho (certified ceiling of a delimiter placement)": self.rho,
            "search_shots": self.search_shots,
            "row-sum deviation of the float parameters (certified model = exact renormalisation)": self.row_sum_deviation,
            "config": self.config,
        }


def _key(e: float | str) -> str:
    return e if isinstance(e, str) else f"{e:g}"


def _epsilon_ball(e: object) -> arb:
    """``ε`` as an exact ball: a positive float, or a decimal string (for ε below the float range)."""
    try:
        ball = (
            arb(e)
            if isinstance(e, str)
            else (arb(float(e)) if isinstance(e, (int, float)) and not isinstance(e, bool) else None)
        )
    except (ValueError, TypeError):
        ball = None
    if ball is None or not ball > 0 or not ball.is_finite():
        raise InputError(f"epsilons must be positive numbers (or decimal strings such as '1e-400'), got {e!r}")
    return ball


def _log10_arb(x: arb) -> float:
    """Upper bound of log10 of a non-negative ball (``-inf`` for exactly 0)."""
    if x.is_zero():
        return -math.inf
    return arb_log10_bounds(x)[1] if x.lower() > 0 else math.log10(arb_float_bounds(x)[1])


def _check_table_work(mix: HMMMixture, k: int, max_shots: int, max_strings: int) -> None:
    """Bound the whole table before its first row: the exact sums over every ``S_n`` with at most
    ``max_strings`` strings and one set-forward pass per row (:mod:`exact.core.limits`)."""
    m, h = mix.vocab_size, mix.n_states
    sizes = {"max_shots": max_shots, "max_strings": max_strings, "k": k}
    rows = float(max_shots + 1)
    lengths = rows * (k - 1) + (k + 1) * rows * (rows - 1) / 2  # Σ_n L_n
    check_work(lengths * mix.n_concepts * h * (mix.n_values + mix.n_slots), "the prompt-set masses", sizes)
    # the certified masses: at least max_shots·(k+1) ball-arithmetic steps of K·H² products each
    check_work(ARB_OPS * rows * (k + 1) * mix.n_concepts * h * h, "the certified prompt-set masses", sizes)
    strings = 0.0
    for n in range(max_shots + 1):
        free = n * k + k - 1  # L_n minus its n delimiters
        if free * math.log(m) > math.log(max_strings) + 1e-9:
            break  # larger n are not summed exactly (the strings only grow with n)
        strings += float(m) ** free
    check_work(strings * mix.n_concepts * h * h, "the exact swap sums over S_n", sizes)


def icl_table(
    mixture: HMMMixture | GincMixture,
    k: int,
    max_shots: int,
    *,
    epsilons: Sequence[float | str] = EPSILON_LADDER,
    delimiter: int = 0,
    search_shots: int = 2000,
    max_strings: int = 2_000_000,
    tie_policy: str = "raise",
    accuracy_prompts: int = 0,
    seed: SeedLike = 0,
) -> IclTable:
    """The ε-non-identifiability table of ``q_n`` for ``n = 0..max_shots`` and ``N_ε``.

    For each ``n``: ``P_p(S_n)`` (float and certified), the exact identity
    where ``S_n`` has at most ``max_strings`` strings (with flips, ``c_min``),
    ``P_p(S_n)·ln(1/c_min)`` and ``ρⁿ·ln(1/c_min)`` (``c_min`` exact where
    enumerated, else its certified lower bound ``β``), and the certified upper
    bound ``P_p(S_n)·ln(1/β)``. ``N_ε`` is searched up to ``search_shots``
    with the certified bound; ``ε`` may be a decimal string (``"1e-400"``) below
    the float64 range. With ``accuracy_prompts > 0`` the ICL accuracy
    of ``p`` and ``q_n`` against GINC's label is added (exact or estimated,
    see :func:`~exact.hmm.prompts.icl_accuracy`).
    """
    mix = as_mixture(mixture)
    check_int(k, "k", minimum=2)
    check_int(max_shots, "max_shots", minimum=0)
    check_int(search_shots, "search_shots", minimum=max_shots)
    check_int(delimiter, "delimiter", minimum=0, maximum=mix.vocab_size - 1)
    check_int(max_strings, "max_strings")
    check_int(accuracy_prompts, "accuracy_prompts", minimum=0)
    _check_table_work(mix, k, max_shots, max_strings)
    balls = {e: _epsilon_ball(e) for e in epsilons}
    params = ArbParams.from_mixture(mix)
    beta = emission_floor(mix, params)
    if not beta > 0:
        raise ZeroRunnerUpError(
            "some emission probability is 0, so the runner-up can have probability 0 and no certified "
            "bound exists (KL(p‖q_n) may be infinite); use emission smoothing "
            "(GincConfig(emission_smoothing=…), nonident icl --smoothing)"
        )
    rho = delimiter_ceiling(mix, delimiter=delimiter, params=params)
    with ctx.workprec(PRECISION):
        log_inv_beta = arb_float_bounds((1 / beta).log())[1]
    # certified bounds for n = 0, 1, …, until every ε is certified (or search_shots)
    order = sorted(balls, key=lambda e: -arb_log10_bounds(balls[e])[0])
    n_eps: dict[float | str, int | None] = {e: None for e in order}
    uppers: list[arb] = []
    for n, mass in enumerate(certified_prompt_set_masses(mix, k, search_shots, delimiter=delimiter, params=params)):
        uppers.append(certified_kl_upper(mass, beta))
        for e in n_eps:
            if n_eps[e] is None and uppers[-1] < balls[e]:
                n_eps[e] = n
        if n >= max_shots and all(v is not None for v in n_eps.values()):
            break
    acc = {}
    if accuracy_prompts:
        for pt in icl_accuracy(
            mix, k, list(range(max_shots + 1)), delimiter=delimiter, n_prompts=accuracy_prompts, seed=seed
        ):
            acc[pt.n_shots] = pt
    rows = []
    rho_f = arb_float_bounds(rho)[1]
    for n in range(max_shots + 1):
        template = PromptTemplate(k, n, delimiter)
        log_mass = mix.log_prob_sets(template.token_sets(mix.vocab_size))[0]
        try:
            exact: SwapIdentity | None = swap_identity(mix, template, tie_policy=tie_policy, max_strings=max_strings)
        except TooManyStringsError:
            exact = None
        c_min_log = math.log(1 / exact.c_min) if exact and exact.flips else log_inv_beta
        with np.errstate(under="ignore"):
            mass_f = math.exp(log_mass)
        log10_mass = log_mass / math.log(10)
        point = acc.get(n)
        rows.append(
            IclRow(
                n,
                mass_f,
                log10_mass,
                exact,
                mass_f * c_min_log,
                rho_f**n * c_min_log,
                log10_mass + math.log10(c_min_log),
                n * math.log10(rho_f) + math.log10(c_min_log),
                "exact min over S_n" if exact and exact.flips else "certified β",
                arb_float_bounds(uppers[n])[1],
                _log10_arb(uppers[n]),
                point.accuracy if point else None,
                point.runner_up_accuracy if point else None,
                point.method if point else None,
            )
        )
    n_eps_upper = {e: (None if n is None else _log10_arb(uppers[n])) for e, n in n_eps.items()}
    return IclTable(rows, n_eps, n_eps_upper, arb_float_bounds(beta)[0], rho_f, search_shots, row_sum_deviation(mix))
