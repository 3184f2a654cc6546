"""Tabular autoregressive models: one explicit conditional per prefix, for exact small checks.

A :class:`TabularAR` over ``V`` tokens and depth ``T`` stores ``q(· | s)`` for
every prefix ``s`` with ``|s| < T``; the joint of a sequence ``x ∈ V^T`` is
``Π_t q(x_t | x_<t)``. Small enough to enumerate all ``V^T`` sequences, it is
the brute-force ground truth for Lemma L1 and the swap identity (docs/paper.md §4.3,
Appendix A.1):

* :meth:`TabularAR.from_dirichlet` draws every conditional from
  ``Dirichlet(α, …, α)`` in the order of docs/paper.md A.1 (prefixes by length, each
  length lexicographically);
* :meth:`TabularAR.with_rows` replaces conditionals on a set of prefixes;
  :meth:`TabularAR.swap_top_two` swaps the two largest entries there;
* their KLs (``KL(p‖q)`` over all ``V^T`` sequences and the Lemma L1 sum) are
  :func:`exact.core.kl.kl_joint` and :func:`exact.core.kl.kl_lemma_l1`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from exact.core.predictor import NextTokenProbs
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, InputTypeError, check_int

__all__ = ["TabularAR", "check_same_shape", "prefix_free"]

Prefix = tuple[int, ...]
#: Largest number of sequences V^T enumerated by :meth:`TabularAR.joint`.
MAX_SEQUENCES = 1 << 22


class TabularAR:
    """An autoregressive model given by a table of conditionals.

    Parameters
    ----------
    vocab_size : int
    depth : int
        Sequence length ``T``; rows are needed for every prefix of length ``0..T−1``.
    rows : mapping from prefix tuple to a probability row of length ``vocab_size``
    """

    def __init__(self, vocab_size: int, depth: int, rows: Mapping[Prefix, ArrayLike]) -> None:
        self.vocab_size = check_int(vocab_size, "vocab_size", minimum=2)
        self.depth = check_int(depth, "depth")
        if self.vocab_size**self.depth > MAX_SEQUENCES:
            raise InputError(
                f"vocab_size**depth = {self.vocab_size**self.depth} sequences exceeds {MAX_SEQUENCES}; "
                "lower vocab_size or depth"
            )
        self.rows: dict[Prefix, NDArray[np.float64]] = {}
        for prefix in self.prefixes():
            if prefix not in rows:
                raise InputError(f"rows has no conditional for prefix {prefix}")
            r = np.asarray(rows[prefix], dtype=np.float64)
            if r.shape != (self.vocab_size,) or np.any(r < 0) or not math.isclose(r.sum(), 1.0, abs_tol=1e-12):
                raise InputError(f"rows[{prefix}] must be a probability row of length {self.vocab_size}, got {r!r}")
            r.setflags(write=False)
            self.rows[prefix] = r

    def prefixes(self, length: int | None = None) -> list[Prefix]:
        """Prefixes of one length (or all of length ``< depth``), by length then lexicographically."""
        lengths = range(self.depth) if length is None else [length]
        return [p for L in lengths for p in itertools.product(range(self.vocab_size), repeat=L)]

    @classmethod
    def from_dirichlet(cls, vocab_size: int, depth: int, rng: np.random.Generator, alpha: float = 1.0) -> TabularAR:
        """Every conditional drawn from ``Dirichlet(alpha·1)``, in :meth:`prefixes` order."""
        if not isinstance(rng, np.random.Generator):
            raise InputTypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
        if not alpha > 0:
            raise InputError(f"alpha must be > 0, got {alpha!r}")
        vocab_size, depth = check_int(vocab_size, "vocab_size", minimum=2), check_int(depth, "depth")
        if vocab_size**depth > MAX_SEQUENCES:  # refuse before drawing the rows
            raise InputError(f"vocab_size**depth = {vocab_size**depth} sequences exceeds {MAX_SEQUENCES}")
        shell = [p for L in range(depth) for p in itertools.product(range(vocab_size), repeat=L)]
        return cls(vocab_size, depth, {p: rng.dirichlet(np.full(vocab_size, alpha)) for p in shell})

    def with_rows(self, rows: Mapping[Prefix, ArrayLike]) -> TabularAR:
        """A copy with the conditionals at the given prefixes replaced."""
        unknown = [p for p in rows if tuple(p) not in self.rows]
        if unknown:
            raise InputError(f"rows names prefix {unknown[0]} that is not in the table (depth {self.depth})")
        return TabularAR(self.vocab_size, self.depth, {**self.rows, **{tuple(p): r for p, r in rows.items()}})

    def swap_top_two(self, prefixes: Iterable[Prefix]) -> TabularAR:
        """Swap the largest and second-largest probabilities at each prefix (ties: lowest ids)."""
        new = {}
        for p in prefixes:
            r = self.rows[tuple(p)].copy()
            top, second = np.argsort(-r, kind="stable")[:2]
            r[top], r[second] = r[second], r[top]
            new[tuple(p)] = r
        return self.with_rows(new)

    def prefix_prob(self, prefix: Prefix) -> float:
        """``Π_t q(s_t | s_<t)``."""
        return math.prod(float(self.rows[prefix[:t]][prefix[t]]) for t in range(len(prefix)))

    def joint(self) -> NDArray[np.float64]:
        """Probabilities of all ``V^T`` sequences in lexicographic order."""
        out = np.ones(1)
        for L in range(self.depth):
            cond = np.stack([self.rows[p] for p in self.prefixes(L)])  # (V^L, V)
            out = (out[:, None] * cond).reshape(-1)
        return out

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        probs = np.empty((len(batch), self.vocab_size))
        for i in range(len(batch)):
            prefix = tuple(int(t) for t in batch.row(i))
            if prefix not in self.rows:
                raise InputError(f"batch row {i} = {prefix} is not a prefix of length < depth={self.depth}")
            probs[i] = self.rows[prefix]
        return NextTokenProbs(probs, np.ones(len(batch), dtype=bool))


def prefix_free(prefixes: Iterable[Prefix]) -> bool:
    """True when no prefix in the set is a proper prefix of another."""
    ps = {tuple(p) for p in prefixes}
    return not any(p[:k] in ps for p in ps for k in range(len(p)))


def check_same_shape(p: TabularAR, q: TabularAR) -> None:
    if (p.vocab_size, p.depth) != (q.vocab_size, q.depth):
        raise InputError(
            f"p and q differ in (vocab_size, depth): {(p.vocab_size, p.depth)} vs {(q.vocab_size, q.depth)}"
        )
