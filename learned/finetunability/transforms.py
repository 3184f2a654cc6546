"""Function-preserving reparametrisations of a trained transformer (case study 3, docs/paper.md §4.4).

Each function takes a (stacked) :class:`~learned.nn.model.Transformer` and returns a
*new* model that computes the same function in real arithmetic, with other
parameters — the parameter non-identifiability of arXiv 2405.01964 §4.4:

* :func:`widen` — width × ``m``: the residual stream ``h`` becomes ``[h, …, h]``
  (``m`` copies). Every weight matrix becomes block-diagonal with ``m`` copies
  (so heads and feed-forward units are duplicated: ``m·n_heads`` heads of the
  same size, ``m·d_ff`` units), biases and LayerNorm parameters are tiled, the
  token embedding is divided by ``√m`` (the model multiplies it by
  ``√d_model``), the positional table is tiled (``ModelConfig.pe_repeat``) and
  the readout is divided by ``m``. LayerNorm of ``[h, …, h]`` equals
  ``[LN h, …, LN h]`` with ``eps`` included, because the copies have the mean
  and the (biased) variance of ``h``.
* :func:`deepen` — ``k`` new blocks whose residual branches start at exactly
  zero (attention and feed-forward output projections and biases zero, the rest
  drawn by the model's initialisation from ``seed``). Pre-LN only: a post-LN
  block computes ``LN(x + f(x))``, which for ``f = 0`` is ``LN(x)``, and LayerNorm
  is not the identity on the previous block's output (it re-centres and
  re-scales it, and with ``eps > 0`` even ``LN(LN(x)) ≠ LN(x)``), so no new
  weights make a post-LN block the identity; :func:`deepen` refuses it.
* :func:`rescale_relu` — ``(W₁, b₁, W₂) → (αW₁, αb₁, W₂/α)`` in the feed-forward
  layers, ``α > 0``, since ``relu(αz) = α relu(z)``. A power of two changes no
  rounding, so the float32 function is bit-identical.
* :func:`permute` — heads and feed-forward units reordered within every layer:
  the symmetry under which SGD and Adam are exactly equivariant (the update of
  the permuted model is the permuted update), so fine-tuning cannot tell the two
  apart — the negative control of the divergence claim.

:func:`grow_randomly` is the negative control of the equality claim: a widening
or deepening whose new weights are random, which must change the function.

The functions are dtype-agnostic: applied to ``model.double()`` they transform in
float64 (what :mod:`learned.finetunability.equality` uses for its 1e-10 proof).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from exact.core.rng import generator
from exact.core.validate import InputError, InputTypeError, check_int, is_number
from learned.nn.model import Block, Transformer, init_generators

__all__ = ["ALPHA_RANGE", "TRANSFORMS", "deepen", "grow_randomly", "permute", "rescale_relu", "widen"]

#: The α that :func:`rescale_relu` accepts: beyond it float32 weights lose the function (overflow, underflow).
ALPHA_RANGE = (2.0**-20, 2.0**20)


def _check_model(model: object) -> Transformer:
    if not isinstance(model, Transformer):
        raise InputTypeError(f"model must be a learned Transformer, got {type(model).__name__}")
    return model


def _like(model: Transformer, **changes: Any) -> Transformer:
    """A new stacked model with ``model``'s seeds, config changed by ``changes``, on its device and dtype."""
    cfg = dataclasses.replace(model.cfg, **changes)
    new = Transformer(cfg, model.seeds)
    return new.to(device=model.embed.device, dtype=model.embed.dtype)


def _blockdiag(w: Tensor, m: int) -> Tensor:
    """``m`` copies of each model's (in, out) matrix on the diagonal: (S, in, out) → (S, m·in, m·out)."""
    S, n_in, n_out = w.shape
    out = w.new_zeros(S, m * n_in, m * n_out)
    for c in range(m):
        out[:, c * n_in : (c + 1) * n_in, c * n_out : (c + 1) * n_out] = w
    return out


def _tile(v: Tensor, m: int) -> Tensor:
    """(S, n) → (S, m·n): ``[v, …, v]``."""
    return v.repeat(1, m)


