"""Exhaustive enumeration of a/b words with their exact probabilities and rule classes.

* :func:`enumerate_strings` — every word ``w ∈ {a,b}^ℓ`` for ``1 ≤ ℓ ≤ L`` with
  ``log p(SOS w)`` (prefix) and ``log p(SOS w EOS)`` (sentence). The sentence
  mass covered is ``P(n ≤ ⌊L/2⌋)``; the rest is reported as ``truncated_mass``
  (exact rational), never renormalised away.
* :func:`enumerate_prompts` — the ``2ᵏ`` prompts ``SOS w`` of length ``k`` with
  their class. A prompt is *in distribution* (ID) iff ``p(SOS w) > 0``. The
  official code classifies by grammar instead (``R2 ∧ #a ≥ #b``; Reizinger et
  al. 2024, ``data.py: prompt_grammar_rules``); the two agree whenever
  ``P(N ≥ k) > 0``. For ``k = 8``: 5 ID, 251 OOD, 69 OOD with ``#a = #b``,
  247 violating R2, 4 with R2 but ``#b > #a`` (docs/paper.md §5.5).

Words are stored as integer codes: position ``t`` of a length-``ℓ`` word is bit
``ℓ − 1 − t`` (0 = a, 1 = b), so codes ascend lexicographically. The work is
done by the numba kernel :func:`exact.anbn._kernels.enumerate_layer`; its NumPy
twin is :func:`exact.anbn.reference.enumerate_layer_reference`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from exact.anbn import _kernels as _k
from exact.anbn.distribution import AnbnDistribution
from exact.core.tokens import SOS
from exact.core.validate import InputError, InputTypeError, check_int

__all__ = [
    "PromptTable",
    "StringTable",
    "enumerate_prompts",
    "enumerate_strings",
    "estimate_enumeration_bytes",
]

#: Bytes per enumerated word: code (8) + length (1) + two float64 (16) + #b (1) + R2 (1).
BYTES_PER_WORD = 27
#: Default memory limit of one enumeration; raise it with ``max_bytes``.
DEFAULT_MAX_BYTES = 1 << 30
#: Words are coded in an int64.
MAX_WORD_LENGTH = 62


def estimate_enumeration_bytes(max_length: int) -> int:
    """Bytes that :func:`enumerate_strings` needs for all words of length 1..``max_length``."""
    return BYTES_PER_WORD * ((1 << (max_length + 1)) - 2)


def _fmt_bytes(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _check_dist(dist: object) -> None:
    if not isinstance(dist, AnbnDistribution):
        raise InputTypeError(f"dist must be an AnbnDistribution, got {type(dist).__name__}")


def _check_length(value: object, name: str, *, max_bytes: int, words) -> int:
    max_bytes = check_int(max_bytes, "max_bytes")
    value = check_int(value, name, maximum=MAX_WORD_LENGTH, why=" (words are coded in an int64)")
    need = BYTES_PER_WORD * words(value)
    if need > max_bytes:
        raise InputError(
            f"{name}={value} needs about {_fmt_bytes(need)} of memory, above the limit "
            f"max_bytes={max_bytes} ({_fmt_bytes(max_bytes)}); lower {name} or pass a larger max_bytes"
        )
    return value


def _fill_layer(dist: AnbnDistribution, length: int, *out: NDArray) -> None:
    """Run the layer kernel into the caller's (contiguous) output slices."""
    log_pmf, log_sf = dist.law.tables(length + 1)
    _k.enumerate_layer(length, log_pmf, log_sf, *out)


def _alloc(size: int) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.uint8], NDArray[np.bool_]]:
    return (
        np.empty(size, dtype=np.float64),
        np.empty(size, dtype=np.float64),
        np.empty(size, dtype=np.uint8),
        np.empty(size, dtype=np.bool_),
    )


def decode_word(code: int, length: int) -> str:
    """The a/b string of a word code."""
    return "".join("ab"[(code >> (length - 1 - t)) & 1] for t in range(length))


@dataclass(frozen=True)
class StringTable:
    """All a/b words of length 1..``max_length`` (shortest first, then lexicographic).

    Attributes
    ----------
    codes : int64 (n_words,); lengths : uint8 (n_words,)
    log_prefix_prob : float64 (n_words,) — ``log p(SOS w)``
    log_sentence_prob : float64 (n_words,) — ``log p(SOS w EOS)``
    n_b : uint8 (n_words,) — number of b's (``n_a = length − n_b``)
    r2 : bool (n_words,) — no a after a b
    truncated_mass : Fraction — sentence mass of words longer than ``max_length``
    """

    max_length: int
    codes: NDArray[np.int64]
    lengths: NDArray[np.uint8]
    log_prefix_prob: NDArray[np.float64]
    log_sentence_prob: NDArray[np.float64]
    n_b: NDArray[np.uint8]
    r2: NDArray[np.bool_]
    truncated_mass: Fraction

    @property
    def n_a(self) -> NDArray[np.int64]:
        return self.lengths.astype(np.int64) - self.n_b

    @property
    def r1(self) -> NDArray[np.bool_]:
        return self.n_a == self.n_b

    @property
    def in_language(self) -> NDArray[np.bool_]:
        return self.r1 & self.r2

    def word(self, i: int) -> str:
        return decode_word(int(self.codes[i]), int(self.lengths[i]))


