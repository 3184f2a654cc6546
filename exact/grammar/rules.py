"""Rules of the library's languages as vectorised predicates on words, with their completion policies.

Each predicate takes ``(words, lengths)`` — an int64 ``(batch, width)`` matrix of terminal ids,
zero past each row's length — and returns one bool per row. The definitions follow the
follow-up study's code (Mészáros et al. 2024, ``rule_extrapolation/data.py``; docs/grammars.md):

* :func:`equal_counts` — ``#a = #b (= #c)`` (``check_same_number_as_bs``, ``…_bs_cs``);
* :func:`in_order` — the symbols occur in blocks ``a*b*c*`` (``check_as_before_bs``, ``…_before_cs``);
* :func:`even_count` — ``#a`` even (``check_even_number_of_as``);
* :func:`even_count_after_last` — the ``a`` s after the last ``b`` are even in number
  (``check_even_number_of_as_end``; every ``a`` counts when there is no ``b``);
* :func:`starts_with` — the first symbol is ``b`` (``check_begins_with_b``; False for an empty word);
* :func:`blocks_after_some` — at least one ``b`` and no ``a`` before the last ``b`` (``check_bs_before_as``);
* :func:`matched` — a counter on one bracket pair never goes negative and ends at zero, other
  symbols ignored (``check_matched_parentheses``, ``check_matched_brackets``).

A *completer* chooses, for a word so far, the next token of a shortest completion that makes a
rule hold (``EOS`` when it holds already); a *breaker* is a token whose addition makes a rule
that holds fail. Both drive the functional-non-identifiability witnesses of
:mod:`exact.grammar.witnesses`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "blocks_after_some",
    "close_counter",
    "count",
    "depth",
    "equal_counts",
    "even_count",
    "even_count_after_last",
    "fill_counts",
    "in_order",
    "make_even",
    "matched",
    "starts_with",
]

Words = NDArray[np.int64]
Lengths = NDArray[np.int64]
Predicate = Callable[[Words, Lengths], NDArray[np.bool_]]
Completer = Callable[[Words, Lengths], NDArray[np.int64]]


def _live(words: Words, lengths: Lengths) -> NDArray[np.bool_]:
    return np.arange(words.shape[1])[None, :] < lengths[:, None]


def count(words: Words, lengths: Lengths, symbol: int) -> NDArray[np.int64]:
    """Occurrences of ``symbol`` in each word."""
    return np.sum((words == symbol) & _live(words, lengths), axis=1)


def equal_counts(symbols: Sequence[int]) -> Predicate:
    """``#s₀ = #s₁ = …`` for the given symbol ids."""

    def holds(words: Words, lengths: Lengths) -> NDArray[np.bool_]:
        counts = [count(words, lengths, s) for s in symbols]
        return np.all([c == counts[0] for c in counts[1:]], axis=0)

    return holds


def in_order(symbols: Sequence[int]) -> Predicate:
    """The given symbols occur in blocks, in this order (other symbols ignored)."""

    def holds(words: Words, lengths: Lengths) -> NDArray[np.bool_]:
        live = _live(words, lengths)
        rank = np.full(words.shape, -1)
        for r, s in enumerate(symbols):
            rank[(words == s) & live] = r
        seen = np.maximum.accumulate(np.where(rank >= 0, rank, -1), axis=1)
        return ~np.any((rank >= 0) & (rank < seen), axis=1)

    return holds


def even_count(symbol: int) -> Predicate:
    """``#symbol`` is even."""

    def holds(words: Words, lengths: Lengths) -> NDArray[np.bool_]:
        return count(words, lengths, symbol) % 2 == 0

    return holds


def _after_last(words: Words, lengths: Lengths, symbol: int, other: int) -> NDArray[np.int64]:
    live = _live(words, lengths)
    pos = np.arange(words.shape[1])[None, :]
    last_other = np.max(np.where((words == other) & live, pos, -1), axis=1)
    return np.sum((words == symbol) & live & (pos > last_other[:, None]), axis=1)


def even_count_after_last(symbol: int, other: int) -> Predicate:
    """The ``symbol`` s after the last ``other`` are even in number."""

    def holds(words: Words, lengths: Lengths) -> NDArray[np.bool_]:
        return _after_last(words, lengths, symbol, other) % 2 == 0

    return holds


def starts_with(symbol: int) -> Predicate:
    """The first symbol is ``symbol`` (False for the empty word)."""

    def holds(words: Words, lengths: Lengths) -> NDArray[np.bool_]:
        return (lengths > 0) & (words[:, 0] == symbol) if words.shape[1] else np.zeros(lengths.size, dtype=bool)

    return holds


def blocks_after_some(first: int, second: int) -> Predicate:
    """At least one ``first`` and no ``second`` before the last ``first``."""

    def holds(words: Words, lengths: Lengths) -> NDArray[np.bool_]:
        live = _live(words, lengths)
        pos = np.arange(words.shape[1])[None, :]
        last = np.max(np.where((words == first) & live, pos, -1), axis=1)
        early = np.any((words == second) & live & (pos < last[:, None]), axis=1)
        return (last >= 0) & ~early

    return holds


def depth(words: Words, lengths: Lengths, opening: int, closing: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Final counter (``#opening − #closing``) and whether it ever went negative."""
    live = _live(words, lengths)
    step = np.where(live & (words == opening), 1, 0) - np.where(live & (words == closing), 1, 0)
    run = np.cumsum(step, axis=1)
    went_negative = np.any(run < 0, axis=1) if words.shape[1] else np.zeros(lengths.size, dtype=bool)
    final = run[:, -1] if words.shape[1] else np.zeros(lengths.size, dtype=np.int64)
    return final, went_negative


def matched(opening: int, closing: int) -> Predicate:
    """The ``opening``/``closing`` counter never goes negative and ends at zero."""

    def holds(words: Words, lengths: Lengths) -> NDArray[np.bool_]:
        final, negative = depth(words, lengths, opening, closing)
        return (final == 0) & ~negative

    return holds


# -- completers: the next token of a shortest completion that makes a rule hold -------------------


def fill_counts(symbols: Sequence[int], eos: int) -> Completer:
    """For ``#s₀ = #s₁ = …``: the first symbol (in order) below the largest count, else ``EOS``."""

    def complete(words: Words, lengths: Lengths) -> NDArray[np.int64]:
        counts = np.stack([count(words, lengths, s) for s in symbols])
        short = counts < counts.max(axis=0, keepdims=True)
        first = np.argmax(short, axis=0)
        return np.where(short.any(axis=0), np.asarray(symbols)[first], eos).astype(np.int64)

    return complete


def close_counter(opening: int, closing: int, eos: int) -> Completer:
    """For a matched counter: ``closing`` while the counter is positive, then ``EOS``
    (also ``EOS`` once it went negative, when no completion can repair it)."""

    def complete(words: Words, lengths: Lengths) -> NDArray[np.int64]:
        final, negative = depth(words, lengths, opening, closing)
        return np.where((final > 0) & ~negative, closing, eos).astype(np.int64)

    return complete


def make_even(symbol: int, eos: int, *, after: int | None = None) -> Completer:
    """For ``#symbol`` even (counted after the last ``after`` if given): ``symbol`` while odd, then ``EOS``."""

    def complete(words: Words, lengths: Lengths) -> NDArray[np.int64]:
        n = count(words, lengths, symbol) if after is None else _after_last(words, lengths, symbol, after)
        return np.where(n % 2 == 1, symbol, eos).astype(np.int64)

    return complete