def widen(model: Transformer, factor: int = 2) -> Transformer:
    """The same function at ``factor`` × the width (see the module docstring)."""
    model = _check_model(model)
    m = check_int(factor, "factor", minimum=2, maximum=16)
    cfg = model.cfg
    d = cfg.d_model
    new = _like(model, d_model=m * d, n_heads=m * cfg.n_heads, d_ff=m * cfg.d_ff, pe_repeat=m * cfg.pe_repeat)
    with torch.no_grad():
        new.embed.copy_(model.embed.repeat(1, 1, m) / math.sqrt(m))
        for old_b, new_b in zip(model.blocks, new.blocks, strict=True):
            ob, nb = cast(Block, old_b), cast(Block, new_b)
            qkv = [ob.attn.w_qkv[:, :, i * d : (i + 1) * d] for i in range(3)]
            nb.attn.w_qkv.copy_(torch.cat([_blockdiag(w, m) for w in qkv], dim=2))
            nb.attn.b_qkv.copy_(torch.cat([_tile(ob.attn.b_qkv[:, i * d : (i + 1) * d], m) for i in range(3)], 1))
            nb.attn.w_out.copy_(_blockdiag(ob.attn.w_out, m))
            nb.attn.b_out.copy_(_tile(ob.attn.b_out, m))
            nb.mlp.w_in.copy_(_blockdiag(ob.mlp.w_in, m))
            nb.mlp.b_in.copy_(_tile(ob.mlp.b_in, m))
            nb.mlp.w_out.copy_(_blockdiag(ob.mlp.w_out, m))
            nb.mlp.b_out.copy_(_tile(ob.mlp.b_out, m))
            for name in ("ln1_w", "ln1_b", "ln2_w", "ln2_b"):
                getattr(nb, name).copy_(_tile(getattr(ob, name), m))
        if model.lnf_w is not None and model.lnf_b is not None and new.lnf_w is not None and new.lnf_b is not None:
            new.lnf_w.copy_(_tile(model.lnf_w, m))
            new.lnf_b.copy_(_tile(model.lnf_b, m))
        new.w_head.copy_(model.w_head.repeat(1, m, 1) / m)
        new.b_head.copy_(model.b_head)
    return new


def _check_position(at: object, n_layers: int) -> int:
    return n_layers if at is None else check_int(at, "at", minimum=0, maximum=n_layers)


def deepen(model: Transformer, blocks: int = 1, *, at: int | None = None, seed: int = 0) -> Transformer:
    """The same function with ``blocks`` new identity blocks inserted before block ``at`` (default: at the end).

    The new blocks' attention and feed-forward output projections and biases are zero
    (their residual branches add exactly 0); their other weights are drawn from ``seed``
    (the model's initialisation), so fine-tuning can grow them. Pre-LN models only.
    """
    model = _check_model(model)
    k = check_int(blocks, "blocks", minimum=1, maximum=64)
    if not model.cfg.norm_first:
        raise InputError(
            "deepen needs a pre-LN model (model.norm_first=true): a post-LN block computes LN(x + f(x)), "
            "which is LN(x) for a zero branch, and LayerNorm is not the identity on the previous block's "
            "output, so no new block is function-preserving"
        )
    s = check_int(seed, "seed", minimum=0, maximum=2**62)
    return _deepen(model, k, _check_position(at, model.cfg.n_layers), s, zero=True)


def _deepen(model: Transformer, k: int, at: int, seed: int, *, zero: bool) -> Transformer:
    new = _like(model, n_layers=model.cfg.n_layers + k)
    old = [cast(Block, b) for b in model.blocks]
    fresh = [cast(Block, b) for b in new.blocks]
    order = old[:at] + [None] * k + old[at:]
    gens = init_generators([seed + j for j in range(model.n_models)])
    with torch.no_grad():
        for name in ("embed", "w_head", "b_head", "lnf_w", "lnf_b"):
            src, dst = getattr(model, name), getattr(new, name)
            if src is not None:
                dst.copy_(src)
        for src_block, dst_block in zip(order, fresh, strict=True):
            if src_block is not None:
                dst_block.load_state_dict(src_block.state_dict())
                continue
            dst_block.attn.reset(gens)  # the model's own initialisation, then the branch outputs zeroed
            dst_block.mlp.reset(gens)
            if zero:
                for p in (dst_block.attn.w_out, dst_block.attn.b_out, dst_block.mlp.w_out, dst_block.mlp.b_out):
                    p.zero_()
    return new


def _alphas(alpha: float | Sequence[float], n_layers: int) -> list[float]:
    if not (is_number(alpha) or isinstance(alpha, (list, tuple))):
        raise InputTypeError(f"alpha must be a number or one number per layer, got {alpha!r}")
    values: list[Any] = [alpha] * n_layers if is_number(alpha) else list(cast(Sequence[float], alpha))
    if not all(is_number(a) for a in values):
        raise InputTypeError(f"alpha must be a number or one number per layer, got {alpha!r}")
    if len(values) != n_layers:
        raise InputError(f"alpha must give one value per layer ({n_layers}), got {len(values)}")
    for a in values:
        if not (math.isfinite(float(a)) and float(a) > 0):
            raise InputError(f"alpha must be finite and > 0 (ReLU is positively homogeneous only), got {a!r}")
        if not ALPHA_RANGE[0] <= float(a) <= ALPHA_RANGE[1]:
            raise InputError(
                f"alpha={a!r} is outside [2^-20, 2^20]: float32 weights would overflow or underflow, so the "
                "rescaled model would not compute the same function"
            )
    return [float(a) for a in values]


