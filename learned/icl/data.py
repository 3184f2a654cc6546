"""Training and held-out documents for case study 2, drawn from the exact mixture.

Documents come from :meth:`~exact.hmm.mixture.HMMMixture.sample` (a concept from the prior,
then ``doc_length`` tokens from its HMM: GINC's format, the delimiter emitted by slot 0), so
the data distribution *is* the mixture whose Bayes predictive the evaluation computes.
Training batches are a pure function of (seed, step): step ``s`` of seed ``σ`` uses the child
``s`` of the named stream ``icl-data`` of ``σ``, so nothing is stored, any step can be redrawn
and a resumed run sees exactly the batches an uninterrupted one does. The model reads
``[BOS, x_1, …, x_{T−1}]`` and predicts ``x_1, …, x_T``: ``BOS = n_symbols``, so the first
token's prediction is scored too.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from exact.core.rng import generator, stream
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError
from exact.hmm.mixture import HMMMixture

__all__ = ["heldout_documents", "model_inputs", "training_batch"]


def training_batch(
    mixture: HMMMixture, seeds: tuple[int, ...], step: int, batch_size: int, length: int
) -> NDArray[np.int64]:
    """``(len(seeds), batch_size, length)`` documents: seed ``σ``'s batch of step ``step``."""
    for name, value, low in (("step", step, 0), ("batch_size", batch_size, 1), ("length", length, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InputError(f"{name} must be an integer ≥ {low}, got {value!r}")
    out = np.empty((len(seeds), batch_size, length), dtype=np.int64)
    for i, seed in enumerate(seeds):
        child = np.random.SeedSequence(stream(seed, "icl-data").entropy, spawn_key=(step,))
        out[i] = mixture.sample(batch_size, length, np.random.default_rng(child))[0].tokens
    return out


def heldout_documents(mixture: HMMMixture, seed: int, n_docs: int, length: int) -> tuple[TokenBatch, NDArray[np.int64]]:
    """``n_docs`` held-out documents (stream ``icl-heldout`` of ``seed``) and their concepts."""
    docs, concepts, _ = mixture.sample(n_docs, length, generator(seed, "icl-heldout"))
    return docs, concepts


def model_inputs(tokens: NDArray[np.int64], bos: int) -> NDArray[np.int64]:
    """``[BOS, x_1, …, x_{T−1}]`` for each row ``x`` (the last axis): the inputs whose outputs predict ``x``.

    >>> model_inputs(np.array([[3, 1, 2]]), bos=9).tolist()
    [[9, 3, 1]]
    """
    lead = np.full((*tokens.shape[:-1], 1), bos, dtype=np.int64)
    return np.concatenate([lead, tokens[..., :-1]], axis=-1)
