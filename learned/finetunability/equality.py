"""The proof that a reparametrised transformer computes the same function (case study 3).

:func:`prove_equal` compares a model with its transformation on **every** token
sequence ``SOS x₁ … x_L`` over the whole vocabulary (``V^L`` sequences, PAD and
SOS included, so out-of-distribution inputs count too), at every position:

* the largest absolute logit difference with both models in float64 (the
  transformation applied to a float64 copy) — at most :data:`TOLERANCE` for a
  function-preserving transformation — and in float32 (reported: the rounding of
  the kernels, not of the transformation);
* the exact KL between the two models' distributions of ``x₁ … x_L`` given SOS,
  by the chain rule ``Σ_t Σ_{x<t} q(x<t) KL(q(·|x<t) ‖ q'(·|x<t))`` over every
  prefix, each conditional KL a sum of the non-negative terms
  ``p ln(p/q) − p + q`` (:func:`scipy.special.kl_div`, so no cancellation and
  never a negative KL), in float64 and from the float32 models.

:func:`apply_transform` returns the transformed model with its proof.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import kl_div

from exact.core.limits import check_work
from exact.core.records import Record
from exact.core.tokens import SOS
from exact.core.validate import InputError, InputTypeError, check_int
from learned.finetunability.transforms import TRANSFORMS
from learned.nn.model import Transformer

__all__ = ["TOLERANCE", "EqualityProof", "FunctionDistance", "apply_transform", "function_distance", "prove_equal"]

#: Largest float64 logit difference (and KL) accepted as "the same function".
TOLERANCE = 1e-10


@dataclass(frozen=True)
class EqualityProof(Record, at="equality proof"):
    """Two stacked models compared on every sequence of ``length`` tokens after SOS (largest over members)."""

    transformation: str
    parameters: dict[str, Any]
    length: int
    sequences: int
    max_logit_diff_float64: float
    max_logit_diff_float32: float
    kl_float64: float
    kl_float32: float
    tolerance: float

    @property
    def equal(self) -> bool:
        """Float64 logits and KL within :attr:`tolerance`, and the float32 model finite (not NaN or inf)."""
        finite32 = math.isfinite(self.max_logit_diff_float32) and math.isfinite(self.kl_float32)
        return self.max_logit_diff_float64 <= self.tolerance and self.kl_float64 <= self.tolerance and finite32


def _all_sequences(vocab_size: int, length: int) -> torch.Tensor:
    rows = np.array(list(itertools.product(range(vocab_size), repeat=length)), dtype=np.int64).reshape(-1, length)
    return torch.as_tensor(np.concatenate([np.full((len(rows), 1), SOS), rows], axis=1))


@torch.no_grad()
def _logits(model: Transformer, seqs: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Logits (S, N, L+1, V) at every position, in the model's dtype (evaluation mode)."""
    model.eval()
    dev = model.embed.device
    if model.cfg.positions == "batch-row":  # the official quirk: rows index the position table
        chunk = min(chunk, model.cfg.max_len)
    return torch.cat([model(seqs[lo : lo + chunk].to(dev)).cpu() for lo in range(0, len(seqs), chunk)], dim=1)


def _kl_members(seqs: torch.Tensor, logits_p: torch.Tensor, logits_q: torch.Tensor) -> list[float]:
    """Chain-rule KL of the two length-L distributions after SOS, per member.

    Every prefix of t tokens is the start of V^(L−t) of the enumerated sequences, so each
    sequence carries 1/V^(L−t) of its prefix's term.
    """
    lp = torch.log_softmax(logits_p[:, :, :-1].double(), dim=-1).numpy()  # (S, N, L, V)
    lq = torch.log_softmax(logits_q[:, :, :-1].double(), dim=-1).numpy()
    S, N, L, V = lp.shape
    # (S, N, L): KL of the next-token conditionals; each term p ln(p/q) − p + q is ≥ 0 in exact
    # arithmetic, so a term that rounds below 0 (by ~1e-18) is 0.
    row = np.maximum(kl_div(np.exp(lp), np.exp(lq)), 0.0).sum(axis=-1)
    picked = np.take_along_axis(lp, seqs[None, :, 1:, None].numpy().repeat(S, 0), axis=-1)[..., 0]
    prefix = np.concatenate([np.zeros((S, N, 1)), np.cumsum(picked, axis=-1)[:, :, :-1]], axis=-1)
    weight = np.exp(prefix) / float(V) ** (L - np.arange(L))
    return [math.fsum((weight[i] * row[i]).ravel()) for i in range(S)]


