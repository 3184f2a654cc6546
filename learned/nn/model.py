"""A small decoder-only transformer whose parameters carry a leading *model* axis.

The official model (docs/paper.md §5.2) is ``nn.TransformerEncoder`` used as a causal
LM: token embedding × √d plus sinusoidal positions (base 10000), dropout,
``n_layers`` blocks of multi-head self-attention and a ReLU MLP, a linear head.
Here every parameter has shape ``(n_models, …)``, so ``n_models`` independent
models (one per seed) run as one batched computation (``torch.baddbmm`` /
broadcast matmuls) — the seed-batched training of :mod:`learned.rule_extrapolation.train`. With
``n_models = 1`` it is an ordinary transformer; :meth:`Transformer.member`
extracts one model.

Positions (``ModelConfig.positions``): sinusoidal PE(t) by default; ``"none"``;
or ``"batch-row"``, the official code's behaviour, where row b of the batch gets
PE(b) at every position (its ``PositionalEncoding`` is applied before the
permute to sequence-first), so the official model has no positional encoding
and its outputs depend on a sequence's row in the batch.

Blocks are post-LN (``x = LN(x + f(x))``, PyTorch's default and the official
code) or pre-LN (``x = x + f(LN(x))`` plus a final LayerNorm), per
:attr:`ModelConfig.norm_first`. Attention is causal; with ``mask_pad_keys`` keys
holding PAD are masked as by the official ``src_key_padding_mask`` (except
position 0, so no row is ever fully masked).

Dropout is drawn from explicit per-model ``torch.Generator`` objects, never from
the global RNG: model ``i`` sees the same masks whether it is trained alone or
stacked with others. Initialisation likewise uses one generator per seed and
follows PyTorch's defaults for the official modules (xavier-uniform ``in_proj``,
zero attention biases, ``nn.Linear`` uniform ±1/√fan_in, ``N(0, 1)`` embedding);
each block is drawn independently unless ``clone_layers`` (the official
``nn.TransformerEncoder`` starts every block from one deep-copied layer).
Stacked and single models compute the same function; batched kernels may round
differently in the last bits, which training can amplify.

Shapes: S models, B sequences, T positions, H heads, D = d_model / H.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from exact.core.tokens import PAD
from exact.core.validate import InputError
from learned.nn.config import ModelConfig
from learned.nn.hooks import HookedModule, HookPoint

__all__ = ["KVCache", "Transformer", "init_generators"]


def init_generators(seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One seeded generator per model."""
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]


