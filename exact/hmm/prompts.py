"""GINC in-context-learning prompts and the exact Bayes predictor on them.

A prompt for example length ``k`` and ``n`` shots (Xie et al. 2022; docs/paper.md §4.4)::

    [x_1 y_1 / x_2 y_2 / … / x_n y_n / x_query]       length L_n = n(k+1) + k − 1,

each example ``k`` tokens (``k − 1`` inputs and a label), ``/`` the delimiter.
GINC's ``ID_sample`` process (docs/official-code.md §5): draw a concept ``θ*`` (here from
the prior), a start slot ``s ∈ {1..n_slots−1}`` fixed for the prompt, and for
each example a fresh start value ``v ∈ {0..n_values−1}``; the example's hidden
states start at ``(v, s)`` and follow ``T_θ*`` for ``k − 1`` steps, its tokens
are emitted by ``B``. GINC's *label* is the argmax of the true concept's
next-token predictive given the query ``x`` only, started uniformly over the
values at slot ``s``. Ties — probabilities within a relative :data:`TIE_RTOL` of
the maximum, so that exact ties broken by rounding stay ties — go to the
smallest token id, for labels and predictions alike.

The *Bayes ICL prediction* is ``argmax_y p(y | prompt)`` under the pretraining
mixture (:meth:`~exact.hmm.mixture.HMMMixture.next_token_probs`); it is undefined
where the prompt has probability zero under pretraining (frequent with GINC's
deterministic emissions: between examples the value jumps, and many value
transitions have probability 0).

:func:`icl_accuracy` computes the Bayes predictor's accuracy against the label
for each shot count: **exact** (a finite sum over every prompt string and every
(concept, slot) pair) when the prompt space has at most ``max_enumeration``
strings, otherwise a seeded **estimate** with a 95 % Wilson interval. Each row
says which.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from exact.core.limits import PYTHON_STEP_OPS, check_bytes, check_work
from exact.core.rng import SeedLike, as_seed_sequence
from exact.core.sampling import draw_rows
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, InputTypeError, check_int
from exact.hmm.ginc import GincMixture
from exact.hmm.mixture import HMMMixture, as_mixture

__all__ = [
    "TIE_RTOL",
    "IclPoint",
    "argmax_ties_low",
    "top_two",
    "PromptSample",
    "PromptTemplate",
    "check_curve_cost",
    "icl_accuracy",
    "prompt_set_log_prob",
    "sample_prompts",
    "wilson",
]

#: z-value of a two-sided 95 % interval.
_Z95 = 1.959963984540054
#: Probabilities within this relative distance of a row's maximum count as tied with it.
TIE_RTOL = 1e-12


def argmax_ties_low(probs: NDArray[np.float64]) -> NDArray[np.int64]:
    """Per row, the smallest index whose probability is within :data:`TIE_RTOL` of the row maximum.

    ``np.argmax`` would let rounding decide exact ties (e.g. ``p(1) = p(3)`` computed as
    ``…651`` and ``…652``).

    >>> argmax_ties_low(np.array([[0.2, 0.4 - 1e-17, 0.4]])).tolist()
    [1]
    """
    top = probs.max(axis=-1, keepdims=True)
    return np.argmax(probs >= top * (1.0 - TIE_RTOL), axis=-1).astype(np.int64)


def top_two(probs: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
    """Per row: the top token (smallest id among ties), the runner-up, and whether they tie.

    >>> top, second, tied = top_two(np.array([[0.1, 0.6, 0.3], [0.4, 0.2, 0.4]]))
    >>> top.tolist(), second.tolist(), tied.tolist()
    ([1, 0], [2, 2], [False, True])
    """
    rows = np.arange(len(probs))
    top = argmax_ties_low(probs)
    rest = probs.copy()
    rest[rows, top] = -np.inf
    second = argmax_ties_low(rest)
    return top, second, probs[rows, second] >= probs[rows, top] * (1.0 - TIE_RTOL)


@dataclass(frozen=True)
class PromptTemplate:
    """Example length ``k`` (≥ 2: at least one input and the label), ``n_shots`` and the delimiter id.

    >>> t = PromptTemplate(k=3, n_shots=2)
    >>> t.length, t.delimiter_positions
    (10, (3, 7))
    """

    k: int
    n_shots: int
    delimiter: int = 0

    def __post_init__(self) -> None:
        check_int(self.k, "k", minimum=2)
        check_int(self.n_shots, "n_shots", minimum=0)
        check_int(self.delimiter, "delimiter", minimum=0)

    @property
    def length(self) -> int:
        """``L_n = n(k+1) + k − 1``: the prompt up to and including the query input."""
        return self.n_shots * (self.k + 1) + self.k - 1

    @property
    def delimiter_positions(self) -> tuple[int, ...]:
        return tuple(i * (self.k + 1) + self.k for i in range(self.n_shots))

    def token_sets(self, vocab_size: int, *, content: str = "any") -> list[list[int]]:
        """Allowed tokens at each position: the delimiter at its positions, else any token
        (``content="any"``) or any token but the delimiter (``"non-delimiter"``)."""
        if content not in ("any", "non-delimiter"):
            raise InputError(f"content must be 'any' or 'non-delimiter', got {content!r}")
        if self.delimiter >= vocab_size:
            raise InputError(f"delimiter={self.delimiter} is not a token id of a vocabulary of {vocab_size}")
        other = [o for o in range(vocab_size) if content == "any" or o != self.delimiter]
        delims = set(self.delimiter_positions)
        return [[self.delimiter] if t in delims else other for t in range(self.length)]


def prompt_set_log_prob(mixture: HMMMixture | GincMixture, template: PromptTemplate, *, content: str = "any") -> float:
    """``log P_p(S_n)``: the pretraining probability that a document starts with an n-shot prompt.

    ``S_n`` is the set of all token strings of length ``L_n`` with the
    delimiter at the template's positions (``content="any"``: any tokens
    between, the set of docs/paper.md §4.4.2). Exact, by one forward pass over
    token *sets* (:meth:`~exact.hmm.mixture.HMMMixture.log_prob_sets`).
    """
    mix = as_mixture(mixture)
    if not isinstance(template, PromptTemplate):
        raise InputTypeError(f"template must be a PromptTemplate, got {type(template).__name__}")
    sizes = {"k": template.k, "n_shots": template.n_shots}
    check_work((PYTHON_STEP_OPS + 100.0 * mix.vocab_size) * template.length, "the prompt set's token sets", sizes)
    return mix.log_prob_sets(template.token_sets(mix.vocab_size, content=content))[0]


def _check_mixture(obj: object, template: PromptTemplate) -> HMMMixture:
    mixture = as_mixture(obj)
    if mixture.n_slots < 2:
        raise InputError(f"GINC prompts need n_slots ≥ 2 (slot 0 is the delimiter slot), got {mixture.n_slots}")
    if template.delimiter >= mixture.vocab_size:
        raise InputError(f"delimiter={template.delimiter} is not a token id (vocab_size={mixture.vocab_size})")
    return mixture


def _pair_mixture(mixture: HMMMixture, concepts: NDArray[np.int64], slots: NDArray[np.int64]) -> HMMMixture:
    """One pseudo-concept per (concept, start slot): the concept's HMM started uniformly over values at the slot."""
    nv, ns = mixture.n_values, mixture.n_slots
    start = np.zeros((concepts.size, nv * ns))
    start[np.arange(concepts.size)[:, None], np.arange(nv)[None, :] * ns + slots[:, None]] = 1.0 / nv
    return mixture.select_concepts(concepts, start=start)