def enumerate_strings(dist: AnbnDistribution, max_length: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> StringTable:
    """Every a/b word up to ``max_length`` with exact prefix and sentence probabilities.

    Raises
    ------
    ValueError
        If ``max_length`` is not a positive integer or the table would need more
        than ``max_bytes`` bytes (the message gives the estimate).
    """
    _check_dist(dist)
    L = _check_length(max_length, "max_length", max_bytes=max_bytes, words=lambda v: (1 << (v + 1)) - 2)
    total = (1 << (L + 1)) - 2
    codes = np.empty(total, dtype=np.int64)
    lengths = np.empty(total, dtype=np.uint8)
    logprefix, logsentence, nb, r2 = _alloc(total)
    start = 0
    for ell in range(1, L + 1):
        stop = start + (1 << ell)
        codes[start:stop] = np.arange(1 << ell, dtype=np.int64)
        lengths[start:stop] = ell
        _fill_layer(dist, ell, logprefix[start:stop], logsentence[start:stop], nb[start:stop], r2[start:stop])
        start = stop
    truncated = dist.law.sf_exact(L // 2 + 1)
    return StringTable(L, codes, lengths, logprefix, logsentence, nb, r2, truncated)


@dataclass(frozen=True)
class PromptTable:
    """All ``2ᵏ`` prompts ``SOS w``, ``|w| = k``, with their classes (lexicographic order)."""

    length: int
    codes: NDArray[np.int64]
    log_prob: NDArray[np.float64]
    n_b: NDArray[np.uint8]
    r2: NDArray[np.bool_]

    @property
    def n_a(self) -> NDArray[np.int64]:
        return self.length - self.n_b.astype(np.int64)

    @property
    def r1(self) -> NDArray[np.bool_]:
        return self.n_a == self.n_b

    @property
    def in_distribution(self) -> NDArray[np.bool_]:
        """``p(SOS w) > 0``."""
        return self.log_prob > -np.inf

    @property
    def completable(self) -> NDArray[np.bool_]:
        """The official grammar rule: ``R2 ∧ #a ≥ #b``."""
        return self.r2 & (self.n_a >= self.n_b)

    def words(self, mask: NDArray[np.bool_] | None = None) -> list[str]:
        idx = np.arange(self.codes.size) if mask is None else np.flatnonzero(mask)
        return [decode_word(int(self.codes[i]), self.length) for i in idx]

    def tokens(self, mask: NDArray[np.bool_] | None = None) -> NDArray[np.int64]:
        """Token matrix ``(n_prompts, 1 + k)`` of the selected prompts, SOS first."""
        idx = np.arange(self.codes.size) if mask is None else np.flatnonzero(mask)
        shifts = np.arange(self.length - 1, -1, -1, dtype=np.int64)
        words = (self.codes[idx, None] >> shifts[None, :]) & 1
        return np.concatenate([np.full((idx.size, 1), SOS, dtype=np.int64), words], axis=1)

    def counts(self) -> dict[str, int]:
        """The prompt counts of docs/paper.md §5.5."""
        ood = ~self.in_distribution
        return {
            "prompts": int(self.codes.size),
            "id": int(self.in_distribution.sum()),
            "ood": int(ood.sum()),
            "ood_r1_already": int((ood & self.r1).sum()),
            "ood_violating_r2": int((ood & ~self.r2).sum()),
            "ood_r2_more_b": int((ood & self.r2 & (self.n_b > self.n_a)).sum()),
            "completable": int(self.completable.sum()),
        }


def enumerate_prompts(dist: AnbnDistribution, prompt_length: int, *, max_bytes: int = DEFAULT_MAX_BYTES) -> PromptTable:
    """All prompts of ``prompt_length`` a/b tokens after ``SOS`` with exact probabilities and classes."""
    _check_dist(dist)
    k = _check_length(prompt_length, "prompt_length", max_bytes=max_bytes, words=lambda v: 1 << v)
    lp, ls, nb, r2 = _alloc(1 << k)
    _fill_layer(dist, k, lp, ls, nb, r2)
    return PromptTable(k, np.arange(1 << k, dtype=np.int64), lp, nb, r2)
