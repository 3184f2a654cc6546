"""What every exact language distribution shares: framing, the predictor interface, enumeration.

A language distribution assigns probabilities to finite *words* over its terminals. As a
:class:`~exact.core.predictor.Predictor` it generates token sequences ``SOS w EOS PAD PAD …``
(token ids from :class:`~exact.core.vocabulary.Vocabulary`): ``SOS`` with probability one,
then ``w`` token by token, then ``EOS`` with probability ``P(w) / P(w Σ*)``, then ``PAD``
forever. A subclass supplies one method, :meth:`WordDistribution._scan`: for a batch of words,
the log prefix probabilities ``log P(w_{<t} Σ*)``, the log string probabilities ``log P(w_{<t})``
and the log prefix probabilities of the one-token extensions. Everything else — next-token
conditionals, KL support enumeration, the list of all strings up to a length with the exact
truncated mass, entropy bounds and loss floors — is written here once.

A prefix of probability zero has no conditional (:attr:`NextTokenProbs.defined` is False),
exactly as for :class:`~exact.anbn.AnbnDistribution`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.completions import words_of
from exact.core.predictor import NextTokenProbs, sample_sequences
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, InputTypeError, check_int
from exact.core.vocabulary import Vocabulary

__all__ = [
    "ENTROPY_SLACK",
    "MAX_PREFIXES",
    "EntropyBounds",
    "LossFloors",
    "StringSet",
    "WordDistribution",
    "words_to_array",
]

#: Relative widening of entropy bounds for floating-point rounding.
ENTROPY_SLACK = 1e-10
#: Default cap on the number of prefixes one enumeration level may hold (overridable per call).
MAX_PREFIXES = 1_000_000

_EMPTY, _WORD, _ENDED, _INVALID = 0, 1, 2, 3


def words_to_array(words: Sequence[Sequence[int] | NDArray[np.int64]]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Right-padded ``(batch, max_len)`` int64 matrix (padding 0, never read) and the lengths."""
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    out = np.zeros((len(words), int(lengths.max(initial=0))), dtype=np.int64)
    for i, w in enumerate(words):
        out[i, : len(w)] = w
    return out, lengths


@dataclass(frozen=True)
class StringSet:
    """Every word of length ≤ ``max_len`` with positive probability, and the mass left out.

    Attributes
    ----------
    words : int64 (n, max_len) right-padded terminal ids; ``lengths`` (n,).
    log_probs : float64 (n,) — ``log P(w)``.
    truncated_mass : float — ``P(|w| > max_len)``, summed from the prefix probabilities of
        the length-``max_len + 1`` prefixes (non-negative terms, no cancellation).
    """

    words: NDArray[np.int64]
    lengths: NDArray[np.int64]
    log_probs: NDArray[np.float64]
    truncated_mass: float
    max_len: int
    prefixes_expanded: int

    def __len__(self) -> int:
        return int(self.lengths.size)

    def entropy_terms(self) -> float:
        """``Σ −P(w) log P(w)`` over the listed words (a lower bound on the entropy)."""
        p = np.exp(self.log_probs)
        return float(-np.sum(p * self.log_probs))


@dataclass(frozen=True)
class EntropyBounds:
    """Entropy of the word distribution in nats: ``lower ≤ H ≤ upper``; ``exact`` where known."""

    lower: float
    upper: float
    exact: float | None
    method: str
    max_len: int
    truncated_mass: float

    def as_dict(self) -> dict[str, object]:
        return {
            "lower": self.lower,
            "upper": None if math.isinf(self.upper) else self.upper,
            "upper_is_infinite": math.isinf(self.upper),
            "exact": self.exact,
            "method": self.method,
            "max_len": self.max_len,
            "truncated_mass": self.truncated_mass,
        }


@dataclass(frozen=True)
class LossFloors:
    """Minimal per-token test loss (nats) of any model: ``H(W)`` over the number of targets.

    ``pad_ignored`` = ``H / E[|w| + 1]`` (targets are the word and EOS; ``None`` when the mean
    length is infinite); ``padded`` = ``H / (max_len + 1)`` for sequences padded to
    ``max_len + 2`` tokens with PAD as a target (the official convention; only for finite
    support, else ``None``). Each is an interval ``(lower, upper)`` from the entropy bounds
    (``upper`` is ``None`` in JSON where the entropy has no finite upper bound).
    """

    pad_ignored: tuple[float, float] | None
    padded: tuple[float, float] | None
    padded_targets: int | None
    expected_length: float | None

    def as_dict(self) -> dict[str, object]:
        def pair(x: tuple[float, float] | None) -> list[float | None] | None:
            return None if x is None else [x[0], None if math.isinf(x[1]) else x[1]]

        return {
            "pad_ignored": pair(self.pad_ignored),
            "padded": pair(self.padded),
            "padded_targets_per_sequence": self.padded_targets,
            "expected_length": self.expected_length,
        }


