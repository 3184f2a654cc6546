"""The predictor interface shared by exact models, constructed models and trained networks.

An autoregressive model is a family of next-token conditionals ``q(· | prefix)``
(docs/paper.md §2). A :class:`Predictor` maps a :class:`~exact.core.tokens.TokenBatch`
of prefixes to one probability row per prefix. The exact data distribution
``p`` has no conditional on a zero-probability prefix; it says so through
:attr:`NextTokenProbs.defined` instead of inventing one. Models (witnesses,
``q_n``, transformers) define every row.

Metrics written once against this interface (chain-rule KL, sequence
probabilities, rule-extrapolation mass) apply to every model unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from exact.core.sampling import draw_rows
from exact.core.tokens import TokenBatch
from exact.core.validate import ROW_SUM_TOL, InputError, InputTypeError, check_int

__all__ = [
    "NextTokenProbs",
    "Predictor",
    "UndefinedConditionalError",
    "sample_sequences",
    "sequence_log_prob",
]


class UndefinedConditionalError(InputError):
    """Raised when a conditional on a zero-probability prefix is requested."""


@dataclass(frozen=True)
class NextTokenProbs:
    """Next-token distributions for a batch of prefixes.

    Attributes
    ----------
    probs : ndarray of float64, shape (batch, vocab)
        ``probs[i, y] = q(y | prefix_i)``; all zeros where ``defined[i]`` is False.
    defined : ndarray of bool, shape (batch,)
        False where the conditional does not exist (the prefix has probability
        zero under a data distribution).
    """

    probs: NDArray[np.float64]
    defined: NDArray[np.bool_]

    def __post_init__(self) -> None:
        probs = np.ascontiguousarray(self.probs, dtype=np.float64)
        defined = np.ascontiguousarray(self.defined, dtype=bool)
        if probs.ndim != 2 or defined.shape != (probs.shape[0],):
            raise InputError(
                f"probs must be (batch, vocab) and defined (batch,), got {probs.shape} and {defined.shape}"
            )
        if not np.all(np.isfinite(probs)) or np.any(probs < 0):
            raise InputError("probs must be finite and non-negative")
        sums = probs.sum(axis=1)
        bad = defined & (np.abs(sums - 1.0) > ROW_SUM_TOL)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"row {i} of probs sums to {sums[i]!r}, not 1 (tolerance {ROW_SUM_TOL})")
        if np.any(~defined & (sums != 0)):
            raise InputError("rows of undefined conditionals must be all zero")
        probs.setflags(write=False)
        defined.setflags(write=False)
        object.__setattr__(self, "probs", probs)
        object.__setattr__(self, "defined", defined)

    def require_defined(self) -> NDArray[np.float64]:
        """The probability matrix, or :class:`UndefinedConditionalError` if a row is undefined."""
        if not self.defined.all():
            rows = np.flatnonzero(~self.defined)
            raise UndefinedConditionalError(
                f"the conditional is undefined for {rows.size} prefix(es) of probability zero "
                f"(first: row {int(rows[0])}): no next-token distribution exists there"
            )
        return self.probs


@runtime_checkable
class Predictor(Protocol):
    """Anything that maps prefixes to next-token distributions."""

    @property
    def vocab_size(self) -> int:
        """Number of tokens."""
        ...

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        """One distribution over the vocabulary per prefix."""
        ...


def sequence_log_prob(predictor: Predictor, batch: TokenBatch, *, start: int = 0) -> NDArray[np.float64]:
    """``log q(x_start.. | x_<start)`` for each row, by the chain rule.

    Queries the predictor once per position (``max(lengths) − start`` batched
    calls). Tokens before ``start`` are the conditioning context (e.g. ``SOS``).
    An undefined conditional means the prefix has probability zero under the
    predictor, so the row's log-probability is ``-inf`` (never NaN).
    """
    if start < 0:
        raise InputError(f"start must be ≥ 0, got {start}")
    if batch.vocab_size != predictor.vocab_size:
        raise InputError(
            f"batch.vocab_size={batch.vocab_size} does not match the predictor's vocab_size={predictor.vocab_size}"
        )
    n = len(batch)
    total = np.zeros(n, dtype=np.float64)
    for t in range(start, int(batch.lengths.max(initial=0))):
        rows = np.flatnonzero(batch.lengths > t)
        prefixes = batch.select(rows, width=t)
        out = predictor.next_token_probs(prefixes)
        chosen = np.where(out.defined, out.probs[np.arange(rows.size), batch.tokens[rows, t]], 0.0)
        with np.errstate(divide="ignore"):
            total[rows] += np.log(chosen)
    return total


def sample_sequences(
    predictor: Predictor, n_sequences: int, length: int, rng: np.random.Generator, *, prefix: Sequence[int] = ()
) -> TokenBatch:
    """Draw ``n_sequences`` continuations of ``prefix`` to ``length`` tokens from any predictor.

    Ancestral sampling through :meth:`Predictor.next_token_probs` (one batched
    call per position), so exact distributions, constructed models such as
    ``q_n`` and trained networks sample alike. Raises
    :class:`UndefinedConditionalError` if a sampled prefix has no conditional.
    """
    n = check_int(n_sequences, "n_sequences")
    total = check_int(length, "length", minimum=len(prefix))
    if not isinstance(rng, np.random.Generator):
        raise InputTypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    tokens = np.zeros((n, total), dtype=np.int64)
    tokens[:, : len(prefix)] = np.asarray(prefix, dtype=np.int64)
    for t in range(len(prefix), total):
        probs = predictor.next_token_probs(
            TokenBatch(tokens[:, :t], np.full(n, t), predictor.vocab_size)
        ).require_defined()
        tokens[:, t] = draw_rows(probs, rng)
    return TokenBatch(tokens, np.full(n, total), predictor.vocab_size)