def _kl(seqs: torch.Tensor, logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    """The largest KL over members."""
    return max(_kl_members(seqs, logits_p, logits_q))


def _check_length(length: object, model: Transformer) -> int:
    L = check_int(length, "length", minimum=1, maximum=10)
    n = model.vocab_size**L
    cfg = model.cfg
    check_work(
        n * (L + 1) * model.n_models * cfg.n_layers * cfg.d_ff * cfg.d_model * 8, "the equality proof", {"length": L}
    )
    return L


@dataclass(frozen=True)
class FunctionDistance:
    """How far apart two stacked models are as functions, per member (every sequence of ``length`` tokens)."""

    length: int
    max_logit_diff: tuple[float, ...]
    kl: tuple[float, ...]


def function_distance(p: Transformer, q: Transformer, *, length: int = 5) -> FunctionDistance:
    """Per member: the largest logit difference and ``KL(p‖q)`` of the length-``length`` distributions after SOS.

    For two models with as many members and one vocabulary, in their own dtype (e.g. a fine-tuned
    model and its fine-tuned reparametrisation, which may differ in shape).
    """
    for name, m in (("p", p), ("q", q)):
        if not isinstance(m, Transformer):
            raise InputTypeError(f"{name} must be a learned Transformer, got {type(m).__name__}")
    if p.n_models != q.n_models or p.vocab_size != q.vocab_size:
        raise InputError(
            f"p and q need as many members and one vocabulary, got {p.n_models} and {q.n_models} members, "
            f"vocabularies {p.vocab_size} and {q.vocab_size}"
        )
    L = _check_length(length, max((p, q), key=lambda m: m.cfg.d_model * m.cfg.d_ff * m.cfg.n_layers))
    seqs = _all_sequences(p.vocab_size, L)
    lp, lq = _logits(p, seqs), _logits(q, seqs)
    diff = (lp.double() - lq.double()).abs().flatten(1).max(dim=1).values
    return FunctionDistance(L, tuple(diff.tolist()), tuple(_kl_members(seqs, lp, lq)))


def prove_equal(
    original: Transformer,
    transform: Callable[[Transformer], Transformer],
    *,
    length: int = 5,
    name: str = "",
    parameters: dict[str, Any] | None = None,
) -> EqualityProof:
    """Compare ``original`` with ``transform(original)`` on all ``vocab^length`` sequences after SOS.

    ``transform`` is applied twice: to ``original`` (float32) and to a float64 copy of it.
    """
    if not isinstance(original, Transformer):
        raise InputTypeError(f"original must be a learned Transformer, got {type(original).__name__}")
    if not callable(transform):
        raise InputTypeError(f"transform must be a callable (model → model), got {type(transform).__name__}")
    L = _check_length(length, original)
    n = original.vocab_size**L
    seqs = _all_sequences(original.vocab_size, L)
    o64 = copy.deepcopy(original).double()
    logit_o32, logit_o64 = _logits(original, seqs), _logits(o64, seqs)
    t32, t64 = transform(original), transform(o64)
    if not (isinstance(t32, Transformer) and isinstance(t64, Transformer)):
        raise InputTypeError(f"transform must return a learned Transformer, got {type(t32).__name__}")
    logit_t32, logit_t64 = _logits(t32, seqs), _logits(t64, seqs)
    return EqualityProof(
        transformation=name or getattr(transform, "__name__", "transform"),
        parameters=dict(parameters or {}),
        length=L,
        sequences=n,
        max_logit_diff_float64=float((logit_o64 - logit_t64).abs().max()),
        max_logit_diff_float32=float((logit_o32 - logit_t32).abs().max()),
        kl_float64=_kl(seqs, logit_o64, logit_t64),
        kl_float32=_kl(seqs, logit_o32, logit_t32),
        tolerance=TOLERANCE,
    )


def apply_transform(
    model: Transformer, name: str, *, length: int = 5, **parameters: Any
) -> tuple[Transformer, EqualityProof]:
    """``(transformed model, its proof of equality)`` for the transformation ``name`` with ``parameters``.

    >>> from learned import Transformer, preset
    >>> model = Transformer(preset("tiny").model, seeds=(0,))
    >>> wide, proof = apply_transform(model, "widen", factor=2, length=3)
    >>> wide.cfg.d_model, proof.equal
    (32, True)
    """
    if name not in TRANSFORMS:
        raise InputError(f"name must be one of {tuple(TRANSFORMS)}, got {name!r}")
    fn = TRANSFORMS[name]
    proof = prove_equal(model, lambda m: fn(m, **parameters), length=length, name=name, parameters=parameters)
    return fn(model, **parameters), proof
