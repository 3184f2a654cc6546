"""The exact evaluation of trained transformers against the Bayes predictor and ``q_n`` (docs/icl.md).

*Documents* (:func:`document_metrics`): on held-out documents, the model's KL to the Bayes
predictive ``KL(p(·|x_<t) ‖ model(·|x_<t))`` at every position (exact: the Bayes side from
:func:`~exact.hmm.positions.bayes_per_position`, the model's full softmax in float64), as a
curve over positions and averaged; and the model's cross-entropy beside the exact
per-document floor (the Bayes predictive's own log-loss on the same documents) and their
paired difference, each with a 95 % normal interval over documents.

*In-context prompts* (:func:`icl_metrics`): GINC prompts (:func:`~exact.hmm.prompts.sample_prompts`)
for every shot count; the argmax of a predictor against GINC's label and against the Bayes
argmax, with 95 % Wilson intervals, and its KL from ``p`` and from ``q_n`` at the answer
position. The same :func:`score_answers` scores the model, ``p`` itself (KL 0, the Bayes
accuracy) and ``q_n`` (flipped on every prompt), so each evaluation has its own check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from exact.core.rng import generator
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError
from exact.hmm.mixture import HMMMixture
from exact.hmm.positions import PositionPredictive, bayes_per_position
from exact.hmm.prompts import argmax_ties_low, sample_prompts, wilson
from exact.icl.certify import (
    ArbParams,
    arb_float_bounds,
    arb_log10_bounds,
    certified_kl_upper,
    certified_prompt_set_masses,
    emission_floor,
    format_upper,
)
from exact.icl.qn import SwapModel
from learned.icl.config import IclConfig
from learned.icl.data import model_inputs
from learned.icl.results import Accuracy, AnswerScores, DocumentMetrics, Interval, ShotRow
from learned.nn.model import Transformer

__all__ = [
    "ICL_STREAM",
    "PromptSet",
    "certified_qn_kl",
    "chance_accuracy",
    "document_metrics",
    "exact_scores",
    "icl_prompts",
    "model_log_probs",
    "model_scores",
    "score_answers",
    "shot_rows",
]

#: The named stream of the evaluation prompts (exact.core.rng).
ICL_STREAM = "prompts"
#: z of a two-sided 95 % normal interval.
_Z95 = 1.959963984540054


def mean_interval(values: NDArray[np.float64]) -> Interval:
    """Mean and 95 % normal interval (``1.96 · sd / √n``) of per-item values (documents or prompts)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    half = _Z95 * float(v.std(ddof=1)) / math.sqrt(v.size) if v.size > 1 else math.inf
    m = float(v.mean())
    return Interval(m, m - half, m + half)