def rescale_relu(model: Transformer, alpha: float | Sequence[float] = 2.0) -> Transformer:
    """``(W₁, b₁, W₂) → (αW₁, αb₁, W₂/α)`` in every feed-forward layer (α per layer or one for all)."""
    model = _check_model(model)
    alphas = _alphas(alpha, model.cfg.n_layers)
    new = _like(model)
    new.load_state_dict(model.state_dict())
    with torch.no_grad():
        for blk, a in zip(new.blocks, alphas, strict=True):
            mlp = cast(Block, blk).mlp
            mlp.w_in.mul_(a)
            mlp.b_in.mul_(a)
            mlp.w_out.div_(a)
    return new


def permutations(model: Transformer, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The (head, unit) permutations :func:`permute` applies to each layer, drawn from ``seed``."""
    rng = generator(check_int(seed, "seed", minimum=0), "permute")
    cfg = _check_model(model).cfg
    return [(rng.permutation(cfg.n_heads), rng.permutation(cfg.d_ff)) for _ in range(cfg.n_layers)]


def permute(model: Transformer, seed: int = 0) -> Transformer:
    """Heads and feed-forward units of every layer reordered by permutations drawn from ``seed``."""
    model = _check_model(model)
    perms = permutations(model, seed)
    d, H = model.cfg.d_model, model.cfg.n_heads
    D = d // H
    new = _like(model)
    new.load_state_dict(model.state_dict())
    with torch.no_grad():
        for blk, (heads, units) in zip(new.blocks, perms, strict=True):
            b = cast(Block, blk)
            cols = torch.as_tensor(np.concatenate([np.arange(h * D, (h + 1) * D) for h in heads]))
            qkv_cols = torch.cat([cols + i * d for i in range(3)])
            b.attn.w_qkv.copy_(b.attn.w_qkv[:, :, qkv_cols])
            b.attn.b_qkv.copy_(b.attn.b_qkv[:, qkv_cols])
            b.attn.w_out.copy_(b.attn.w_out[:, cols, :])
            u = torch.as_tensor(units)
            b.mlp.w_in.copy_(b.mlp.w_in[:, :, u])
            b.mlp.b_in.copy_(b.mlp.b_in[:, u])
            b.mlp.w_out.copy_(b.mlp.w_out[:, u, :])
    return new


def grow_randomly(model: Transformer, kind: str, *, seed: int = 0, scale: float = 0.1) -> Transformer:
    """The negative control: a growth whose new weights are random, so the function changes.

    ``kind="deepen"``: one block appended with its output projections drawn, not zeroed
    (pre-LN). ``kind="widen"``: a ×2 widening whose zero off-diagonal blocks of every
    weight matrix are filled with ``N(0, scale²)`` noise.
    """
    model = _check_model(model)
    seed = check_int(seed, "seed", minimum=0, maximum=2**62)
    if not (is_number(scale) and math.isfinite(float(scale)) and float(scale) > 0):
        raise InputError(f"scale must be finite and > 0 (a zero growth is no control), got {scale!r}")
    if kind == "deepen":
        if not model.cfg.norm_first:
            raise InputError("grow_randomly(kind='deepen') needs a pre-LN model (model.norm_first=true)")
        return _deepen(model, 1, model.cfg.n_layers, seed, zero=False)
    if kind != "widen":
        raise InputError(f"kind must be 'widen' or 'deepen', got {kind!r}")
    new = widen(model, 2)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for blk in new.blocks:
            b = cast(Block, blk)
            for w in (b.attn.w_out, b.mlp.w_in, b.mlp.w_out):
                n_in, n_out = w.shape[1] // 2, w.shape[2] // 2
                noise = scale * torch.randn(w.shape, generator=gen).to(w)
                w[:, :n_in, n_out:] += noise[:, :n_in, n_out:]
                w[:, n_in:, :n_out] += noise[:, n_in:, :n_out]
    return new


#: The function-preserving transformations, by name (:func:`~learned.finetunability.equality.apply_transform`).
TRANSFORMS: dict[str, Callable[..., Transformer]] = {
    "widen": widen,
    "deepen": deepen,
    "rescale_relu": rescale_relu,
    "permute": permute,
}