def _labels(
    mixture: HMMMixture, concepts: NDArray[np.int64], slots: NDArray[np.int64], x: TokenBatch
) -> NDArray[np.int64]:
    """GINC's label per row: argmax of ``p(y | x, θ, start uniform at slot)``; −1 where ``x`` is impossible."""
    pairs, inverse = np.unique(np.stack([concepts, slots], axis=1), axis=0, return_inverse=True)
    sub = _pair_mixture(mixture, pairs[:, 0], pairs[:, 1])
    res = sub._forward_lanes(
        x.tokens,
        x.lengths,
        np.arange(len(x), dtype=np.int64),
        inverse.reshape(-1).astype(np.int64),
        sub._token_table(),
        predictive=True,
        method="auto",
    )
    assert res.predictive is not None
    return np.where(res.loglik > -np.inf, argmax_ties_low(res.predictive), -1)


def _bayes_predictions(
    mixture: HMMMixture, prompts: TokenBatch
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """``argmax_y p(y | prompt)``, the swap model ``q_n``'s argmax (the runner-up, or the top
    where the two tie) — both −1 where ``p(prompt) = 0`` — and ``p(θ | prompt)``."""
    post, out = mixture.bayes(prompts)
    top, second, tied = top_two(out.probs)
    swapped = np.where(tied, top, second)
    return np.where(out.defined, top, -1), np.where(out.defined, swapped, -1), post.probs


@dataclass(frozen=True)
class PromptSample:
    """Sampled prompts with their provenance (see :func:`sample_prompts`).

    ``tokens`` (n_prompts, L_n); ``x_query`` (n_prompts, k−1); ``labels`` is
    GINC's label (−1 if ``x`` is impossible under the true concept).
    """

    template: PromptTemplate
    tokens: TokenBatch
    concepts: NDArray[np.int64]
    start_slots: NDArray[np.int64]
    x_query: TokenBatch
    labels: NDArray[np.int64]


def sample_prompts(
    mixture: HMMMixture | GincMixture, template: PromptTemplate, n_prompts: int, rng: np.random.Generator
) -> PromptSample:
    """Draw ``n_prompts`` prompts by GINC's ``ID_sample`` process (module docstring).

    ``mixture`` is an :class:`~exact.hmm.mixture.HMMMixture` or a :class:`~exact.hmm.ginc.GincMixture`.
    """
    mixture = _check_mixture(mixture, template)
    n = check_int(n_prompts, "n_prompts")
    sizes = {"n_prompts": n, "k": template.k, "n_shots": template.n_shots}
    check_bytes(24.0 * n * template.length, "the sampled prompts", sizes)
    check_work(PYTHON_STEP_OPS * template.length + 10.0 * n * template.length, "sampling the prompts", sizes)
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    k, shots, ns, nv = template.k, template.n_shots, mixture.n_slots, mixture.n_values
    concepts = draw_rows(np.broadcast_to(mixture.prior, (n, mixture.n_concepts)), rng)
    slots = rng.integers(1, ns, size=n).astype(np.int64)
    cv = concepts if mixture.value_transmat.shape[0] > 1 else np.zeros_like(concepts)
    ce = concepts if mixture.emissions.shape[0] > 1 else np.zeros_like(concepts)
    width = (shots + 1) * (k + 1)
    tokens = np.full((n, width), template.delimiter, dtype=np.int64)
    for j in range(shots + 1):
        value = rng.integers(0, nv, size=n).astype(np.int64)
        slot = slots.copy()
        for i in range(k):
            if i:
                value = draw_rows(mixture.value_transmat[cv, value], rng)
                slot = draw_rows(mixture.slot_transmat[concepts, slot], rng)
            tokens[:, j * (k + 1) + i] = draw_rows(mixture.emissions[ce, value * ns + slot], rng)
    length = template.length
    batch = TokenBatch(tokens[:, :length], np.full(n, length), mixture.vocab_size)
    x = TokenBatch(tokens[:, length - (k - 1) : length], np.full(n, k - 1), mixture.vocab_size)
    return PromptSample(template, batch, concepts, slots, x, _labels(mixture, concepts, slots, x))


@dataclass(frozen=True)
class IclPoint:
    """The Bayes predictor's ICL accuracy at one shot count.

    ``method`` is ``"exact"`` (finite sum over ``n_items`` prompt strings; the
    interval is the point) or ``"estimate"`` (``n_items`` sampled prompts,
    95 % Wilson interval). ``undefined`` is the probability (or fraction) of
    prompts with pretraining probability zero, counted as wrong;
    ``true_posterior`` is ``E[p(θ* | prompt)]`` (with a normal 95 % half-width
    for estimates); ``log_prob_prompt_set`` is ``log P_p(S_n)`` under
    pretraining; ``total_mass`` is the prompt-distribution mass the exact sum
    covered (1 up to rounding; 1 by definition for estimates). ``runner_up_*``
    is the same accuracy for the swap model ``q_n`` (:mod:`exact.icl.qn`), whose
    prediction is p's runner-up (p's top token where the two tie).
    """

    n_shots: int
    method: str
    accuracy: float
    low: float
    high: float
    undefined: float
    true_posterior: float
    true_posterior_halfwidth: float
    n_items: int
    log_prob_prompt_set: float
    total_mass: float
    runner_up_accuracy: float
    runner_up_low: float
    runner_up_high: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion ``successes / n`` (``n ≥ 1``).

    >>> [round(x, 4) for x in wilson(8, 10)]
    [0.4902, 0.9433]
    """
    n = check_int(n, "n", minimum=1)
    successes = check_int(successes, "successes", minimum=0, maximum=n)
    p = successes / n
    denom = 1 + _Z95**2 / n
    centre = (p + _Z95**2 / (2 * n)) / denom
    half = _Z95 * math.sqrt(p * (1 - p) / n + _Z95**2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _all_strings(vocab: int, length: int) -> NDArray[np.int64]:
    if length == 0:
        return np.zeros((1, 0), dtype=np.int64)
    return np.array(list(itertools.product(range(vocab), repeat=length)), dtype=np.int64)


def _exact_point(mixture: HMMMixture, template: PromptTemplate, limit: int) -> IclPoint | None:
    """Exact accuracy by summing over all prompt strings and (concept, slot) pairs, or None if too many."""
    k, shots, m, ns = template.k, template.n_shots, mixture.vocab_size, mixture.n_slots
    if m**k > limit:
        return None
    cs = np.array([(c, s) for c in range(mixture.n_concepts) if mixture.prior[c] > 0 for s in range(1, ns)])
    weights = mixture.prior[cs[:, 0]] / (ns - 1)
    sub = _pair_mixture(mixture, cs[:, 0], cs[:, 1])
    ex = _all_strings(m, k)
    ll_ex = sub.log_likelihoods(TokenBatch(ex, np.full(len(ex), k), m))  # (strings, pairs)
    keep = (ll_ex > -np.inf).any(axis=1)
    ex, ll_ex = ex[keep], ll_ex[keep]
    xs = _all_strings(m, k - 1)
    fx = sub.forward(TokenBatch(xs, np.full(len(xs), k - 1), m), predictive=True)
    assert fx.predictive is not None
    keep_x = (fx.loglik > -np.inf).any(axis=1)
    xs, ll_x = xs[keep_x], fx.loglik[keep_x]
    labels = np.where(ll_x > -np.inf, argmax_ties_low(fx.predictive[keep_x]), -1)  # (x, pairs)
    count = len(ex) ** shots * len(xs)
    if count > limit or count * len(cs) > 20 * limit:
        return None
    idx = np.array(list(itertools.product(range(len(ex)), repeat=shots)), dtype=np.int64).reshape(
        len(ex) ** shots, shots
    )
    idx = np.repeat(idx, len(xs), axis=0)
    xi = np.tile(np.arange(len(xs)), len(ex) ** shots)
    width = shots * (k + 1)
    tokens = np.full((count, template.length), template.delimiter, dtype=np.int64)
    for j in range(shots):
        tokens[:, j * (k + 1) : j * (k + 1) + k] = ex[idx[:, j]]
    tokens[:, width:] = xs[xi]
    pred, pred_q, post = _bayes_predictions(mixture, TokenBatch(tokens, np.full(count, template.length), m))
    log_joint = ll_x[xi] + np.log(weights)[None, :]
    for j in range(shots):
        log_joint = log_joint + ll_ex[idx[:, j]]
    with np.errstate(under="ignore"):
        prob = np.exp(log_joint)  # (prompts, pairs)
    correct = (pred[:, None] == labels[xi]) & (pred[:, None] >= 0)
    accuracy = float(np.sum(prob * correct))
    accuracy_q = float(np.sum(prob * ((pred_q[:, None] == labels[xi]) & (pred_q[:, None] >= 0))))
    undefined = float(np.sum(prob[pred < 0]))
    true_post = float(np.sum(prob * post[:, cs[:, 0]]))
    return IclPoint(
        shots,
        "exact",
        accuracy,
        accuracy,
        accuracy,
        undefined,
        true_post,
        0.0,
        int(count),
        prompt_set_log_prob(mixture, template),
        float(np.sum(prob)),
        accuracy_q,
        accuracy_q,
        accuracy_q,
    )


def _estimate_point(
    mixture: HMMMixture, template: PromptTemplate, n_prompts: int, rng: np.random.Generator
) -> IclPoint:
    sample = sample_prompts(mixture, template, n_prompts, rng)
    pred, pred_q, post = _bayes_predictions(mixture, sample.tokens)
    correct = int(np.sum((pred == sample.labels) & (pred >= 0)))
    low, high = wilson(correct, n_prompts)
    correct_q = int(np.sum((pred_q == sample.labels) & (pred_q >= 0)))
    tp = post[np.arange(n_prompts), sample.concepts]
    half = _Z95 * float(np.std(tp, ddof=1)) / math.sqrt(n_prompts) if n_prompts > 1 else math.inf
    return IclPoint(
        template.n_shots,
        "estimate",
        correct / n_prompts,
        low,
        high,
        float(np.mean(pred < 0)),
        float(np.mean(tp)),
        half,
        n_prompts,
        prompt_set_log_prob(mixture, template),
        1.0,
        correct_q / n_prompts,
        *wilson(correct_q, n_prompts),
    )


def check_curve_cost(
    mixture: HMMMixture | GincMixture, k: int, shots: Sequence[int], *, n_prompts: int, delimiter: int = 0
) -> None:
    """Raise :class:`~exact.core.limits.LimitError` if :func:`icl_accuracy` would exceed the limits.

    Every estimated row samples ``n_prompts`` prompts and runs one forward pass over them, so
    all rows are bounded together before the first one runs (an exact row costs less).
    """
    mix = as_mixture(mixture)
    n_prompts = check_int(n_prompts, "n_prompts")
    tokens = sum(n_prompts * PromptTemplate(k, n, delimiter).length for n in shots)
    sizes = {"shots": max(shots), "k": k, "n_prompts": n_prompts, "n_concepts": mix.n_concepts}
    check_bytes(16.0 * n_prompts * PromptTemplate(k, max(shots), delimiter).length, "the sampled prompts", sizes)
    positions = sum(PromptTemplate(k, n, delimiter).length for n in shots)  # sampled position by position
    check_work(
        float(tokens) * mix.n_concepts * mix.n_states * (mix.n_values + mix.n_slots) + PYTHON_STEP_OPS * positions,
        "the ICL curve",
        sizes,
    )


def icl_accuracy(
    mixture: HMMMixture | GincMixture,
    k: int,
    shots: Sequence[int],
    *,
    delimiter: int = 0,
    n_prompts: int = 2500,
    seed: SeedLike = 0,
    max_enumeration: int = 100_000,
    method: str = "auto",
) -> list[IclPoint]:
    """The Bayes predictor's ICL accuracy for each shot count in ``shots``.

    ``method="auto"`` is exact where the prompt space has at most
    ``max_enumeration`` strings and estimated from ``n_prompts`` prompts
    (``seed`` an int or a :class:`numpy.random.SeedSequence`, e.g. the named stream
    ``exact.core.rng.stream(run_seed, "prompts")``; one child stream per shot count)
    otherwise; ``"exact"`` raises ``ValueError`` if enumeration is too large;
    ``"estimate"`` always samples.
    """
    if method not in ("auto", "exact", "estimate"):
        raise InputError(f"method must be 'auto', 'exact' or 'estimate', got {method!r}")
    if isinstance(shots, (str, bytes)) or not isinstance(shots, Sequence) or not shots:
        raise InputError(f"shots must be a non-empty sequence of shot counts, got {shots!r}")
    shots = [check_int(n, "shots[i]", minimum=0) for n in shots]
    check_int(n_prompts, "n_prompts")
    root = as_seed_sequence(seed)
    check_int(max_enumeration, "max_enumeration")
    check_curve_cost(mixture, k, shots, n_prompts=n_prompts, delimiter=delimiter)
    points = []
    seeds = root.spawn(len(shots))
    for n_shots, child in zip(shots, seeds, strict=True):
        template = PromptTemplate(k, n_shots, delimiter)
        mixture = _check_mixture(mixture, template)
        point = None if method == "estimate" else _exact_point(mixture, template, max_enumeration)
        if point is None and method == "exact":
            raise InputError(
                f"the prompt space for k={k}, n_shots={n_shots} exceeds max_enumeration={max_enumeration}; "
                "use method='estimate' or raise max_enumeration"
            )
        points.append(point or _estimate_point(mixture, template, n_prompts, np.random.default_rng(child)))
    return points
