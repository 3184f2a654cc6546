"""Finite-support languages: any weighted list of words, exactly, through a prefix trie.

Not every distribution of interest is a PCFG: the official data generators draw ``n`` uniformly
from ``1..N`` (a finite language), and aⁿbⁿcⁿ is not context-free at all. :class:`FiniteLanguage`
gives such a distribution the same interface as :class:`~exact.grammar.GrammarDistribution`:
a trie over the words stores every prefix's probability (a float for the kernels and an exact
:class:`~fractions.Fraction`), so that prefix probabilities, conditionals, enumeration, the
entropy (a finite sum: exact) and both loss floors follow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from exact.core.validate import InputError, InputTypeError
from exact.core.vocabulary import Vocabulary
from exact.grammar.base import ENTROPY_SLACK, EntropyBounds, StringSet, WordDistribution
from exact.grammar.pcfg import as_probability, check_number_text

__all__ = ["FiniteLanguage", "MAX_TRIE_NODES", "MAX_TRIE_SYMBOLS"]

#: Largest trie (number of distinct prefixes) a finite language may build, and the most symbols its
#: words may hold in all (checked before any work): building costs about 2.5 µs per prefix and 0.4 µs
#: per symbol, so a language at both limits builds in a few seconds.
MAX_TRIE_NODES = 1_000_000
MAX_TRIE_SYMBOLS = 4_000_000


class FiniteLanguage(WordDistribution):
    """A distribution over finitely many words; a :class:`~exact.core.predictor.Predictor`.

    Parameters
    ----------
    words : sequence of str or sequence of symbols
        Distinct words (``"aabbcc"``, ``"( [ ] )"``, ``["(", ")"]``); ``""`` is the empty word.
    weights : sequence of numbers, Fractions or strings
        Their probabilities, summing to one (exactly if all are exact, within 1e-12 if a float
        is among them), unless ``normalise`` divides by the total explicitly.
    terminals : sequence of str, optional
        The alphabet in token-id order (default: symbols in order of first appearance).

    Examples
    --------
    >>> L = FiniteLanguage(["abc", "aabbcc"], ["1/2", "1/2"])
    >>> L.prefix_prob_exact("aa"), L.prefix_prob_exact("ab")
    (Fraction(1, 2), Fraction(1, 2))
    >>> L.entropy().exact == math.log(2)
    True
    """

    def __init__(
        self,
        words: Sequence[str | Sequence[str]],
        weights: Sequence[object],
        *,
        terminals: Sequence[str] | None = None,
        normalise: bool = False,
    ) -> None:
        if isinstance(words, str) or not isinstance(words, Sequence):
            raise InputTypeError(f"words must be a list of words, got {type(words).__name__}")
        if isinstance(weights, str) or not isinstance(weights, Sequence):
            raise InputTypeError(f"weights must be a sequence of numbers, got {type(weights).__name__}")
        if len(words) != len(weights):
            raise InputError(f"words and weights differ in length: {len(words)} and {len(weights)}")
        if not words:
            raise InputError("words is empty: a language needs at least one word")
        symbols = sum(len(w) if isinstance(w, (str, Sequence)) else 0 for w in words)
        if symbols > MAX_TRIE_SYMBOLS:
            raise InputError(
                f"words hold {symbols:,} symbols in all, above the limit {MAX_TRIE_SYMBOLS:,} "
                "(exact.grammar.finite.MAX_TRIE_SYMBOLS)"
            )
        split = [self._split(w, i) for i, w in enumerate(words)]
        if terminals is None:
            terminals = list(dict.fromkeys(s for w in split for s in w)) or ["a"]
        self.vocabulary = Vocabulary(tuple(terminals))
        probs: list[Fraction] = []
        all_exact = True
        for i, x in enumerate(weights):
            q, exact = as_probability(x, f"weights[{i}]") if not normalise else _weight(x, i)
            probs.append(q)
            all_exact &= exact
        total = sum(probs, Fraction(0))
        if total == 0:
            raise InputError("weights are all zero")
        if normalise:
            probs = [q / total for q in probs]
        elif (total != 1) if all_exact else abs(float(total) - 1) > 1e-12:
            raise InputError(
                f"weights sum to {total if all_exact else float(total)}, not 1; pass normalise=True to divide"
            )
        index = {t: j for j, t in enumerate(self.vocabulary.terminals)}
        ids: list[tuple[int, ...]] = []
        for i, symbols_of_word in enumerate(split):
            try:
                ids.append(tuple(map(index.__getitem__, symbols_of_word)))
            except KeyError:
                self.vocabulary.ids(symbols_of_word, what=f"words[{i}]")  # raises the InputError naming the symbol
                raise
        seen: dict[tuple[int, ...], int] = {}
        for i, w in enumerate(ids):
            if w in seen:
                raise InputError(f"words[{i}] repeats words[{seen[w]}] ({' '.join(split[i]) or 'the empty word'!r})")
            seen[w] = i
        self.words = tuple(ids)
        self.probs = tuple(probs)
        self._build(ids, probs)

    @staticmethod
    def _split(w: str | Sequence[str], i: int) -> list[str]:
        if isinstance(w, str):
            return w.split() if " " in w.strip() else list(w.strip())
        if not all(isinstance(s, str) for s in w):
            raise InputTypeError(f"words[{i}] must be a str or a sequence of str symbols, got {w!r}")
        return list(w)

    def _build(self, ids: list[tuple[int, ...]], probs: list[Fraction]) -> None:
        k = self.vocabulary.n_terminals
        kids: list[dict[int, int]] = [{}]
        end = [_ZERO]  # one shared zero: most prefixes end no word
        parent, label = [-1], [-1]
        for w, q in zip(ids, probs):
            node = 0
            for y in w:
                row = kids[node]
                child = row.get(y)
                if child is None:
                    if len(kids) >= MAX_TRIE_NODES:
                        raise InputError(f"the words have more than {MAX_TRIE_NODES:,} distinct prefixes (the limit)")
                    child = row[y] = len(kids)
                    kids.append({})
                    end.append(_ZERO)
                    parent.append(node)
                    label.append(y)
                node = child
            end[node] += q
        # a child is created after its parent, so one backward sweep sums every subtree; a prefix
        # that ends no word and has one continuation (most of them) shares its child's mass
        mass = list(end)
        for node in range(len(kids) - 1, -1, -1):
            row = kids[node]
            if not row:
                continue
            if len(row) == 1 and mass[node] is _ZERO:
                mass[node] = mass[next(iter(row.values()))]
                continue
            total = mass[node]
            for child in row.values():
                total = total + mass[child]
            mass[node] = total
        children = np.full((len(kids), k), -1, dtype=np.int64)
        if len(kids) > 1:
            children[np.array(parent[1:]), np.array(label[1:])] = np.arange(1, len(kids), dtype=np.int64)
        self._kids = kids
        self._mass_exact = mass
        self._end_exact = end
        self._children = children
        self._log_mass = _logs(mass)
        self._log_end = _logs(end)

    def __repr__(self) -> str:
        return f"FiniteLanguage({len(self.words)} words over {list(self.vocabulary.terminals)})"

    @classmethod
    def from_lengths(
        cls, make_word: Callable[[int], str], pmf: Sequence[tuple[int, object]], **kwargs: object
    ) -> FiniteLanguage:
        """Words ``make_word(n)`` with probabilities ``pmf = [(n, P(n)), …]`` (e.g. aⁿbⁿcⁿ, n uniform)."""
        return cls([make_word(n) for n, _ in pmf], [q for _, q in pmf], **kwargs)  # type: ignore[arg-type]

    def _scan(
        self, words: NDArray[np.int64], lengths: NDArray[np.int64], every: bool
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        b, width = lengths.size, words.shape[1]
        k = self.vocabulary.n_terminals
        node = np.zeros(b, dtype=np.int64)
        pre = np.full((b, width + 1), -np.inf)
        strp = np.full((b, width + 1), -np.inf)
        nxt = np.full((b, width + 1 if every else 1, k), -np.inf)
        for t in range(width + 1):
            live = (node >= 0) & (t <= lengths)
            pre[live, t] = self._log_mass[node[live]]
            strp[live, t] = self._log_end[node[live]]
            here = live if every else live & (t == lengths)
            if here.any():
                kids = self._children[node[here]]
                slot = t if every else 0
                nxt[here, slot] = np.where(kids >= 0, self._log_mass[np.maximum(kids, 0)], -np.inf)
            if t < width:
                step = live & (t < lengths)
                nxt_node = np.full(b, -1, dtype=np.int64)
                nxt_node[step] = self._children[node[step], words[step, t]]
                node = np.where(step, nxt_node, -1)
        return pre, strp, nxt

    # -- exact ----------------------------------------------------------------------------------

    def _ids(self, word: str | Sequence[str]) -> tuple[int, ...]:
        return tuple(int(t) for t in self.vocabulary.ids(self._split(word, 0), what="word"))

    def _node(self, word: str | Sequence[str]) -> int | None:
        node: int | None = 0
        for y in self._ids(word):
            node = self._kids[node].get(y) if node is not None else None
        return node

    def prefix_prob_exact(self, word: str | Sequence[str]) -> Fraction:
        """Exact ``P(w Σ*)``."""
        node = self._node(word)
        return Fraction(0) if node is None else self._mass_exact[node]

    def prob_exact(self, word: str | Sequence[str]) -> Fraction:
        """Exact ``P(w)``."""
        node = self._node(word)
        return Fraction(0) if node is None else self._end_exact[node]

    def expected_length(self) -> float:
        return float(sum((q * len(w) for w, q in zip(self.words, self.probs)), Fraction(0)))

    def max_word_length(self) -> int:
        return max((len(w) for w, q in zip(self.words, self.probs) if q > 0), default=0)

    def entropy(self, max_len: int | None = None, *, strings: StringSet | None = None) -> EntropyBounds:
        """Exact entropy ``Σ −P(w) log P(w)`` (a finite sum; ``max_len`` is ignored)."""
        h = 0.0 - math.fsum(float(q) * _log(q) for q in self.probs if q > 0)
        slack = ENTROPY_SLACK * max(1.0, h)
        return EntropyBounds(max(0.0, h - slack), h + slack, h, "finite sum", self.max_word_length(), 0.0)


_ZERO = Fraction(0)


def _log(q: Fraction) -> float:
    """``log q`` from the exact rational (no underflow of ``float(q)`` for tiny weights)."""
    return math.log(q.numerator) - math.log(q.denominator) if q.numerator > 0 else -math.inf


def _logs(values: list[Fraction]) -> NDArray[np.float64]:
    """``[_log(q) for q in values]`` as an array, each distinct object's log computed once (shared masses)."""
    cache: dict[int, float] = {}
    out = []
    for q in values:
        v = cache.get(id(q))
        if v is None:
            v = cache[id(q)] = _log(q)
        out.append(v)
    return np.array(out, dtype=np.float64)


def _weight(x: object, i: int) -> tuple[Fraction, bool]:
    """A non-negative weight (any size) for ``normalise=True``."""
    if isinstance(x, str):
        check_number_text(x, f"weights[{i}]")
        try:
            q = Fraction(x.strip())
        except (ValueError, ZeroDivisionError):
            raise InputError(f"weights[{i}] must be a number such as 2 or 0.5, got {x!r}") from None
    elif isinstance(x, Fraction):
        q = x
    elif isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
        if not math.isfinite(float(x)):
            raise InputError(f"weights[{i}] must be finite, got {x!r}")
        q = Fraction(x) if isinstance(x, (int, np.integer)) else Fraction(float(x))  # type: ignore[arg-type]
    else:
        raise InputTypeError(f"weights[{i}] must be a number, got {type(x).__name__} {x!r}")
    if q < 0:
        raise InputError(f"weights[{i}] must be non-negative, got {x!r}")
    return q, not isinstance(x, (float, np.floating))
