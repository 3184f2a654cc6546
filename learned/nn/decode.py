"""Greedy decoding of a stacked :class:`~learned.nn.model.Transformer` on the CPU, compiled with numba.

:func:`greedy_decode` computes what the torch loop of
:func:`learned.rule_extrapolation.protocol.greedy_complete` computes — ``max_new`` greedy
tokens after every prompt, for every stacked model, ties to the lowest id — one sequence
at a time with a small per-sequence key/value cache (``learned/nn/_decode.py``), instead of
one batched torch call per new token. It is a second implementation of the same function:
its logits agree with the model's to float rounding (tested against teacher-forced torch
logits), so a greedy token can differ only where two logits tie to within a few ulp. Its
speed comes from skipping torch's per-call overhead and, for models that mask PAD keys,
attending only over the non-PAD keys (a finished aⁿbⁿ completion is PAD after its EOS):
about 5× faster on the ``cpu`` preset's evaluation (``benchmarks/bench_decode.py``).

It needs the model's float32 parameters on the CPU and no active hook (a hook may read or
replace activations this kernel never materialises); :func:`supports` says whether a model
qualifies, and callers fall back to the torch loop otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numba
import numpy as np
import torch
from numpy.typing import NDArray

from exact.core.tokens import PAD
from exact.core.validate import InputError, InputTypeError, check_int
from learned.nn.model import Transformer

__all__ = ["greedy_decode", "supports"]

_POSITIONS = {"sinusoidal": 0, "batch-row": 1, "none": 2}  # learned.nn._decode's modes


def supports(model: Transformer) -> bool:
    """True when :func:`greedy_decode` can run ``model``: float32 on the CPU, no hook attached."""
    return (
        isinstance(model, Transformer)
        and model.embed.device.type == "cpu"
        and model.embed.dtype == torch.float32
        and not any(hp.active for hp in model.hook_dict.values())
    )


def _stacked(state: dict[str, NDArray[np.float32]], name: str, n_layers: int) -> NDArray[np.float32]:
    return np.ascontiguousarray(np.stack([state[f"blocks.{i}.{name}"] for i in range(n_layers)]))


def greedy_decode(
    model: Transformer, prompts: NDArray[np.int64], max_new: int, *, chunk: int = 1024, return_logits: bool = False
) -> NDArray[np.int64] | tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Greedy continuations ``(n_models, n_prompts, max_new)`` of equal-length ``prompts`` (int64, 2-D).

    Parameters
    ----------
    chunk : int
        Only for ``positions="batch-row"`` models, whose outputs depend on a sequence's row
        in its batch: row ``b`` gets position ``b mod min(chunk, model.max_len)``, as when the
        torch loop decodes the prompts in chunks of that many rows.
    return_logits : bool
        Also return each step's logits, float32 ``(n_models, n_prompts, max_new, vocab)``.
    """
    if not isinstance(model, Transformer):
        raise InputTypeError(f"model must be a Transformer, got {type(model).__name__}")
    if not supports(model):
        hooked = [name for name, hp in model.hook_dict.items() if hp.active]
        raise InputError(
            "greedy_decode needs a float32 model on the CPU without hooks, got "
            f"model.dtype={model.embed.dtype}, device={model.embed.device.type!r}, hooks on {hooked or 'none'}"
        )
    if not isinstance(prompts, np.ndarray) or prompts.dtype.kind not in "iu":
        raise InputTypeError(f"prompts must be an integer numpy array, got {type(prompts).__name__}")
    if prompts.ndim != 2 or prompts.shape[1] < 1:
        raise InputError(f"prompts must have shape (n_prompts, length ≥ 1), got {prompts.shape}")
    max_new, chunk = check_int(max_new, "max_new"), check_int(chunk, "chunk")
    cfg = model.cfg
    n, P = prompts.shape
    if P + max_new - 1 > cfg.max_len:
        raise InputError(f"positions up to {P + max_new - 1} exceed model.max_len={cfg.max_len}")
    if n and (int(prompts.min()) < 0 or int(prompts.max()) >= cfg.vocab_size):
        raise InputError(f"tokens must lie in [0, {cfg.vocab_size}), got {int(prompts.min())}..{int(prompts.max())}")
    S, L, d = model.n_models, cfg.n_layers, cfg.d_model
    row_chunk = min(chunk, cfg.max_len)
    out = np.zeros((S, n, max_new), dtype=np.int64)
    logits = np.zeros((S, n, max_new, cfg.vocab_size) if return_logits else (0, 0, 0, 0), dtype=np.float32)
    if n == 0:
        return (out, logits) if return_logits else out
    with torch.no_grad():
        st = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    pe = np.ascontiguousarray(model.pe_table.numpy())
    row_pe = np.ascontiguousarray(pe[np.arange(n) % row_chunk]) if cfg.positions == "batch-row" else pe[:1]
    lnf_w = st["lnf_w"] if cfg.norm_first else np.ones((S, d), np.float32)
    lnf_b = st["lnf_b"] if cfg.norm_first else np.zeros((S, d), np.float32)
    from learned.nn import _decode  # numba compiles (or loads) the kernel on first use

    kernel = cast(Callable[..., None], _decode.greedy)  # numba's Dispatcher stub fixes too few arguments
    # A numba parallel kernel can set the OpenMP runtime it shares with torch to numba's thread
    # count (exact.core.threads; where the two load the same runtime): run it with torch's, so
    # that torch's later threads are unchanged. Results do not depend on it (one thread per sequence).
    numba_threads = numba.get_num_threads()
    pool = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set at import; no stub
    numba.set_num_threads(max(1, min(torch.get_num_threads(), pool)))
    try:
        kernel(
            np.array(prompts, dtype=np.int64), max_new, np.ascontiguousarray(st["embed"]),  # writable: one signature
            np.float32(math.sqrt(d)), _POSITIONS[cfg.positions], pe, row_pe, cfg.norm_first, cfg.mask_pad_keys, PAD,
            float(cfg.ln_eps),
            *(_stacked(st, name, L) for name in ("attn.w_qkv", "attn.b_qkv", "attn.w_out", "attn.b_out")),
            *(_stacked(st, name, L) for name in ("ln1_w", "ln1_b", "ln2_w", "ln2_b")),
            *(_stacked(st, name, L) for name in ("mlp.w_in", "mlp.b_in", "mlp.w_out", "mlp.b_out")),
            cfg.norm_first, np.ascontiguousarray(lnf_w), np.ascontiguousarray(lnf_b),
            np.ascontiguousarray(st["w_head"]), np.ascontiguousarray(st["b_head"]), cfg.n_heads, out, logits,
        )  # fmt: skip
    finally:
        numba.set_num_threads(numba_threads)
    return (out, logits) if return_logits else out
