"""Training losses and the exact test loss of a stacked model (docs/paper.md §5.3–5.4, §7).

Every loss returns one value per model (shape ``(S,)``); training sums them, so
each model's gradient is that of its own loss.

:func:`exact_test_loss` evaluates the model on *every* sentence of the training
law with its exact probability, so ``kl_per_token = test_loss − floor`` is the
exact ``KL(p‖q_θ)`` divided by the ``2N + 1`` targets per padded sequence, and
``kl_sequence`` is the exact KL of the sentence distributions (the model's
probability of ``SOS aⁿbⁿ EOS``, PAD positions not scored). Log-probabilities
are computed in float64 from the model's float32 logits, and the KL is summed
as ``Σ p(x)(log p(x) − log q(x))`` term by term, not as a difference of two
nearly equal losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor

from exact.core.kl import kl_terms
from exact.core.tokens import PAD
from exact.core.validate import InputError
from learned.rule_extrapolation.data import SentenceSet

__all__ = ["ExactLoss", "completion_loss", "exact_test_loss", "lm_loss"]


def _token_ce(logits: Tensor, targets: Tensor) -> Tensor:
    """Per-target cross-entropy (S, B, T) of logits (S, B, T, V) against targets (B, T) or (S, B, T)."""
    S, Bn, T, V = logits.shape
    targets = targets.expand(S, Bn, T)
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none").reshape(S, Bn, T)


def _mean(ce: Tensor, targets: Tensor, ignore_pad: bool) -> Tensor:
    if not ignore_pad:
        return ce.mean(dim=(1, 2))
    keep = (targets != PAD).expand_as(ce).to(ce.dtype)
    return (ce * keep).sum(dim=(1, 2)) / keep.sum(dim=(1, 2)).clamp_min(1.0)


def lm_loss(logits: Tensor, tokens: Tensor, *, ignore_pad: bool) -> Tensor:
    """Mean next-token cross-entropy per model; logits of ``tokens[..., :-1]``, targets ``tokens[..., 1:]``."""
    targets = tokens[..., 1:]
    return _mean(_token_ce(logits, targets), targets, ignore_pad)


def completion_loss(
    logits: Tensor, extended: Tensor, *, prompt_length: int, official: bool, ignore_pad: bool
) -> Tensor:
    """Loss on the completions of extended OOD prompts (adversarial / oracle training).

    ``official=True`` scores predictions from position ``prompt_length + 1`` on
    (``pred[:, 9:]`` vs ``X[:, 10:]`` at k = 8): the first completion token is
    never supervised, as in the official code. ``official=False`` starts one
    position earlier and supervises it.
    """
    start = prompt_length + 1 if official else prompt_length
    targets = extended[:, 1:][:, start:]
    return _mean(_token_ce(logits[:, :, start:], targets), targets, ignore_pad)


@dataclass(frozen=True)
class ExactLoss:
    """Exact test metrics, one entry per model (float64 arrays of shape (S,))."""

    test_loss: NDArray[np.float64]
    kl_per_token: NDArray[np.float64]
    kl_sequence: NDArray[np.float64]
    floor: float
    targets_per_sequence: int


@torch.no_grad()
def exact_test_loss(model: torch.nn.Module, data: SentenceSet, *, device: torch.device | str = "cpu") -> ExactLoss:
    """Exact padded test loss and KL to the data for every stacked model (eval mode, no dropout)."""
    x = torch.tensor(data.tokens, device=device)
    logp = torch.log_softmax(model(x[:, :-1]).double(), dim=-1)  # (S, N, W-1, V)
    picked = logp.gather(-1, x[:, 1:].expand(logp.shape[0], *x[:, 1:].shape).unsqueeze(-1)).squeeze(-1)
    tok_lp = picked.cpu().numpy()  # (S, N, W-1)
    width = data.tokens.shape[1] - 1
    upto_eos = np.arange(width)[None, :] < data.eos_at[:, None]  # targets up to and including EOS
    log_q_pad = tok_lp.sum(axis=2)  # (S, N)
    log_q = np.where(upto_eos[None], tok_lp, 0.0).sum(axis=2)
    p = np.exp(data.log_prob)
    kl_pad = kl_terms(data.log_prob[None], log_q_pad).sum(axis=1)
    kl_seq = kl_terms(data.log_prob[None], log_q).sum(axis=1)
    test = -(p[None] * log_q_pad).sum(axis=1) / width
    if not (np.all(np.isfinite(test)) and np.all(np.isfinite(kl_pad))):
        raise InputError("the model's test loss is not finite")
    return ExactLoss(test, kl_pad / width, kl_seq, data.padded_floor, width)
