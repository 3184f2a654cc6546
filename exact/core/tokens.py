"""Token ids of the aⁿbⁿ experiment and batches of token prefixes.

The ids follow the official code of Reizinger et al. (2024),
``llm_non_identifiability/data.py``: ``a=0, b=1, SOS=2, EOS=3, PAD=4``.

A :class:`TokenBatch` is the input of every predictor (see
:mod:`exact.core.predictor`): a right-padded ``int64`` matrix plus the true length
of each row. Lengths are explicit because ``PAD`` is itself a token that can
appear in a prefix (after ``EOS``). The vocabulary size is part of the batch
(default 5, the aⁿbⁿ ids); other models (the GINC HMM mixture, 50 symbols)
pass their own ``vocab_size``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.validate import InputError, InputTypeError, is_integer

A, B, SOS, EOS, PAD = 0, 1, 2, 3, 4
VOCAB_SIZE = 5
TOKEN_NAMES = ("a", "b", "SOS", "EOS", "PAD")
_BY_NAME = {name: i for i, name in enumerate(TOKEN_NAMES)}

__all__ = [
    "A",
    "B",
    "SOS",
    "EOS",
    "PAD",
    "VOCAB_SIZE",
    "TOKEN_NAMES",
    "TokenBatch",
    "decode",
    "encode",
    "token_ids",
]


def _names(vocab_size: int) -> str:
    return f" ({', '.join(f'{n}={i}' for i, n in enumerate(TOKEN_NAMES))})" if vocab_size == VOCAB_SIZE else ""


def _check_tokens(tokens: NDArray[np.int64], name: str, vocab_size: int = VOCAB_SIZE) -> None:
    bad = (tokens < 0) | (tokens >= vocab_size)
    if bad.any():
        value = int(tokens[bad].flat[0])
        raise InputError(
            f"{name} contains unknown token id {value}; valid ids are 0..{vocab_size - 1}{_names(vocab_size)}"
        )


def _fill(vocab_size: int) -> int:
    """Padding id past each row's length: ``PAD`` where it exists, else 0 (never read)."""
    return PAD if vocab_size > PAD else 0


def encode(text: str, *, sos: bool = True) -> NDArray[np.int64]:
    """Turn ``"aabb"`` or ``"SOS a a b b EOS"`` into token ids.

    Parameters
    ----------
    text : str
        Either a run of ``a``/``b`` characters, or space-separated token names.
    sos : bool
        Prepend ``SOS`` when ``text`` is a run of ``a``/``b`` characters.

    Returns
    -------
    ndarray of int64, shape (length,)
    """
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str such as 'aabb' or 'SOS a b EOS', got {type(text).__name__} {text!r}")
    names = text.split()
    if len(names) > 1 or (names and names[0] in ("SOS", "EOS", "PAD")):
        unknown = [n for n in names if n not in _BY_NAME]
        if unknown:
            raise InputError(f"text contains unknown token name {unknown[0]!r}; valid: {TOKEN_NAMES}")
        return np.array([_BY_NAME[n] for n in names], dtype=np.int64)
    unknown_chars = sorted(set(text) - {"a", "b"})
    if unknown_chars:
        raise InputError(
            f"text={text!r} has character {unknown_chars[0]!r}; use a run of 'a'/'b' or space-separated token names"
        )
    ids = [A if c == "a" else B for c in text]
    return np.array(([SOS] if sos else []) + ids, dtype=np.int64)


def token_ids(tokens: object, name: str = "tokens", vocab_size: int = VOCAB_SIZE) -> list[int]:
    """``tokens`` as a list of token ids in ``0..vocab_size-1``, checked.

    Raises :class:`~exact.core.validate.InputTypeError` for a string or a non-integer
    entry (``"ab"`` is text: :func:`encode` it) and :class:`~exact.core.validate.InputError`
    for an id outside the vocabulary (a negative id is never read from the end).
    """
    if isinstance(tokens, (str, bytes)):
        raise InputTypeError(f"{name} must be a sequence of token ids, got the string {tokens!r} (use encode)")
    if isinstance(tokens, np.ndarray):
        tokens = tokens.tolist() if tokens.ndim == 1 else tokens
    if not isinstance(tokens, (Sequence, range)) or isinstance(tokens, np.ndarray):
        raise InputTypeError(f"{name} must be a 1-D sequence of token ids, got {type(tokens).__name__}")
    out: list[int] = []
    for i, t in enumerate(tokens):
        if not is_integer(t):
            raise InputTypeError(f"{name}[{i}] must be an integer token id, got {type(t).__name__} {t!r}")
        if not 0 <= int(t) < vocab_size:  # in Python ints: no overflow for ids beyond int64
            raise InputError(
                f"{name} contains unknown token id {int(t)}; valid ids are 0..{vocab_size - 1}{_names(vocab_size)}"
            )
        out.append(int(t))
    return out