@torch.no_grad()
def model_log_probs(
    model: Transformer, tokens: NDArray[np.int64], bos: int, *, chunk: int | None = None
) -> NDArray[np.float64]:
    """``log model(· | BOS, x_<t)`` for every member, row and position: shape (S, N, T, vocab), float64.

    The model is run without dropout (evaluation mode). The softmax is over the model's whole
    vocabulary; the BOS column is then dropped (not renormalised): ``p`` never predicts BOS, so
    ``KL(p ‖ model)`` over the symbols is the model's exact KL, any mass it puts on BOS included.
    """
    if bos != model.vocab_size - 1:
        raise InputError(f"bos must be the model's last token id {model.vocab_size - 1}, got {bos!r}")
    if chunk is not None and (not isinstance(chunk, int) or chunk < 1):
        raise InputError(f"chunk must be a positive integer, got {chunk!r}")
    model.eval()
    device = model.embed.device
    inputs = model_inputs(np.asarray(tokens, dtype=np.int64), bos)
    if chunk is None:  # rows per forward pass: the attention patterns of one chunk stay near 1 GiB
        width = inputs.shape[-1]
        chunk = max(1, min(256, 2**28 // (model.n_models * model.cfg.n_heads * width * width)))
    parts = []
    for lo in range(0, len(inputs), chunk):
        logits = model(torch.as_tensor(inputs[lo : lo + chunk], device=device))  # (S, B, T, V + 1)
        parts.append(torch.log_softmax(logits.double(), dim=-1)[..., :bos].cpu().numpy())
    return np.concatenate(parts, axis=1)


def _kl_rows(p: NDArray[np.float64], log_q: NDArray[np.float64]) -> NDArray[np.float64]:
    """``Σ_y p(y)(log p(y) − log q(y))`` over the last axis (``0 log 0 = 0``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1.0)) - log_q), 0.0)
    return terms.sum(axis=-1)


def document_metrics(
    model: Transformer, mixture: HMMMixture, docs: TokenBatch, bos: int, exact: PositionPredictive | None = None
) -> list[DocumentMetrics]:
    """Per member: exact per-position KL to the Bayes predictive, cross-entropy and the exact floor.

    ``exact``: :func:`~exact.hmm.positions.bayes_per_position` of ``docs``, when already computed.
    """
    exact = bayes_per_position(mixture, docs) if exact is None else exact
    if not exact.defined.all():
        raise ValueError("a held-out document has probability 0 under its own mixture (an internal bug)")
    log_q = model_log_probs(model, docs.tokens, bos)
    floor = exact.log_loss.mean(axis=1)  # nats/token, per document
    rows, cols = np.meshgrid(np.arange(len(docs)), np.arange(docs.tokens.shape[1]), indexing="ij")
    out = []
    for i, seed in enumerate(model.seeds):
        kl = _kl_rows(exact.probs, log_q[i])  # (N, T)
        ce = -log_q[i][rows, cols, docs.tokens].mean(axis=1)
        curve = [mean_interval(kl[:, t]) for t in range(kl.shape[1])]
        out.append(
            DocumentMetrics(
                seed=int(seed),
                n_docs=len(docs),
                kl_per_token=mean_interval(kl.mean(axis=1)),
                kl_curve=tuple(c.mean for c in curve),
                kl_curve_low=tuple(c.low for c in curve),
                kl_curve_high=tuple(c.high for c in curve),
                model_ce=mean_interval(ce),
                floor_ce=mean_interval(floor),
                excess_ce=mean_interval(ce - floor),
            )
        )
    return out


@dataclass(frozen=True)
class PromptSet:
    """One shot count's prompts with the exact answers of ``p`` and ``q_n`` on them."""

    n_shots: int
    tokens: TokenBatch
    labels: NDArray[np.int64]
    p: NDArray[np.float64]
    qn: NDArray[np.float64]


def icl_prompts(cfg: IclConfig, mixture: HMMMixture) -> list[PromptSet]:
    """``eval.n_prompts`` GINC prompts per shot count (one child of stream ``prompts`` each),
    with the Bayes predictive ``p(· | prompt)`` and ``q_n(· | prompt)`` (ties kept: ``q_n = p`` there)."""
    root = generator(cfg.eval.seed, ICL_STREAM)
    out = []
    for n_shots, child in zip(cfg.eval.shots, root.spawn(len(cfg.eval.shots)), strict=True):
        template = cfg.eval.template(n_shots)
        sample = sample_prompts(mixture, template, cfg.eval.n_prompts, child)
        p = mixture.next_token_probs(sample.tokens)
        q = SwapModel(mixture, template, tie_policy="keep").next_token_probs(sample.tokens)
        if not p.defined.all():
            raise ValueError("a prompt has probability 0 under the smoothed mixture (an internal bug)")
        out.append(PromptSet(n_shots, sample.tokens, sample.labels, p.probs, q.probs))
    return out


def _accuracy(hits: NDArray[np.bool_]) -> Accuracy:
    n, k = int(hits.size), int(hits.sum())
    low, high = wilson(k, n)
    return Accuracy(k, n, k / n, low, high)


def score_answers(prompts: PromptSet, log_answer: NDArray[np.float64]) -> AnswerScores:
    """Score a predictor's answer distributions ``log_answer`` (n_prompts, vocab) on ``prompts``.

    Its argmax (ties to the smallest id) against GINC's label and against the Bayes argmax; its
    KL from ``p`` and from ``q_n`` at the answer position, averaged over prompts.
    """
    log_answer = np.asarray(log_answer, dtype=np.float64)
    if log_answer.shape != prompts.p.shape:
        raise InputError(f"log_answer must have shape {prompts.p.shape} (prompts × vocab), got {log_answer.shape}")
    answer = argmax_ties_low(np.exp(log_answer))  # on probabilities: its tie tolerance is relative
    bayes = argmax_ties_low(prompts.p)
    with np.errstate(divide="ignore"):
        return AnswerScores(
            vs_label=_accuracy((answer == prompts.labels) & (prompts.labels >= 0)),
            vs_bayes=_accuracy(answer == bayes),
            kl_from_p=mean_interval(_kl_rows(prompts.p, log_answer)),
            kl_from_qn=mean_interval(_kl_rows(prompts.qn, log_answer)),
        )


def exact_scores(prompts: PromptSet) -> tuple[AnswerScores, AnswerScores]:
    """``p``'s and ``q_n``'s own scores (both predictors exact)."""
    with np.errstate(divide="ignore"):
        return score_answers(prompts, np.log(prompts.p)), score_answers(prompts, np.log(prompts.qn))


def model_answers(model: Transformer, prompts: PromptSet, bos: int) -> NDArray[np.float64]:
    """``log model(· | BOS, prompt)`` at the answer position, per member: (S, n_prompts, vocab)."""
    tokens = np.concatenate([prompts.tokens.tokens, np.zeros((len(prompts.tokens), 1), dtype=np.int64)], axis=1)
    return model_log_probs(model, tokens, bos)[:, :, -1]


def model_scores(model: Transformer, prompt_sets: Sequence[PromptSet], bos: int) -> list[list[AnswerScores]]:
    """``[shot][member]`` scores of the model's answers."""
    return [[score_answers(ps, a) for a in model_answers(model, ps, bos)] for ps in prompt_sets]


def certified_qn_kl(mixture: HMMMixture, k: int, shots: Sequence[int]) -> dict[int, tuple[float, str]]:
    """For each shot count ``n``: a certified upper bound of ``KL(p ‖ q_n)`` over strings of length
    ``L_n + 1`` — ``P_p(S_n)·ln(1/β)`` in ball arithmetic (:mod:`exact.icl.certify`) — as a float
    rounded up and as decimal text (``10^e`` below the float range)."""
    shots = tuple(shots)
    if not shots or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in shots):
        raise InputError(f"shots must be a non-empty sequence of non-negative integers, got {shots!r}")
    params = ArbParams.from_mixture(mixture)
    beta = emission_floor(mixture, params)
    if not beta > 0:
        raise ValueError("ginc.emission_smoothing must be > 0 for a certified KL bound (some emission is 0)")
    want, out = set(shots), {}
    for n, mass in enumerate(certified_prompt_set_masses(mixture, k, max(shots), params=params)):
        if n in want:
            upper = certified_kl_upper(mass, beta)
            hi = arb_float_bounds(upper)[1]
            out[n] = (hi, format_upper(hi, log10=arb_log10_bounds(upper)[1] if upper > 0 else None))
    return out


def chance_accuracy(mixture: HMMMixture) -> float:
    """The accuracy of a uniform guess among the non-delimiter symbols (GINC's labels are never the delimiter)."""
    return 1.0 / (mixture.vocab_size - 1)


def shot_rows(cfg: IclConfig, mixture: HMMMixture, models: Sequence[Transformer]) -> list[tuple[ShotRow, ...]]:
    """For each model: every shot count's scores of ``p``, ``q_n`` and each member of the model, with
    ``q_n``'s certified KL bound. The prompts, ``p``'s and ``q_n``'s answers and the bounds are
    computed once for all models."""
    prompt_sets = icl_prompts(cfg, mixture)
    bounds = certified_qn_kl(mixture, cfg.eval.k, cfg.eval.shots)
    exact = [exact_scores(ps) for ps in prompt_sets]
    out = []
    for model in models:
        rows = []
        for ps, (p, q), scores in zip(prompt_sets, exact, model_scores(model, prompt_sets, cfg.bos), strict=True):
            hi, text = bounds[ps.n_shots]
            rows.append(ShotRow(ps.n_shots, cfg.eval.template(ps.n_shots).length, p, q, tuple(scores), hi, text))
        out.append(tuple(rows))
    return out