def _uniform(shape: tuple[int, ...], bound: float, gen: torch.Generator) -> Tensor:
    return (torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound


def _linear(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    """``x @ w + b`` per model: x (S, …, in), w (S, in, out), b (S, out) → (S, …, out)."""
    S, *mid, n_in = x.shape
    flat = x.reshape(S, -1, n_in)  # (S, M, in)
    return torch.baddbmm(b.unsqueeze(1), flat, w).reshape(S, *mid, w.shape[-1])


def _layer_norm(x: Tensor, w: Tensor, b: Tensor, eps: float) -> Tensor:
    """LayerNorm over the last axis with per-model affine w, b (S, d)."""
    shape = (w.shape[0],) + (1,) * (x.dim() - 2) + (w.shape[1],)
    return F.layer_norm(x, x.shape[-1:], eps=eps) * w.reshape(shape) + b.reshape(shape)


def _dropout(x: Tensor, p: float, gens: Sequence[torch.Generator] | None) -> Tensor:
    """Inverted dropout with one generator per model (axis 0); identity when ``gens`` is None."""
    if gens is None or p == 0.0:
        return x
    keep = torch.stack([torch.rand(x.shape[1:], generator=g, device=x.device) >= p for g in gens])
    return x * keep / (1.0 - p)


def sinusoidal_positions(max_len: int, d: int) -> Tensor:
    """``pe[t, 2i] = sin(t / 10000^(2i/d))``, ``pe[t, 2i+1] = cos(…)``, shape (max_len, d)."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


@dataclass
class KVCache:
    """Keys and values of the positions seen so far, for incremental decoding.

    With ``capacity`` set, each layer's keys and values live in one buffer of that many
    positions, allocated at the first call and written in place (decoding ``n`` tokens costs
    ``O(n)`` copies instead of the ``O(n²)`` of growing the tensors by concatenation; the
    attention reads the same numbers either way). Without it the tensors grow.
    """

    keys: list[Tensor] = field(default_factory=list)  # per layer (S, B, H, T, D)
    values: list[Tensor] = field(default_factory=list)
    key_pad: Tensor | None = None  # (S, B, T) bool: key masked
    length: int = 0
    capacity: int | None = None

    def extend(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append the new keys and values of ``layer`` (S, B, H, T, D); all of them so far."""
        if self.capacity is None:
            if layer < len(self.keys):
                k = torch.cat([self.keys[layer], k], dim=3)
                v = torch.cat([self.values[layer], v], dim=3)
                self.keys[layer], self.values[layer] = k, v
            else:
                self.keys.append(k)
                self.values.append(v)
            return k, v
        if layer >= len(self.keys):
            shape = (*k.shape[:3], self.capacity, k.shape[4])
            self.keys.append(k.new_empty(shape))
            self.values.append(v.new_empty(shape))
        end = self.length + k.shape[3]
        self.keys[layer][:, :, :, self.length : end] = k
        self.values[layer][:, :, :, self.length : end] = v
        return self.keys[layer][:, :, :, :end], self.values[layer][:, :, :, :end]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, S: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.n_heads, self.p = cfg.n_heads, cfg.dropout
        self.w_qkv = nn.Parameter(torch.empty(S, d, 3 * d))
        self.b_qkv = nn.Parameter(torch.zeros(S, 3 * d))
        self.w_out = nn.Parameter(torch.empty(S, d, d))
        self.b_out = nn.Parameter(torch.zeros(S, d))
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()  # (S, B, H, T, D)
        self.hook_pattern = HookPoint()  # (S, B, H, Tq, Tk), after softmax
        self.hook_z = HookPoint()  # (S, B, T, d), heads concatenated, before the output projection

    def reset(self, gens: Sequence[torch.Generator]) -> None:
        d = self.w_out.shape[1]
        with torch.no_grad():
            for i, g in enumerate(gens):
                # nn.MultiheadAttention: xavier_uniform_ on in_proj (3d, d), zero biases;
                # out_proj keeps nn.Linear's kaiming-uniform bound 1/√d with bias zeroed.
                self.w_qkv[i] = _uniform((3 * d, d), math.sqrt(6.0 / (4 * d)), g).T
                self.w_out[i] = _uniform((d, d), 1 / math.sqrt(d), g).T
            self.b_qkv.zero_()
            self.b_out.zero_()

    def forward(
        self, x: Tensor, mask: Tensor, cache: KVCache | None, layer: int, gens: Sequence[torch.Generator] | None
    ) -> Tensor:
        S, B, T, d = x.shape
        H = self.n_heads
        qkv = _linear(x, self.w_qkv, self.b_qkv).reshape(S, B, T, 3, H, d // H)
        # unbind, not three selects: its backward stacks the three gradients instead of adding
        # three zero-filled copies (the same numbers, less memory traffic).
        q, k, v = (t.transpose(2, 3) for t in qkv.unbind(3))  # (S, B, H, T, D)
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        Tk = k.shape[3]
        z = None
        if (gens is None or self.p == 0.0) and not (cache is not None and T == 1):
            # Fused kernel (about 3× faster on CPU); same function up to float rounding. For one
            # query decoded through the cache the plain product below is about 5× faster than it;
            # a one-token input without a cache keeps the fused kernel (the numbers of every
            # full forward pass, e.g. the committed ICL evaluation, stay bit-identical).
            z = F.scaled_dot_product_attention(
                q.reshape(S * B, H, T, -1),
                k.reshape(S * B, H, Tk, -1),
                v.reshape(S * B, H, Tk, -1),
                attn_mask=~mask.reshape(S * B, 1, T, Tk),
            ).reshape(S, B, H, T, -1)
        if z is None or self.hook_pattern.active:
            scores = q @ k.transpose(-1, -2) / math.sqrt(d // H)  # (S, B, H, Tq, Tk)
            scores = scores.masked_fill(mask[:, :, None], float("-inf"))
            raw = _dropout(torch.softmax(scores, dim=-1), self.p, gens)
            pattern = self.hook_pattern(raw)
            if z is None or pattern is not raw:  # dropout, or a hook replaced the pattern
                z = pattern @ v
        z = z.transpose(2, 3).reshape(S, B, T, d)  # (S, B, T, H·D)
        return _linear(self.hook_z(z), self.w_out, self.b_out)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, S: int) -> None:
        super().__init__()
        self.p = cfg.dropout
        self.w_in = nn.Parameter(torch.empty(S, cfg.d_model, cfg.d_ff))
        self.b_in = nn.Parameter(torch.empty(S, cfg.d_ff))
        self.w_out = nn.Parameter(torch.empty(S, cfg.d_ff, cfg.d_model))
        self.b_out = nn.Parameter(torch.empty(S, cfg.d_model))
        self.hook_pre = HookPoint()  # (S, B, T, d_ff) before ReLU
        self.hook_post = HookPoint()  # (S, B, T, d_ff) after ReLU

    def reset(self, gens: Sequence[torch.Generator]) -> None:
        d, f = self.w_in.shape[1], self.w_in.shape[2]
        with torch.no_grad():
            for i, g in enumerate(gens):
                self.w_in[i] = _uniform((f, d), 1 / math.sqrt(d), g).T
                self.b_in[i] = _uniform((f,), 1 / math.sqrt(d), g)
                self.w_out[i] = _uniform((d, f), 1 / math.sqrt(f), g).T
                self.b_out[i] = _uniform((d,), 1 / math.sqrt(f), g)

    def forward(self, x: Tensor, gens: Sequence[torch.Generator] | None) -> Tensor:
        h = self.hook_post(torch.relu(self.hook_pre(_linear(x, self.w_in, self.b_in))))
        return _linear(_dropout(h, self.p, gens), self.w_out, self.b_out)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, S: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.attn, self.mlp = Attention(cfg, S), MLP(cfg, S)
        self.ln1_w, self.ln1_b = nn.Parameter(torch.ones(S, d)), nn.Parameter(torch.zeros(S, d))
        self.ln2_w, self.ln2_b = nn.Parameter(torch.ones(S, d)), nn.Parameter(torch.zeros(S, d))
        self.hook_resid_pre = HookPoint()  # (S, B, T, d)
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(
        self, x: Tensor, mask: Tensor, cache: KVCache | None, layer: int, gens: Sequence[torch.Generator] | None
    ) -> Tensor:
        eps, p = self.cfg.ln_eps, self.cfg.dropout
        x = self.hook_resid_pre(x)
        if self.cfg.norm_first:
            a = self.hook_attn_out(self.attn(_layer_norm(x, self.ln1_w, self.ln1_b, eps), mask, cache, layer, gens))
            x = self.hook_resid_mid(x + _dropout(a, p, gens))
            m = self.hook_mlp_out(self.mlp(_layer_norm(x, self.ln2_w, self.ln2_b, eps), gens))
            x = x + _dropout(m, p, gens)
        else:
            a = self.hook_attn_out(self.attn(x, mask, cache, layer, gens))
            x = self.hook_resid_mid(_layer_norm(x + _dropout(a, p, gens), self.ln1_w, self.ln1_b, eps))
            m = self.hook_mlp_out(self.mlp(x, gens))
            x = _layer_norm(x + _dropout(m, p, gens), self.ln2_w, self.ln2_b, eps)
        return self.hook_resid_post(x)


class Transformer(HookedModule):
    """``n_models`` decoder-only transformers evaluated together.

    Parameters
    ----------
    cfg : ModelConfig
    seeds : sequence of int
        One model per seed; the seed fixes its initialisation.

    Hook points (names in ``model.hook_dict``): ``hook_embed`` (token embedding × √d),
    ``hook_pos`` (positions), ``blocks.{i}.hook_resid_pre|attn_out|resid_mid|mlp_out|resid_post``,
    ``blocks.{i}.attn.hook_q|k|v|pattern|z``, ``blocks.{i}.mlp.hook_pre|post``,
    ``hook_resid_final`` and ``hook_logits``.
    """

    def __init__(self, cfg: ModelConfig, seeds: Sequence[int] = (0,)) -> None:
        super().__init__()
        if len(seeds) < 1:
            raise InputError("seeds must name at least one model")
        self.cfg = cfg
        self.seeds = tuple(int(s) for s in seeds)
        S, d, V = len(seeds), cfg.d_model, cfg.vocab_size
        self.embed = nn.Parameter(torch.empty(S, V, d))
        pe = sinusoidal_positions(cfg.max_len, d // cfg.pe_repeat).repeat(1, cfg.pe_repeat)  # tiled (widened models)
        self.register_buffer("pe", pe, persistent=False)
        self.blocks = nn.ModuleList(Block(cfg, S) for _ in range(cfg.n_layers))
        self.lnf_w = nn.Parameter(torch.ones(S, d)) if cfg.norm_first else None
        self.lnf_b = nn.Parameter(torch.zeros(S, d)) if cfg.norm_first else None
        self.w_head = nn.Parameter(torch.empty(S, d, V))
        self.b_head = nn.Parameter(torch.empty(S, V))
        self.hook_embed, self.hook_pos = HookPoint(), HookPoint()
        self.hook_resid_final, self.hook_logits = HookPoint(), HookPoint()
        self.reset_parameters()
        self.setup()

    @property
    def pe_table(self) -> Tensor:
        """The sinusoidal table, shape (max_len, d_model)."""
        return cast(Tensor, self.pe)

    @property
    def n_models(self) -> int:
        return len(self.seeds)

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    def reset_parameters(self) -> None:
        """Seeded initialisation, one CPU generator per model (device-independent)."""
        gens = init_generators(self.seeds)
        d, V = self.cfg.d_model, self.cfg.vocab_size
        with torch.no_grad():
            for i, g in enumerate(gens):
                self.embed[i] = torch.randn((V, d), generator=g)
            blocks = [cast(Block, b) for b in self.blocks]
            for blk in blocks[:1] if self.cfg.clone_layers else blocks:
                blk.attn.reset(gens)
                blk.mlp.reset(gens)
            if self.cfg.clone_layers:  # nn.TransformerEncoder deep-copies one initialised layer
                for other in blocks[1:]:
                    other.load_state_dict(blocks[0].state_dict())
            for i, g in enumerate(gens):
                self.w_head[i] = _uniform((V, d), 1 / math.sqrt(d), g).T
                self.b_head[i] = _uniform((V,), 1 / math.sqrt(d), g)

    def forward(
        self, tokens: Tensor, *, cache: KVCache | None = None, dropout: Sequence[torch.Generator] | None = None
    ) -> Tensor:
        """Logits for every position.

        Parameters
        ----------
        tokens : LongTensor, shape (B, T) shared by all models, or (S, B, T)
        cache : KVCache, optional
            Continue after the cached positions (incremental decoding); updated in place.
        dropout : list of torch.Generator, optional
            One per model: training mode with dropout drawn from them. None: no dropout.

        Returns
        -------
        Tensor, shape (S, B, T, vocab)
        """
        S, d = self.n_models, self.cfg.d_model
        if tokens.dim() == 2:
            tokens = tokens.unsqueeze(0).expand(S, *tokens.shape)
        if tokens.dim() != 3 or tokens.shape[0] != S:
            raise InputError(f"tokens must have shape (B, T) or ({S}, B, T), got {tuple(tokens.shape)}")
        if dropout is not None and len(dropout) != S:
            raise InputError(f"dropout needs one generator per model ({S}), got {len(dropout)}")
        _, B, T = tokens.shape
        start = cache.length if cache is not None else 0
        if start + T > self.cfg.max_len:
            raise InputError(f"positions up to {start + T} exceed model.max_len={self.cfg.max_len}")
        if cache is not None and cache.capacity is not None and start + T > cache.capacity:
            raise InputError(f"positions up to {start + T} exceed the cache's capacity={cache.capacity}")
        if self.cfg.positions == "batch-row" and B > self.cfg.max_len:
            raise InputError(f"batch-row positions need batch ≤ model.max_len={self.cfg.max_len}, got {B}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.cfg.vocab_size):
            raise InputError(
                f"tokens must lie in [0, {self.cfg.vocab_size}), got {int(tokens.min())}..{int(tokens.max())}"
            )
        x = self.hook_embed(self.embed[torch.arange(S, device=tokens.device)[:, None, None], tokens] * math.sqrt(d))
        if self.cfg.positions == "sinusoidal":
            pos = self.pe_table[start : start + T]  # (T, d)
        elif self.cfg.positions == "batch-row":
            pos = self.pe_table[:B, None, :]  # (B, 1, d): row b gets PE(b) at every position (official code)
        else:
            pos = torch.zeros_like(self.pe_table[:1])
        x = _dropout(x + self.hook_pos(pos), self.cfg.dropout, dropout)  # (S, B, T, d)

        key_pad = (tokens == PAD) if self.cfg.mask_pad_keys else torch.zeros_like(tokens, dtype=torch.bool)
        if start == 0:
            key_pad = key_pad.clone()
            key_pad[:, :, 0] = False  # never mask position 0: no fully masked row
        if cache is not None:
            key_pad = key_pad if cache.key_pad is None else torch.cat([cache.key_pad, key_pad], dim=2)
            cache.key_pad = key_pad
        q_pos = torch.arange(start, start + T, device=tokens.device)
        k_pos = torch.arange(start + T, device=tokens.device)
        causal = k_pos[None, :] > q_pos[:, None]  # (Tq, Tk)
        mask = causal[None, None] | key_pad[:, :, None, :]  # (S, B, Tq, Tk)

        for layer, blk in enumerate(self.blocks):
            x = blk(x, mask, cache, layer, dropout)
        if self.lnf_w is not None and self.lnf_b is not None:
            x = _layer_norm(x, self.lnf_w, self.lnf_b, self.cfg.ln_eps)
        x = self.hook_resid_final(x)
        if cache is not None:
            cache.length = start + T
        return self.hook_logits(_linear(x, self.w_head, self.b_head))

    def member(self, i: int) -> Transformer:
        """Model ``i`` alone, as a ``n_models = 1`` transformer with copied parameters."""
        if not 0 <= i < self.n_models:
            raise InputError(f"member index must be in [0, {self.n_models}), got {i}")
        one = Transformer(self.cfg, (self.seeds[i],)).to(device=self.embed.device, dtype=self.embed.dtype)
        with torch.no_grad():
            for (name, p), (_, q) in zip(one.named_parameters(), self.named_parameters(), strict=True):
                p.copy_(q[i : i + 1])
                del name
        return one
