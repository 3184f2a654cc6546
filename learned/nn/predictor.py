"""A trained transformer as an :class:`exact.Predictor`, so every exact metric applies to it.

``TransformerPredictor(model, member=i)`` answers ``next_token_probs`` for one
model of a stacked :class:`~learned.nn.model.Transformer`: one forward pass over the
batch (evaluation mode, no dropout), the logits at each row's last position,
softmax in float64 (rows sum to one within 1e-15). With the official ``batch-row`` positions a row's answer depends on its index
within its chunk of ``chunk`` prefixes, as in the official code. Every row is defined: a
network has a conditional on every prefix, including those of probability zero
under the data (the OOD prompts). The predictor holds a *snapshot* of the
member's parameters taken at construction: hooks attached to, or parameters
changed in, the original model afterwards do not affect it.
"""

from __future__ import annotations

import numpy as np
import torch

from exact.core.predictor import NextTokenProbs
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError
from learned.nn.model import Transformer

__all__ = ["TransformerPredictor"]


class TransformerPredictor:
    """One model of a (stacked) transformer behind the predictor interface.

    Parameters
    ----------
    model : Transformer
    member : int
        Which of the ``model.n_models`` stacked models answers.
    chunk : int
        Prefixes per forward pass.
    """

    def __init__(self, model: Transformer, member: int = 0, *, chunk: int = 4096) -> None:
        if not 0 <= member < model.n_models:
            raise InputError(f"member must be in [0, {model.n_models}), got {member}")
        if chunk < 1:
            raise InputError(f"chunk must be ≥ 1, got {chunk}")
        if model.cfg.positions == "batch-row":  # the official quirk: rows index the position table
            chunk = min(chunk, model.cfg.max_len)
        self.model, self.member, self.chunk = model, member, chunk
        self._single = model.member(member)  # a snapshot: later edits or hooks on `model` do not apply

    @property
    def vocab_size(self) -> int:
        return self.model.vocab_size

    def __repr__(self) -> str:
        return f"TransformerPredictor(seed={self.model.seeds[self.member]}, n_models={self.model.n_models})"

    @torch.no_grad()
    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        if batch.vocab_size != self.vocab_size:
            raise InputError(f"batch.vocab_size={batch.vocab_size} does not match the model's {self.vocab_size}")
        if len(batch) and int(batch.lengths.min()) < 1:
            raise InputError("every prefix needs at least one token (the model conditions on SOS)")
        n = len(batch)
        probs = np.zeros((n, self.vocab_size))
        device = self._single.embed.device
        for lo in range(0, n, self.chunk):
            lengths = batch.lengths[lo : lo + self.chunk]
            width = int(lengths.max())
            x = torch.tensor(batch.tokens[lo : lo + self.chunk, :width], device=device)  # a copy: batches are read-only
            logits = self._single(x)[0]  # (B, T, V); causal, so filler after a row's end is ignored
            last = logits[torch.arange(len(lengths), device=device), torch.as_tensor(lengths - 1, device=device)]
            probs[lo : lo + len(lengths)] = torch.softmax(last.double(), dim=-1).cpu().numpy()
        return NextTokenProbs(probs, np.ones(n, dtype=bool))
