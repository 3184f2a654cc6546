"""Slow, readable twin of the grammar scan kernel (plain log space, NumPy), for tests.

Same recursion as :mod:`exact.grammar._kernels` — inside by CKY plus the unary closure, the
forward masses ``F`` and their left-corner closure ``H`` — but every sum is a ``logsumexp`` over
log probabilities instead of the kernel's factored scales, and loops are written for reading.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from exact.core.logspace import log_sum_exp
from exact.grammar.normal_form import NormalForm

__all__ = ["scan_reference"]


def _log(x: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore"):
        return np.log(x)


def scan_reference(
    nf: NormalForm, word: list[int]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``(pre, strp, nxt)`` of one word: ``pre[t] = log P(w_{<t} Σ*)``, ``strp[t] = log P(w_{<t})``,
    ``nxt[t, y] = log P(w_{<t} y Σ*)`` for ``t = 0..len(word)``."""
    n, N = len(word), nf.n_nonterminals
    lex, ustar, lcstar = _log(nf.lex), _log(nf.ustar), _log(nf.lcstar)
    rules = list(zip(nf.bin_a.tolist(), nf.bin_b.tolist(), nf.bin_c.tolist(), _log(nf.bin_p).tolist()))
    inside = np.full((max(n, 1), max(n, 1), N), -np.inf)
    f = np.full((n + 1, N), -np.inf)
    h = np.full((n + 1, N), -np.inf)
    pre = np.full(n + 1, -np.inf)
    strp = np.full(n + 1, -np.inf)
    nxt = np.full((n + 1, lex.shape[1]), -np.inf)
    f[0, 0] = nf.log_nonempty
    pre[0], strp[0] = 0.0, nf.log_empty
    for t in range(n + 1):
        h[t] = log_sum_exp(f[t][:, None] + lcstar, axis=0)
        nxt[t] = log_sum_exp(h[t][:, None] + lex, axis=0)
        if t == n:
            break
        y = word[t]
        pre[t + 1] = nxt[t, y]
        for i in range(t, -1, -1):
            if i == t:
                base = lex[:, y].copy()
            else:
                terms: list[list[float]] = [[] for _ in range(N)]
                for a, b, c, lp in rules:
                    for j in range(i, t):
                        terms[a].append(lp + inside[i, j, b] + inside[j + 1, t, c])
                base = np.array([log_sum_exp(np.array(x)) if x else -np.inf for x in terms])
            inside[i, t] = log_sum_exp(ustar + base[None, :], axis=1)
        strp[t + 1] = nf.log_nonempty + inside[0, t, 0]
        terms = [[] for _ in range(N)]
        for s in range(t + 1):
            for a, b, c, lp in rules:
                terms[c].append(h[s, a] + lp + inside[s, t, b])
        f[t + 1] = np.array([log_sum_exp(np.array(x)) if x else -np.inf for x in terms])
    return pre, strp, nxt
