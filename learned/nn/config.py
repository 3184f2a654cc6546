"""Configuration of the transformer every experiment trains (:class:`learned.nn.model.Transformer`).

Frozen and validated; the field names are what ``--set model.KEY=VALUE`` overrides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exact.core.tokens import PAD, VOCAB_SIZE
from exact.core.validate import is_integer, is_number, require, require_type

__all__ = ["POSITIONS", "ModelConfig"]

#: Positional information (ModelConfig.positions).
POSITIONS = ("sinusoidal", "none", "batch-row")


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer (:class:`learned.nn.model.Transformer`).

    ``norm_first=True`` is pre-LN (with a final LayerNorm before the head);
    ``False`` is post-LN without a final LayerNorm, as PyTorch's
    ``nn.TransformerEncoderLayer`` defaults used by the official code.

    ``positions``: ``"sinusoidal"`` adds PE(t) at position t; ``"none"`` adds no
    positional information (causal attention alone); ``"batch-row"`` reproduces
    the official code, which adds ``pos_encoding[:x.size(0)]`` *before* permuting
    to sequence-first, i.e. the vector PE(b) of the **batch row** b to every
    position of row b — the official model has no positional encoding, and its
    output depends on where a sequence sits in the batch. ``clone_layers``:
    every block starts from the same initial weights, as ``nn.TransformerEncoder``
    deep-copies one layer in the official code. ``vocab_size``: 5 for aⁿbⁿ (a, b, SOS, EOS,
    PAD); any other vocabulary (e.g. a GINC mixture's symbols) needs ``mask_pad_keys=False``,
    since id 4 is then an ordinary token. ``pe_repeat``: the positional
    table is the sinusoidal table of width ``d_model / pe_repeat`` tiled
    ``pe_repeat`` times — what a model widened function-preservingly by that
    factor needs (:func:`learned.finetunability.transforms.widen`); 1 is the
    ordinary table.
    """

    d_model: int = 10
    n_heads: int = 5
    d_ff: int = 1024
    n_layers: int = 5
    dropout: float = 0.1
    ln_eps: float = 6e-3
    norm_first: bool = True
    positions: str = "sinusoidal"
    clone_layers: bool = False
    mask_pad_keys: bool = True
    pe_repeat: int = 1
    max_len: int = 5000
    vocab_size: int = 5

    def __post_init__(self) -> None:
        for name in ("d_model", "n_heads", "d_ff", "n_layers", "max_len", "vocab_size", "pe_repeat"):
            v = getattr(self, name)
            require_type(is_integer(v), f"model.{name}", v, "an integer")
            require(v >= 1, f"model.{name}", v, "a positive integer")
        require(self.d_model % self.n_heads == 0, "model.d_model", self.d_model, f"divisible by n_heads={self.n_heads}")
        require(
            self.d_model % self.pe_repeat == 0 and (self.d_model // self.pe_repeat) % 2 == 0,
            "model.d_model",
            self.d_model,
            f"an even multiple of pe_repeat={self.pe_repeat} (sinusoidal positions)",
        )
        for name in ("dropout", "ln_eps"):
            require_type(is_number(getattr(self, name)), f"model.{name}", getattr(self, name), "a number")
        require(0 <= self.dropout < 1, "model.dropout", self.dropout, "in [0, 1)")
        require(
            math.isfinite(self.ln_eps) and self.ln_eps >= 0,
            "model.ln_eps",
            self.ln_eps,
            "finite and ≥ 0",
        )
        require(self.positions in POSITIONS, "model.positions", self.positions, f"one of {POSITIONS}")
        require(self.vocab_size >= 2, "model.vocab_size", self.vocab_size, "at least 2 tokens")
        require(
            not self.mask_pad_keys or self.vocab_size == VOCAB_SIZE,
            "model.mask_pad_keys",
            self.mask_pad_keys,
            f"False unless vocab_size = {VOCAB_SIZE} (the aⁿbⁿ ids, where PAD = {PAD} is padding; in another "
            f"vocabulary id {PAD} is an ordinary token)",
        )

    def n_parameters(self) -> int:
        """Parameters of one model (matches the official counts for post-LN, docs/paper.md §5.2)."""
        d, f, V = self.d_model, self.d_ff, self.vocab_size
        layer = 3 * d * d + 3 * d + d * d + d + 2 * 2 * d + d * f + f + f * d + d
        final = 2 * d if self.norm_first else 0
        return V * d + self.n_layers * layer + final + d * V + V
