"""Numba kernel of greedy decoding with a stacked :class:`~learned.nn.model.Transformer` (private).

One sequence of one model at a time (``prange`` over models × prompts; sequences are
independent, so the thread count never changes a result): the prompt's positions, then
``max_new − 1`` generated ones, through every block with a per-sequence key/value cache small
enough to stay in the core's cache. Keys whose token is PAD are masked by the model
(``mask_pad_keys``) and are simply never stored: their attention weight is exactly 0 in the
torch computation too, so the sums are the same. Everything is float32 like the model, except
the LayerNorm moments (float64); dot products are summed in index order without FMA, so the
logits agree with torch's to float rounding (a few ulp), not bit for bit. No ``fastmath``.

The caller (:func:`learned.nn.decode.greedy_decode`) validates every argument and lays the
parameters out per layer: ``w_qkv (L, S, d, 3d)`` (columns: q heads, k heads, v heads),
``w_o (L, S, d, d)``, ``w_in (L, S, d, f)``, ``w_out (L, S, f, d)``, biases and LayerNorm
affines ``(L, S, ·)``, ``embed (S, V, d)``, ``w_head (S, d, V)``.
"""

import math

import numpy as np
from numba import njit, prange

SINUSOIDAL, BATCH_ROW, NO_POSITIONS = 0, 1, 2


@njit(cache=True, inline="always")
def _layer_norm(x, w, b, eps, out):
    """``out = LN(x)·w + b`` (biased variance; moments in float64)."""
    d = x.shape[0]
    mean = 0.0
    for i in range(d):
        mean += x[i]
    mean /= d
    var = 0.0
    for i in range(d):
        var += (x[i] - mean) ** 2
    var /= d
    r = 1.0 / math.sqrt(var + eps)
    for i in range(d):
        out[i] = np.float32((x[i] - mean) * r) * w[i] + b[i]


@njit(cache=True, inline="always")
def _linear(x, w, b, out):
    """``out = x @ w + b``, rows of ``w`` accumulated in order (vectorised over the outputs)."""
    n = w.shape[1]
    for j in range(n):
        out[j] = 0
    for k in range(x.shape[0]):
        xk = x[k]
        for j in range(n):
            out[j] += xk * w[k, j]
    for j in range(n):
        out[j] += b[j]


@njit(cache=True, inline="always")
def _argmax(v):
    """First maximum; the first NaN if there is one (as ``torch.argmax``)."""
    best = 0
    for i in range(v.shape[0]):
        if np.isnan(v[i]):
            return i
        if v[i] > v[best]:
            best = i
    return best


@njit(cache=True, parallel=True)
def greedy(
    prompts, max_new, embed, scale, pos_mode, pe, row_pe, norm_first, mask_pad, pad, eps,
    w_qkv, b_qkv, w_o, b_o, ln1_w, ln1_b, ln2_w, ln2_b, w_in, b_in, w_out, b_out,
    has_lnf, lnf_w, lnf_b, w_head, b_head, n_heads, out, logits_out,
):  # fmt: skip
    """Write ``out[s, b, :]`` (int64), the greedy continuation of ``prompts[b]`` by model ``s``.

    ``logits_out`` is ``(S, B, max_new, V)`` to record each step's logits, or empty.
    """
    S, V, d = embed.shape
    L, f = w_qkv.shape[0], w_in.shape[3]
    B, P = prompts.shape
    H = n_heads
    D = d // H
    cap = P + max_new
    root = np.float32(math.sqrt(D))  # the model divides the scores by float32(√D)
    keep_logits = logits_out.shape[0] > 0
    for job in prange(S * B):
        s, b = job // B, job % B
        k_t = np.empty((L, H, D, cap), np.float32)  # keys transposed: scores vectorise over keys
        vals = np.empty((L, H, cap, D), np.float32)
        x = np.empty(d, np.float32)
        h = np.empty(d, np.float32)
        att = np.empty(d, np.float32)
        mlp = np.empty(d, np.float32)
        z = np.empty(d, np.float32)
        qkv = np.empty(3 * d, np.float32)
        ff = np.empty(f, np.float32)
        logits = np.empty(V, np.float32)
        w = np.empty(cap, np.float32)
        n_keys = 0
        tok = prompts[b, 0]
        for t in range(P + max_new - 1):
            if t < P:
                tok = prompts[b, t]
            stored = (not mask_pad) or t == 0 or tok != pad  # position 0 is never masked
            for i in range(d):
                x[i] = embed[s, tok, i] * scale
            if pos_mode == SINUSOIDAL:
                for i in range(d):
                    x[i] += pe[t, i]
            elif pos_mode == BATCH_ROW:
                for i in range(d):
                    x[i] += row_pe[b, i]
            n = n_keys + 1 if stored else n_keys
            for layer in range(L):
                if norm_first:
                    _layer_norm(x, ln1_w[layer, s], ln1_b[layer, s], eps, h)
                    _linear(h, w_qkv[layer, s], b_qkv[layer, s], qkv)
                else:
                    _linear(x, w_qkv[layer, s], b_qkv[layer, s], qkv)
                if stored:
                    for hh in range(H):
                        for j in range(D):
                            k_t[layer, hh, j, n_keys] = qkv[d + hh * D + j]
                            vals[layer, hh, n_keys, j] = qkv[2 * d + hh * D + j]
                for hh in range(H):
                    for k in range(n):
                        w[k] = 0
                    for j in range(D):
                        qj = qkv[hh * D + j]
                        for k in range(n):
                            w[k] += qj * k_t[layer, hh, j, k]
                    top = np.float32(-np.inf)
                    for k in range(n):
                        w[k] = w[k] / root
                        top = max(top, w[k])
                    total = np.float32(0)
                    for k in range(n):
                        w[k] = np.exp(w[k] - top)
                        total += w[k]
                    for j in range(D):
                        z[hh * D + j] = 0
                    for k in range(n):
                        p = w[k] / total
                        for j in range(D):
                            z[hh * D + j] += p * vals[layer, hh, k, j]
                _linear(z, w_o[layer, s], b_o[layer, s], att)
                if norm_first:
                    for i in range(d):
                        x[i] += att[i]
                    _layer_norm(x, ln2_w[layer, s], ln2_b[layer, s], eps, h)
                    _linear(h, w_in[layer, s], b_in[layer, s], ff)
                else:
                    for i in range(d):
                        att[i] += x[i]
                    _layer_norm(att, ln1_w[layer, s], ln1_b[layer, s], eps, x)
                    _linear(x, w_in[layer, s], b_in[layer, s], ff)
                for i in range(f):
                    ff[i] = max(ff[i], np.float32(0))
                _linear(ff, w_out[layer, s], b_out[layer, s], mlp)
                if norm_first:
                    for i in range(d):
                        x[i] += mlp[i]
                else:
                    for i in range(d):
                        mlp[i] += x[i]
                    _layer_norm(mlp, ln2_w[layer, s], ln2_b[layer, s], eps, x)
            n_keys = n
            if t >= P - 1:
                if has_lnf:
                    _layer_norm(x, lnf_w[s], lnf_b[s], eps, h)
                    _linear(h, w_head[s], b_head[s], logits)
                else:
                    _linear(x, w_head[s], b_head[s], logits)
                if keep_logits:
                    logits_out[s, b, t - P + 1] = logits
                tok = _argmax(logits)
                out[s, b, t - P + 1] = tok
