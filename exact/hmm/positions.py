"""The Bayes predictive of a mixture at every position of every document, in one pass.

:meth:`~exact.hmm.mixture.HMMMixture.bayes` answers ``p(· | x)`` at the *end* of each
row; a per-position curve from it needs one forward pass per prefix (``O(T²)`` for a
document of length ``T``). :func:`bayes_per_position` runs the normalised forward
recursion of every concept once along each document and reads, at each position ``t``,

    p(y | x_<t) = Σ_θ p(θ | x_<t) · Σ_h p(h_t = h | x_<t, θ) B_θ[h, y],

and the log-loss ``−log p(x_t | x_<t)`` of the observed token. The per-concept filter
``p(h_t | x_≤t, θ)`` is renormalised at every step and its log normalisers accumulate
``log p(x_≤t | θ)`` (log space: nothing underflows, whatever ``T``); a concept that
cannot emit a prefix gets ``log p = −inf`` and weight 0, and a prefix impossible under
every concept leaves the rest of its row undefined (never NaN). The sum of the log-losses
of a row is ``−log p(x)`` (:meth:`~exact.hmm.mixture.HMMMixture.log_prob`), and each
position equals ``bayes`` on that prefix — both checked by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.limits import check_bytes, check_work
from exact.core.logspace import log_sum_exp
from exact.core.tokens import TokenBatch
from exact.hmm.mixture import HMMMixture, as_mixture

__all__ = ["PositionPredictive", "bayes_per_position"]


@dataclass(frozen=True)
class PositionPredictive:
    """The Bayes predictive along each row of a batch (see :func:`bayes_per_position`).

    Attributes
    ----------
    probs : ndarray, shape (batch, width, vocab)
        ``p(· | x_<t)`` at position ``t`` (``t = 0``: the first token's marginal); zero rows
        where undefined.
    log_loss : ndarray, shape (batch, width)
        ``−log p(x_t | x_<t)``; ``+inf`` where the token is impossible, 0 beyond a row's end.
    defined : ndarray of bool, shape (batch, width)
        ``t < length`` and ``p(x_<t) > 0``.
    """

    probs: NDArray[np.float64]
    log_loss: NDArray[np.float64]
    defined: NDArray[np.bool_]


def bayes_per_position(mixture: object, batch: TokenBatch) -> PositionPredictive:
    """``p(· | x_<t)`` and ``−log p(x_t | x_<t)`` for every row and every position ``t < length``.

    ``mixture`` is an :class:`~exact.hmm.mixture.HMMMixture` (or anything
    :func:`~exact.hmm.mixture.as_mixture` accepts). Cost: ``O(width · batch · n_concepts ·
    n_states²)`` with dense ``T_θ``, vectorised over rows and concepts.

    >>> from exact.hmm.categorical import CategoricalHMM
    >>> mix = HMMMixture.from_hmms([CategoricalHMM([1.0], [[1.0]], [[0.9, 0.1]]),
    ...                             CategoricalHMM([1.0], [[1.0]], [[0.2, 0.8]])])
    >>> out = bayes_per_position(mix, TokenBatch.from_sequences([[0, 0]], vocab_size=2))
    >>> out.probs[0].round(4).tolist()  # p(·) = (0.55, 0.45); p(0 | 0) = (0.9² + 0.2²) / (0.9 + 0.2)
    [[0.55, 0.45], [0.7727, 0.2273]]
    >>> bool(np.isclose(out.log_loss[0].sum(), -np.log((0.9**2 + 0.2**2) / 2), rtol=1e-15))  # −log p(x)
    True
    """
    mix: HMMMixture = as_mixture(mixture)
    mix._check_batch(batch)
    n, width = batch.tokens.shape[0], int(batch.lengths.max()) if len(batch) else 0
    k, h, m = mix.n_concepts, mix.n_states, mix.vocab_size
    sizes = {"sequences": n, "width": width, "n_concepts": k, "hidden states": h, "vocab": m}
    check_bytes(
        8.0 * n * width * (m + 2) + 24.0 * k * n * max(h, m) + 8.0 * k * h * h, "the per-position predictive", sizes
    )
    check_work(float(n) * width * k * h * (h + m), "the per-position predictive", sizes)
    trans = np.stack([mix.transmat(c) for c in range(k)])  # (K, H, H)
    emis = np.broadcast_to(mix.emissions, (k, h, m))  # (K, H, V)
    with np.errstate(divide="ignore"):
        log_w = np.broadcast_to(np.log(mix.prior)[:, None], (k, n)).copy()  # log p(θ) p(x_<t | θ), (K, N)
    state = np.broadcast_to(mix.start[:, None, :], (k, n, h)).copy()  # p(h_t | x_<t, θ), (K, N, H)
    probs = np.zeros((n, width, m))
    log_loss = np.zeros((n, width))
    defined = np.zeros((n, width), dtype=bool)
    for t in range(width):
        if t:
            state = state @ trans  # (K, N, H) @ (K, H, H): predict h_t from the filter at t − 1
        log_marg = log_sum_exp(log_w.T)  # log p(x_<t), (N,)
        live = (batch.lengths > t) & (log_marg > -np.inf)
        with np.errstate(under="ignore"):
            w = np.where(live[None, :], np.exp(log_w - np.where(live, log_marg, 0.0)[None, :]), 0.0)  # p(θ | x_<t)
        per_concept = state @ emis  # (K, N, V): p(y | x_<t, θ)
        probs[:, t] = np.einsum("kn,knv->nv", w, per_concept)
        defined[:, t] = live
        obs = np.where(live, batch.tokens[:, t], 0)
        unnorm = state * np.moveaxis(emis[:, :, obs], 2, 1)  # (K, N, H): p(h_t, x_t | x_<t, θ)
        c = unnorm.sum(axis=2)  # p(x_t | x_<t, θ)
        with np.errstate(divide="ignore"):
            log_w = np.where(live[None, :], log_w + np.log(c), log_w)
        log_after = log_sum_exp(log_w.T)
        with np.errstate(invalid="ignore"):  # −inf − (−inf) on rows impossible under every concept, masked
            log_loss[:, t] = np.where(live, log_marg - log_after, 0.0)
        safe = np.where(c > 0, c, 1.0)[:, :, None]
        state = np.where((c > 0)[:, :, None] & live[None, :, None], unnorm / safe, state)
    return PositionPredictive(probs, log_loss, defined)
