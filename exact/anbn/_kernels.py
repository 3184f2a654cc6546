"""Numba kernels of the exact aⁿbⁿ distribution (private).

The language ``SOS aⁿ bⁿ EOS PAD*`` is recognised by a small automaton whose
state is ``(phase, k, j)`` — ``k`` a's read, ``j`` b's read. Under a length law
with ``S(k) = P(N ≥ k)`` and ``P(k) = P(N = k)`` the transition log-probabilities
are (Reizinger et al. 2024, docs/paper.md §4.2, derived for any law):

* ``[] → SOS``: 1;
* ``SOS aᵏ → a``: ``S(k+1)/S(k)``; ``SOS aᵏ → b``: ``P(k)/S(k)`` (``k ≥ 1``);
* ``SOS aᵏ bʲ → b`` for ``1 ≤ j < k``: 1; ``SOS aᵏ bᵏ → EOS``: 1; ``… EOS → PAD``: 1;
* every other transition: 0.

Kernels take the tables ``log_pmf[0..K]`` and ``log_sf[0..K+1]`` (from
:meth:`exact.anbn.laws.LengthLaw.tables`), work in log space and write into
caller-allocated outputs. No ``fastmath``: ``-inf`` is a meaningful value here.
A live state always has ``log_sf[k] > -inf``, so no ``-inf − -inf`` (NaN) arises.
"""

import numpy as np
from numba import njit, prange

A, B, SOS, EOS, PAD = 0, 1, 2, 3, 4

# phases
EMPTY, A_BLOCK, B_BLOCK, COMPLETE, ENDED, DEAD = 0, 1, 2, 3, 4, 5


@njit(cache=True, inline="always")
def _step(phase, k, j, tok, log_pmf, log_sf):
    """One automaton step: returns ``(phase, k, j, log-probability of tok)``."""
    if phase == EMPTY:
        if tok == SOS:
            return A_BLOCK, 0, 0, 0.0
    elif phase == A_BLOCK:
        if tok == A:
            lp = log_sf[k + 1] - log_sf[k]
            if lp > -np.inf:
                return A_BLOCK, k + 1, 0, lp
        elif tok == B and k >= 1:
            lp = log_pmf[k] - log_sf[k]
            if lp > -np.inf:
                return (COMPLETE if k == 1 else B_BLOCK), k, 1, lp
    elif phase == B_BLOCK:
        if tok == B:
            return (COMPLETE if j + 1 == k else B_BLOCK), k, j + 1, 0.0
    elif phase == COMPLETE:
        if tok == EOS:
            return ENDED, k, j, 0.0
    elif phase == ENDED:
        if tok == PAD:
            return ENDED, k, j, 0.0
    return DEAD, k, j, -np.inf


@njit(cache=True)
def prefix_log_prob(tokens, lengths, log_pmf, log_sf, out_logp, out_next):
    """Log-probability of each prefix and its next-token log-distribution.

    Parameters
    ----------
    tokens : int64 (batch, width); lengths : int64 (batch,)
    log_pmf : float64 (K + 1,); log_sf : float64 (K + 2,), K ≥ max(lengths)
    out_logp : float64 (batch,) — ``log p(prefix)``, ``-inf`` if zero.
    out_next : float64 (batch, 5) — ``log p(y | prefix)``; all ``-inf`` where
        the prefix has probability zero (undefined conditional).
    """
    for i in range(tokens.shape[0]):
        phase, k, j, logp = EMPTY, 0, 0, 0.0
        for t in range(lengths[i]):
            phase, k, j, lp = _step(phase, k, j, tokens[i, t], log_pmf, log_sf)
            logp += lp
            if phase == DEAD:
                break
        out_logp[i] = logp if phase != DEAD else -np.inf
        for y in range(5):
            out_next[i, y] = -np.inf
        if phase == DEAD:
            continue
        for y in range(5):
            nphase, _, _, lp = _step(phase, k, j, y, log_pmf, log_sf)
            if nphase != DEAD:
                out_next[i, y] = lp


@njit(cache=True, inline="always")
def _popcount(x):
    """Number of set bits of a non-negative int64 < 2**62 (SWAR; no intermediate overflows)."""
    x = x - ((x >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    x = x + (x >> 8)
    x = x + (x >> 16)
    x = x + (x >> 32)
    return x & 0x7F


@njit(cache=True, parallel=True)
def enumerate_layer(length, log_pmf, log_sf, out_logprefix, out_logsentence, out_nb, out_r2):
    """All ``2**length`` a/b words ``w`` of one length, in lexicographic order (a < b).

    Word ``w`` has code ``c``: the token at position ``t`` is bit ``length − 1 − t``
    of ``c`` (0 = a, 1 = b), so codes ascend lexicographically.

    Writes ``log p(SOS w)`` (prefix; the automaton walk stops at the first
    zero-probability step), ``log p(SOS w EOS)`` (sentence), the number of b's
    (popcount), and rule R2 (no a after a b, i.e. ``w = aʲbᵐ``, i.e. ``c & (c+1) == 0``).
    """
    for c in prange(1 << length):
        phase, k, j, logp = A_BLOCK, 0, 0, 0.0
        for t in range(length):
            tok = (c >> (length - 1 - t)) & 1
            phase, k, j, lp = _step(phase, k, j, tok, log_pmf, log_sf)
            logp += lp
            if phase == DEAD:
                break
        out_nb[c] = _popcount(c)
        out_r2[c] = (c & (c + 1)) == 0
        if phase == DEAD:
            out_logprefix[c] = -np.inf
            out_logsentence[c] = -np.inf
        else:
            out_logprefix[c] = logp
            out_logsentence[c] = logp if phase == COMPLETE else -np.inf