class WordDistribution:
    """Base of exact language distributions; implements ``Predictor`` and ``SupportEnumerable``."""

    vocabulary: Vocabulary

    # -- to be supplied -------------------------------------------------------------------------

    def _scan(
        self, words: NDArray[np.int64], lengths: NDArray[np.int64], every: bool
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """``(pre, strp, nxt)``: ``pre[r, t] = log P(w_{<t} Σ*)``, ``strp[r, t] = log P(w_{<t})`` for
        ``t ≤ lengths[r]``; ``nxt[r, s, y] = log P(w_{<t} y Σ*)`` at ``t = s`` (``every``) or ``t = lengths[r]``."""
        raise NotImplementedError

    def expected_length(self) -> float | None:
        """``E[|w|]`` (``None`` where infinite)."""
        raise NotImplementedError

    def entropy(self, max_len: int = 20, *, strings: StringSet | None = None) -> EntropyBounds:
        """Entropy of the word distribution with certified bounds (``strings``: a ready enumeration to reuse)."""
        raise NotImplementedError

    # -- words --------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.vocabulary.size

    def _words(self, words: Sequence[str | Sequence[str]] | TokenBatch) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if isinstance(words, TokenBatch):
            k = self.vocabulary.n_terminals
            inside = np.arange(words.tokens.shape[1])[None, :] < words.lengths[:, None]
            bad = inside & (words.tokens >= k)
            if bad.any():
                raise InputError(
                    f"words must hold terminal ids 0..{k - 1} only (no SOS/EOS/PAD), got id {int(words.tokens[bad][0])}"
                )
            return np.where(inside, words.tokens, 0), words.lengths
        if isinstance(words, str):
            raise InputTypeError("words must be a list of words (e.g. ['aabb', 'ab']), got one str")
        ids = [
            self.vocabulary.ids(self.vocabulary.split(w) if isinstance(w, str) else w, what=f"words[{i}]")
            for i, w in enumerate(words)
        ]
        return words_to_array(ids)

    def log_prob(self, words: Sequence[str | Sequence[str]] | TokenBatch) -> NDArray[np.float64]:
        """``log P(w)`` of each complete word (``'(()'``, ``['(', ')']`` or a batch of terminal ids)."""
        w, n = self._words(words)
        _, strp, _ = self._scan(w, n, False)
        return strp[np.arange(n.size), n]

    def prefix_log_prob(self, words: Sequence[str | Sequence[str]] | TokenBatch) -> NDArray[np.float64]:
        """``log P(w Σ*)``, the probability that a word starts with ``w``."""
        w, n = self._words(words)
        pre, _, _ = self._scan(w, n, False)
        return pre[np.arange(n.size), n]

    def conditionals_along(
        self, words: Sequence[str | Sequence[str]] | TokenBatch
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """``p(y | w_{<t})`` for every ``t = 0..|w|`` and every terminal ``y`` and ``EOS`` (last column).

        One scan per word gives every position. Returns ``probs`` of shape
        ``(batch, max_len + 1, n_terminals + 1)`` and ``defined`` ``(batch, max_len + 1)``
        (False past a row's length and where ``P(w_{<t} Σ*) = 0``).
        """
        w, n = self._words(words)
        pre, strp, nxt = self._scan(w, n, True)
        t = np.arange(pre.shape[1])
        defined = (t[None, :] <= n[:, None]) & (pre > -np.inf)
        logs = np.concatenate([nxt, strp[:, :, None]], axis=2) - np.where(defined, pre, 0.0)[:, :, None]
        with np.errstate(under="ignore"):
            probs = np.where(defined[:, :, None], np.exp(logs), 0.0)
        return probs, defined

    # -- token sequences (the Predictor interface) ------------------------------------------------

    def _frame(self, batch: TokenBatch) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        v = self.vocabulary
        if batch.vocab_size != v.size:
            raise InputError(f"batch.vocab_size={batch.vocab_size} does not match this language's {v.size} tokens")
        tok, ln = batch.tokens, batch.lengths
        width = tok.shape[1]
        pos = np.arange(width)[None, :]
        valid = pos < ln[:, None]
        special = (tok >= v.n_terminals) & valid & (pos >= 1)
        first = np.where(special.any(axis=1), np.argmax(special, axis=1), ln)
        starts = (ln >= 1) & (tok[:, 0] == v.sos) if width else np.zeros(ln.size, dtype=bool)
        at_first = tok[np.arange(ln.size), np.minimum(first, width - 1)] if width else np.zeros(ln.size, np.int64)
        after = valid & (pos > first[:, None])
        pad_after = ~np.any(after & (tok != v.pad), axis=1)
        kind = np.full(ln.size, _INVALID, dtype=np.int64)
        kind[ln == 0] = _EMPTY
        kind[starts & (first == ln)] = _WORD
        kind[starts & (first < ln) & (at_first == v.eos) & pad_after] = _ENDED
        wlen = np.where((kind == _WORD) | (kind == _ENDED), first - 1, 0)
        words = np.where(np.arange(max(width - 1, 0))[None, :] < wlen[:, None], tok[:, 1:], 0)
        return kind, words, wlen

    def _framed_scores(
        self, batch: TokenBatch
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        kind, words, wlen = self._frame(batch)
        n = wlen.size
        k = self.vocabulary.n_terminals
        pre_end = np.full(n, -np.inf)
        str_end = np.full(n, -np.inf)
        nxt = np.full((n, k), -np.inf)
        live = np.flatnonzero((kind == _WORD) | (kind == _ENDED))
        if live.size:
            width = int(wlen[live].max(initial=0))
            pre, strp, nx = self._scan(np.ascontiguousarray(words[live, :width]), wlen[live], False)
            pre_end[live] = pre[np.arange(live.size), wlen[live]]
            str_end[live] = strp[np.arange(live.size), wlen[live]]
            nxt[live] = nx[:, 0, :]
        return kind, pre_end, str_end, nxt

    def log_prob_prefix(self, batch: TokenBatch) -> NDArray[np.float64]:
        """``log p(x_1..x_t)`` of each token row (``-inf`` off the support)."""
        kind, pre, strp, _ = self._framed_scores(batch)
        out = np.full(kind.size, -np.inf)
        out[kind == _EMPTY] = 0.0
        out[kind == _WORD] = pre[kind == _WORD]
        out[kind == _ENDED] = strp[kind == _ENDED]
        return out

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        """``p(· | prefix)``; undefined on prefixes of probability zero."""
        v = self.vocabulary
        kind, pre, strp, nxt = self._framed_scores(batch)
        probs = np.zeros((kind.size, v.size))
        defined = np.zeros(kind.size, dtype=bool)
        empty = kind == _EMPTY
        probs[empty, v.sos] = 1.0
        defined[empty] = True
        word = np.flatnonzero((kind == _WORD) & (pre > -np.inf))
        with np.errstate(under="ignore"):
            probs[word, : v.n_terminals] = np.exp(nxt[word] - pre[word, None])
            probs[word, v.eos] = np.exp(strp[word] - pre[word])
        defined[word] = True
        ended = (kind == _ENDED) & (strp > -np.inf)
        probs[ended, v.pad] = 1.0
        defined[ended] = True
        return NextTokenProbs(probs, defined)

    def sample_words(
        self, n: int, rng: np.random.Generator, *, max_len: int, min_len: int = 0
    ) -> list[tuple[str, ...]]:
        """``n`` words drawn from the distribution conditioned on ``min_len ≤ |w| ≤ max_len``.

        Ancestral sampling through the predictor interface
        (:func:`~exact.core.predictor.sample_sequences`, ``max_len + 2`` tokens from ``SOS``) and
        rejection of the rows with no ``EOS`` in time or a word shorter than ``min_len``; refused
        after ``1000·n`` draws (the condition then has very small probability).
        """
        n = check_int(n, "n")
        hi = check_int(max_len, "max_len", minimum=0)
        lo = check_int(min_len, "min_len", minimum=0, maximum=hi)
        v = self.vocabulary
        out: list[tuple[str, ...]] = []
        drawn = 0
        while len(out) < n:
            if drawn > 1000 * n:
                raise InputError(f"fewer than {n} of {drawn:,} draws had {lo} ≤ |w| ≤ {hi}; widen the lengths")
            batch = sample_sequences(self, n, hi + 2, rng, prefix=[v.sos])
            drawn += n
            words, lengths = words_of(batch, v.n_terminals)
            ended = np.any(batch.tokens == v.eos, axis=1) & (lengths >= lo)
            for r in np.flatnonzero(ended)[: n - len(out)]:
                out.append(tuple(v.terminals[int(t)] for t in words[r, : lengths[r]]))
        return out

    # -- enumeration ----------------------------------------------------------------------------

    def strings(self, max_len: int, *, max_prefixes: int = MAX_PREFIXES) -> StringSet:
        """Every word of length ≤ ``max_len`` with ``P(w) > 0``, and the exact truncated mass.

        Expands the tree of positive-probability prefixes level by level; a level that would
        hold more than ``max_prefixes`` prefixes is refused before it is allocated.
        """
        L = check_int(max_len, "max_len", minimum=0)
        cap = check_int(max_prefixes, "max_prefixes")
        longest = self.max_word_length()
        width = L if longest is None else min(L, longest)  # no word is longer: no wider matrix
        frontier = np.zeros((1, 0), dtype=np.int64)
        found_w: list[NDArray[np.int64]] = []
        found_lp: list[NDArray[np.float64]] = []
        found_n: list[NDArray[np.int64]] = []
        expanded = 0
        truncated = 0.0
        for depth in range(L + 1):
            n = frontier.shape[0]
            expanded += n
            lengths = np.full(n, depth, dtype=np.int64)
            _, strp, nxt = self._scan(frontier, lengths, False)
            end = strp[:, depth]
            hit = np.flatnonzero(end > -np.inf)
            if hit.size:
                pad = np.zeros((hit.size, width), dtype=np.int64)
                pad[:, :depth] = frontier[hit]
                found_w.append(pad)
                found_lp.append(end[hit])
                found_n.append(np.full(hit.size, depth, dtype=np.int64))
            rows, toks = np.nonzero(nxt[:, 0, :] > -np.inf)
            if depth == L:
                with np.errstate(under="ignore"):
                    truncated = float(np.sum(np.exp(nxt[rows, 0, toks])))
                break
            if rows.size > cap:
                raise InputError(
                    f"enumerating words up to max_len={L} visits more than max_prefixes={cap:,} prefixes "
                    f"({rows.size:,} of length {depth + 1} alone); lower max_len or raise max_prefixes"
                )
            frontier = np.concatenate([frontier[rows], toks[:, None]], axis=1)
            if not rows.size:
                break
        words = np.concatenate(found_w) if found_w else np.zeros((0, width), dtype=np.int64)
        lps = np.concatenate(found_lp) if found_lp else np.zeros(0)
        lengths = np.concatenate(found_n) if found_n else np.zeros(0, dtype=np.int64)
        return StringSet(words, lengths, lps, truncated, L, expanded)

    def support_prefixes(self, max_length: int) -> tuple[TokenBatch, NDArray[np.float64]]:
        """Every positive-probability token prefix of 1..``max_length`` tokens and its log-probability."""
        T = check_int(max_length, "max_length")
        v = self.vocabulary
        frontier = TokenBatch(np.array([[v.sos]]), np.array([1]), v.size)
        batches, logps = [frontier], [np.zeros(1)]
        for _ in range(T - 1):
            probs = self.next_token_probs(frontier).require_defined()
            rows, toks = np.nonzero(probs > 0)
            if rows.size > MAX_PREFIXES:
                raise InputError(f"max_length={T} needs more than {MAX_PREFIXES:,} support prefixes; lower max_length")
            frontier = frontier.select(rows).extend(toks)
            logps.append(logps[-1][rows] + np.log(probs[rows, toks]))
            batches.append(frontier)
        seqs = [b.row(i) for b in batches for i in range(len(b))]
        return TokenBatch.from_sequences(seqs, vocab_size=v.size), np.concatenate(logps)

    def candidate_sequences(self, length: int) -> TokenBatch:
        """``SOS w`` and ``SOS w EOS PAD…`` of ``length`` tokens for *every* terminal word ``w`` that fits:
        a superset of the support listed without consulting the distribution (KL brute force).

        About ``K^(length−1)`` rows for ``K`` terminals; refused above :data:`MAX_PREFIXES`.
        """
        T = check_int(length, "length")
        v = self.vocabulary
        k = v.n_terminals
        total = sum(k**ell for ell in range(T - 1)) + k ** (T - 1)
        if total > MAX_PREFIXES:
            raise InputError(
                f"length={T} gives {total:,} candidate sequences over {k} terminals, above {MAX_PREFIXES:,}; lower it"
            )
        blocks = []
        for ell in range(T):
            words = np.array(list(itertools.product(range(k), repeat=ell)), dtype=np.int64).reshape(k**ell, ell)
            block = np.full((words.shape[0], T), v.pad, dtype=np.int64)
            block[:, 0] = v.sos
            block[:, 1 : 1 + ell] = words
            if 1 + ell < T:
                block[:, 1 + ell] = v.eos
            blocks.append(block)
        tokens = np.concatenate(blocks)
        return TokenBatch(tokens, np.full(tokens.shape[0], T, dtype=np.int64), v.size)

    def loss_floors(self, max_len: int = 20, *, entropy: EntropyBounds | None = None) -> LossFloors:
        """Loss floors from :meth:`entropy` (see :class:`LossFloors`)."""
        h = self.entropy(max_len) if entropy is None else entropy
        mean = self.expected_length()
        pad_ignored = (h.lower / (mean + 1), h.upper / (mean + 1)) if mean is not None else None
        padded = None
        targets = None
        longest = self.max_word_length()
        if longest is not None:
            targets = longest + 1
            padded = (h.lower / targets, h.upper / targets)
        return LossFloors(pad_ignored, padded, targets, mean)

    def max_word_length(self) -> int | None:
        """Length of the longest word of positive probability (``None`` if unbounded)."""
        return None
