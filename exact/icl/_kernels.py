"""Numba kernel: the swap identity of ``KL(p‖q_n)`` summed over every n-shot prompt string (private).

For every string ``s`` of the template (the delimiter at its positions, any
token elsewhere) with ``p(s) > 0`` the kernel computes ``p(s)`` and the Bayes
predictive ``p(· | s)`` of an HMM mixture, takes the two most likely tokens
``p1 ≥ p2`` and accumulates the identity's term ``p(s)·(p1 − p2)·ln(p1/p2)``
(docs/paper.md §4.4.2). The strings are visited depth first, so a prefix's forward
vector is computed once for all its continuations; subtrees of probability
zero are pruned. The forward vectors are kept in log space (a max-shifted
step, or a full logsumexp where weights would underflow; no ``fastmath``),
and so are both sums (``log KL`` and ``log P(S_n)`` are
accumulated as running logsumexps), so values far below the float64 range
come out right.

The tree is split at its first ``split`` positions into independent subtrees
run in parallel, a chunk of subtrees per call; their statistics are merged by the wrapper.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from exact.core.logspace import lse2 as _lse2

#: Layout of one row of statistics returned per subtree.
STAT_LOG_KL, STAT_LOG_MASS, STAT_LEAVES, STAT_FLIPS, STAT_TIES, STAT_ZERO_RUNNER_UP, STAT_C_MIN, STAT_MAX_COST = range(
    8
)
N_STATS = 8


@njit(cache=True)
def _step(prev, first, logstart, logt, t, logb, o, w, out):  # pragma: no cover - jitted
    """``out[c] = log((exp(prev[c]) T_c) ⊙ B_c[:, o])`` (or the start when ``first``); returns ``max(out)``.

    Max-shifted: ``w = exp(prev − max prev)`` and a linear product with ``T``,
    unless some finite entry of ``prev`` lies more than 700 nats below the
    maximum (its weight would underflow: the whole concept's step is a full
    logsumexp) or a column's linear sum is below 1e-280 (its products may have
    underflowed: that column is a full logsumexp).
    """
    k, h = out.shape
    top = -np.inf
    for c in range(k):
        if first:
            for j in range(h):
                out[c, j] = logstart[c, j] + logb[c, j, o]
                top = max(top, out[c, j])
            continue
        mx = -np.inf
        for i in range(h):
            mx = max(mx, prev[c, i])
        if mx == -np.inf:
            for j in range(h):
                out[c, j] = -np.inf
            continue
        spread = False
        for i in range(h):
            d = prev[c, i] - mx
            if d != -np.inf and d < -700.0:
                spread = True
            w[i] = math.exp(d)
        for j in range(h):
            lin = 0.0
            if not spread:
                for i in range(h):
                    lin += w[i] * t[c, i, j]
            if spread or lin < 1e-280:
                # products may have left the normal range (or all be zero): exact logsumexp
                acc = -np.inf
                for i in range(h):
                    acc = _lse2(acc, prev[c, i] + logt[c, i, j])
            else:
                acc = mx + math.log(lin)
            val = acc + logb[c, j, o]
            out[c, j] = val
            top = max(top, val)
    return top


@njit(cache=True)
def _leaf(alpha, logprior, t, b, tie_rtol, stats, pred, post, u):  # pragma: no cover - jitted
    """Add the identity term of one prompt string (forward vectors ``alpha``) to ``stats``."""
    k, h = alpha.shape
    m = b.shape[2]
    logp = -np.inf
    for c in range(k):
        lc = -np.inf
        for j in range(h):
            lc = _lse2(lc, alpha[c, j])
        post[c] = logprior[c] + lc
        logp = _lse2(logp, post[c])
    if logp == -np.inf:
        return
    pred[:] = 0.0
    for c in range(k):
        wc = math.exp(post[c] - logp)
        if wc == 0.0:
            continue
        top = -np.inf
        for j in range(h):
            top = max(top, alpha[c, j])
        norm = 0.0
        u[:] = 0.0
        for i in range(h):
            wi = math.exp(alpha[c, i] - top)
            norm += wi
            if wi != 0.0:
                for j in range(h):
                    u[j] += wi * t[c, i, j]
        for j in range(h):
            if u[j] != 0.0:
                f = wc * u[j] / norm
                for y in range(m):
                    pred[y] += f * b[c, j, y]
    total = 0.0
    for y in range(m):
        total += pred[y]
    best = 0
    for y in range(1, m):
        if pred[y] > pred[best]:
            best = y
    p1 = pred[best] / total
    p2 = -1.0
    tied = False
    for y in range(m):
        if y == best:
            continue
        py = pred[y] / total
        if py >= p1 * (1.0 - tie_rtol):
            tied = True
        if py > p2:
            p2 = py
    stats[STAT_LEAVES] += 1.0
    stats[STAT_LOG_MASS] = _lse2(stats[STAT_LOG_MASS], logp)
    if tied:
        stats[STAT_TIES] += 1.0  # q_n = p here (swapping equals changes nothing): term 0, no flip
        return
    if p2 == 0.0:
        stats[STAT_ZERO_RUNNER_UP] += 1.0  # KL(p‖q_n) = +inf
        return
    cost = (p1 - p2) * math.log(p1 / p2)
    stats[STAT_FLIPS] += 1.0
    stats[STAT_C_MIN] = min(stats[STAT_C_MIN], p2)
    stats[STAT_MAX_COST] = max(stats[STAT_MAX_COST], cost)
    stats[STAT_LOG_KL] = _lse2(stats[STAT_LOG_KL], logp + math.log(cost))


@njit(cache=True, parallel=True)
def swap_identity(
    length,
    is_delim,
    delimiter,
    split,
    n_prefix_free,
    sub_lo,
    logprior,
    logstart,
    logt,
    logb,
    t,
    b,
    tie_rtol,
    stats,
):  # pragma: no cover - jitted
    """Depth-first sum of the swap identity over all template strings.

    Parameters
    ----------
    length : int
        ``L_n``, the length of the prompt strings.
    is_delim : bool, shape (length,)
        Positions that hold the delimiter.
    delimiter : int
    split : int
        The first ``split`` positions fix a subtree: their ``n_prefix_free`` free positions
        are the digits (base ``M``) of the subtree's index, their delimiter positions the delimiter.
    n_prefix_free : int
    sub_lo : int
        Index of the subtree of ``stats[0]``: one call runs subtrees ``sub_lo … sub_lo + len(stats) − 1``
        (the wrapper calls it chunk by chunk, so Ctrl-C is honoured between chunks).
    logprior : float64, shape (K,)
    logstart : float64, shape (K, H)
    logt, t : float64, shape (K, H, H)
        Log and linear transitions.
    logb, b : float64, shape (K, H, M)
        Log and linear emissions.
    tie_rtol : float
        A runner-up within this relative distance of the top is a tie.
    stats : float64, shape (n_subtrees_in_chunk, N_STATS)  (out)
        One row of statistics per subtree (layout ``STAT_*``).
    """
    k, h = logstart.shape
    m = b.shape[2]
    n_sub = stats.shape[0]
    for r in prange(n_sub):
        sub = sub_lo + r
        row = stats[r]
        row[:] = 0.0
        row[STAT_LOG_KL] = -np.inf
        row[STAT_LOG_MASS] = -np.inf
        row[STAT_C_MIN] = np.inf
        alpha = np.empty((length + 1, k, h))
        tok = np.full(length + 1, -1, dtype=np.int64)
        pred = np.empty(m)
        post = np.empty(k)
        u = np.empty(h)
        w = np.empty(h)
        # the subtree's fixed prefix: the digits of `sub` in base m at its free positions
        alive = True
        digit = n_prefix_free
        for d in range(split):
            if is_delim[d]:
                tok[d] = delimiter
            else:
                digit -= 1
                tok[d] = (sub // m**digit) % m
        for d in range(split):
            top = _step(alpha[d], d == 0, logstart, logt, t, logb, tok[d], w, alpha[d + 1])
            if top == -np.inf:
                alive = False
                break
        if not alive:
            continue
        if split == length:
            _leaf(alpha[length], logprior, t, b, tie_rtol, row, pred, post, u)
            continue
        d = split
        while d >= split:
            if d == length:
                _leaf(alpha[length], logprior, t, b, tie_rtol, row, pred, post, u)
                d -= 1
                continue
            if is_delim[d]:
                if tok[d] == -1:
                    tok[d] = delimiter
                else:
                    tok[d] = -1
                    d -= 1
                    continue
            else:
                tok[d] += 1
                if tok[d] >= m:
                    tok[d] = -1
                    d -= 1
                    continue
            top = _step(alpha[d], d == 0, logstart, logt, t, logb, tok[d], w, alpha[d + 1])
            if top == -np.inf:
                continue  # p(prefix) = 0: prune the subtree
            d += 1
