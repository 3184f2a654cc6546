"""Vocabularies of formal languages: terminal symbols first, then ``SOS``, ``EOS`` and ``PAD``.

A language over terminals ``t₀ … t_{K−1}`` uses token ids ``0..K−1`` for them and ``K, K+1,
K+2`` for ``SOS``, ``EOS`` and ``PAD``. For aⁿbⁿ (terminals ``a``, ``b``) this is exactly the
official id table of :mod:`exact.core.tokens` (``a=0, b=1, SOS=2, EOS=3, PAD=4``).

>>> v = Vocabulary(("(", ")", "[", "]"))
>>> v.size, v.sos, v.eos, v.pad
(7, 4, 5, 6)
>>> v.encode("( [ ] )").tolist()
[4, 0, 2, 3, 1]
>>> v.decode([4, 0, 1, 5])
'SOS ( ) EOS'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.validate import InputError, InputTypeError, is_integer

__all__ = ["SPECIALS", "Vocabulary"]

SPECIALS = ("SOS", "EOS", "PAD")


@dataclass(frozen=True)
class Vocabulary:
    """Token ids of a language: ``terminals`` then ``SOS, EOS, PAD``."""

    terminals: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.terminals, str) or not all(isinstance(t, str) and t for t in self.terminals):
            raise InputTypeError(f"terminals must be a sequence of non-empty str, got {self.terminals!r}")
        terms = tuple(self.terminals)
        if not terms:
            raise InputError("terminals is empty: a language needs at least one terminal")
        if len(set(terms)) != len(terms):
            raise InputError(f"terminals has duplicates: {list(terms)}")
        clash = [t for t in terms if t in SPECIALS]
        if clash:
            raise InputError(f"terminal {clash[0]!r} clashes with a special token name {SPECIALS}")
        object.__setattr__(self, "terminals", terms)

    @property
    def n_terminals(self) -> int:
        return len(self.terminals)

    @property
    def sos(self) -> int:
        return len(self.terminals)

    @property
    def eos(self) -> int:
        return len(self.terminals) + 1

    @property
    def pad(self) -> int:
        return len(self.terminals) + 2

    @property
    def size(self) -> int:
        return len(self.terminals) + 3

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.terminals, *SPECIALS)

    def ids(self, symbols: Iterable[str], *, what: str = "word") -> NDArray[np.int64]:
        """Terminal ids of a sequence of terminal symbols (no specials)."""
        index = {t: i for i, t in enumerate(self.terminals)}
        out = []
        for s in symbols:
            if s not in index:
                raise InputError(
                    f"{what} contains {s!r}, which is not a terminal; terminals are {list(self.terminals)}"
                )
            out.append(index[s])
        return np.array(out, dtype=np.int64)

    def split(self, text: str) -> list[str]:
        """Symbols of ``text``: space-separated if it has spaces, else one per character."""
        if not isinstance(text, str):
            raise InputTypeError(f"text must be a str, got {type(text).__name__}")
        return text.split() if " " in text.strip() else list(text.strip())

    def encode(self, text: str, *, sos: bool = True) -> NDArray[np.int64]:
        """``"( [ ] )"`` or ``"([])"`` → token ids, with ``SOS`` prepended; special names allowed."""
        names = {n: i for i, n in enumerate(self.names)}
        symbols = self.split(text)
        unknown = [s for s in symbols if s not in names]
        if unknown:
            raise InputError(f"text contains unknown symbol {unknown[0]!r}; the vocabulary is {list(self.names)}")
        ids = [names[s] for s in symbols]
        return np.array(([self.sos] if sos and (not ids or ids[0] != self.sos) else []) + ids, dtype=np.int64)

    def decode(self, tokens: Sequence[int] | NDArray[np.integer]) -> str:
        """Space-separated names of token ids; an id outside ``0..size−1`` is an error."""
        out = []
        for i, t in enumerate(tokens):
            if not is_integer(t):
                raise InputTypeError(f"tokens[{i}] must be an integer id, got {type(t).__name__} {t!r}")
            if not 0 <= int(t) < self.size:
                raise InputError(f"tokens[{i}]={int(t)} is not a token id; valid ids are 0..{self.size - 1}")
            out.append(self.names[int(t)])
        return " ".join(out)
