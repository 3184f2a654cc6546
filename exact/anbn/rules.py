"""The rules of aⁿbⁿ, vectorised over token batches.

Following the official code (Reizinger et al. 2024, ``data.py``):

* **R1** ``#a = #b`` (``check_same_number_as_bs``);
* **R2** no ``a`` after a ``b`` (``check_as_before_bs``; vacuously true without a's or b's);
* **language** ``L = R1 ∩ R2`` with ``n ≥ 1``.

Here a row is read up to its first ``EOS`` (the completion ends there); the rules
look at its ``a``/``b`` tokens only. :func:`is_sentence` is stricter: the row is
exactly ``SOS aⁿ bⁿ EOS PAD*`` with ``n ≥ 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.completions import Rule
from exact.core.tokens import EOS, PAD, SOS, A, B, TokenBatch

__all__ = ["ANBN_RULES", "R1", "R2", "RuleChecks", "check_rules", "is_sentence"]


@dataclass(frozen=True)
class RuleChecks:
    """Per-row rule results (all arrays have shape ``(batch,)``)."""

    n_a: NDArray[np.int64]
    n_b: NDArray[np.int64]
    r1: NDArray[np.bool_]
    r2: NDArray[np.bool_]
    in_language: NDArray[np.bool_]
    has_eos: NDArray[np.bool_]


def _valid_mask(batch: TokenBatch) -> NDArray[np.bool_]:
    width = batch.tokens.shape[1]
    return np.arange(width)[None, :] < batch.lengths[:, None]


def check_rules(batch: TokenBatch) -> RuleChecks:
    """R1, R2 and language membership of the a/b tokens before each row's first EOS."""
    valid = _valid_mask(batch)
    is_eos = (batch.tokens == EOS) & valid
    before_eos = np.cumsum(is_eos, axis=1) == 0
    live = valid & before_eos
    is_a = (batch.tokens == A) & live
    is_b = (batch.tokens == B) & live
    b_before = np.cumsum(is_b, axis=1) - is_b
    n_a = is_a.sum(axis=1)
    n_b = is_b.sum(axis=1)
    r1 = n_a == n_b
    r2 = ~np.any(is_a & (b_before > 0), axis=1)
    return RuleChecks(n_a, n_b, r1, r2, r1 & r2 & (n_a >= 1), is_eos.any(axis=1))


def is_sentence(batch: TokenBatch) -> NDArray[np.bool_]:
    """True where the row is exactly ``SOS aⁿ bⁿ EOS PAD*`` with ``n ≥ 1``."""
    tokens, lengths = batch.tokens, batch.lengths
    checks = check_rules(batch)
    n = checks.n_a
    pos = np.arange(tokens.shape[1])[None, :]
    expected = np.where(
        pos == 0,
        SOS,
        np.where(
            pos <= n[:, None],
            A,
            np.where(pos <= 2 * n[:, None], B, np.where(pos == 2 * n[:, None] + 1, EOS, PAD)),
        ),
    )
    valid = _valid_mask(batch)
    matches = np.all((tokens == expected) | ~valid, axis=1)
    return matches & (n >= 1) & (lengths >= 2 * n + 2)


def _r1(words: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.bool_]:
    live = np.arange(words.shape[1])[None, :] < lengths[:, None]
    return np.sum((words == A) & live, axis=1) == np.sum((words == B) & live, axis=1)


def _r2(words: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.bool_]:
    live = np.arange(words.shape[1])[None, :] < lengths[:, None]
    is_b = (words == B) & live
    return ~np.any((words == A) & live & (np.cumsum(is_b, axis=1) > 0), axis=1)


#: R1 on the whole word (prompt and completion), as the official ``check_same_number_as_bs``.
R1 = Rule("R1", "#a = #b", _r1, scope="word")
#: R2 on the completion alone, the official "completion accuracy" (``check_as_before_bs``).
R2 = Rule("R2", "no a after a b", _r2, scope="completion")
ANBN_RULES = (R1, R2)