def decode(tokens: Iterable[int]) -> str:
    """Space-separated token names, e.g. ``"SOS a b EOS"`` (ids outside 0..4 are an error)."""
    return " ".join(TOKEN_NAMES[t] for t in token_ids(tokens))


@dataclass(frozen=True)
class TokenBatch:
    """A batch of token prefixes of possibly different lengths.

    Attributes
    ----------
    tokens : ndarray of int64, shape (batch, max_len)
        Right-padded (with ``PAD`` when ``vocab_size > 4``, else 0); entries
        past ``lengths[i]`` are ignored and not validated.
    lengths : ndarray of int64, shape (batch,)
    vocab_size : int
        Token ids lie in ``0..vocab_size-1`` (default 5, the aⁿbⁿ ids).
    """

    tokens: NDArray[np.int64]
    lengths: NDArray[np.int64]
    vocab_size: int = VOCAB_SIZE

    def __post_init__(self) -> None:
        for name in ("tokens", "lengths"):
            kind = np.asarray(getattr(self, name)).dtype.kind
            if kind not in "iu":
                raise InputError(f"{name} must be an integer array, got dtype kind {kind!r}")
        tokens = np.ascontiguousarray(self.tokens, dtype=np.int64)
        lengths = np.ascontiguousarray(self.lengths, dtype=np.int64)
        if tokens.ndim != 2:
            raise InputError(f"tokens must be 2-D (batch, max_len), got shape {tokens.shape}")
        if lengths.shape != (tokens.shape[0],):
            raise InputError(f"lengths must have shape ({tokens.shape[0]},), got {lengths.shape}")
        if lengths.size and (lengths.min() < 0 or lengths.max() > tokens.shape[1]):
            raise InputError(
                f"lengths must lie in [0, {tokens.shape[1]}], got min {lengths.min()} and max {lengths.max()}"
            )
        if (
            isinstance(self.vocab_size, bool)
            or not isinstance(self.vocab_size, (int, np.integer))
            or self.vocab_size < 1
        ):
            raise InputError(f"vocab_size must be an integer ≥ 1, got {self.vocab_size!r}")
        object.__setattr__(self, "vocab_size", int(self.vocab_size))
        inside = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        _check_tokens(tokens[inside], "tokens", self.vocab_size)
        tokens.setflags(write=False)
        lengths.setflags(write=False)
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "lengths", lengths)

    @classmethod
    def from_sequences(
        cls, sequences: Sequence[Sequence[int] | NDArray[np.int64]], *, vocab_size: int = VOCAB_SIZE
    ) -> TokenBatch:
        """Build a batch from a list of token-id sequences."""
        rows = []
        for i, s in enumerate(sequences):
            arr = np.asarray(s).reshape(-1)
            if arr.size and arr.dtype.kind not in "iu":
                raise InputError(f"sequences[{i}] must hold integer token ids, got dtype {arr.dtype}")
            rows.append(arr.astype(np.int64))
        lengths = np.array([r.size for r in rows], dtype=np.int64)
        width = int(lengths.max()) if rows else 0
        tokens = np.full((len(rows), width), _fill(vocab_size), dtype=np.int64)
        for i, r in enumerate(rows):
            _check_tokens(r, f"sequences[{i}]", vocab_size)
            tokens[i, : r.size] = r
        return cls(tokens, lengths, vocab_size)

    @classmethod
    def from_strings(cls, texts: Sequence[str], *, sos: bool = True) -> TokenBatch:
        """Build a batch from strings understood by :func:`encode`."""
        return cls.from_sequences([encode(t, sos=sos) for t in texts])

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def select(self, rows: NDArray[np.int64] | NDArray[np.bool_], width: int | None = None) -> TokenBatch:
        """The batch of the chosen rows (indices or mask), optionally cut to ``width`` tokens."""
        tokens = self.tokens[rows]
        lengths = self.lengths[rows]
        if width is not None:
            tokens, lengths = tokens[:, :width], np.minimum(lengths, width)
        return TokenBatch(tokens, lengths, self.vocab_size)

    def row(self, i: int) -> NDArray[np.int64]:
        """The tokens of prefix ``i`` without padding."""
        return self.tokens[i, : self.lengths[i]]

    def extend(self, next_tokens: NDArray[np.int64]) -> TokenBatch:
        """Append one token to every row."""
        next_tokens = np.asarray(next_tokens, dtype=np.int64)
        if next_tokens.shape != (len(self),):
            raise InputError(f"next_tokens must have shape ({len(self)},), got {next_tokens.shape}")
        width = int(self.lengths.max(initial=0)) + 1
        tokens = np.full((len(self), width), _fill(self.vocab_size), dtype=np.int64)
        tokens[:, : self.tokens.shape[1]] = self.tokens[:, :width]
        tokens[np.arange(len(self)), self.lengths] = next_tokens
        return TokenBatch(tokens, self.lengths + 1, self.vocab_size)
