"""Slow, readable NumPy twin of the HMM forward kernel (an independent oracle for tests, claims and benchmarks)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["hmm_forward_dense"]


def hmm_forward_dense(
    tokens: NDArray[np.int64],
    lengths: NDArray[np.int64],
    start: NDArray[np.float64],
    transmat: NDArray[np.float64],
    emissions: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``log p(x | HMM)`` for every row: the plain batched NumPy twin of :mod:`exact.hmm._kernels`.

    Dense ``(batch, H) @ (H, H)`` products over all sequences at once, scaled
    per row (no Kronecker structure, no log-space fallback); rows past their
    length are frozen. ``-inf`` for impossible sequences.
    """
    n = tokens.shape[0]
    loglik = np.zeros(n)
    alpha = np.broadcast_to(start, (n, start.size)).copy()
    dead = np.zeros(n, dtype=bool)
    for t in range(int(lengths.max(initial=0))):
        live = lengths > t
        step = alpha @ transmat if t else alpha
        step = step * emissions[:, tokens[:, t]].T
        total = step.sum(axis=1)
        dead |= live & (total == 0)
        ok = live & (total > 0)
        alpha[ok] = step[ok] / total[ok, None]
        loglik[ok] += np.log(total[ok])
    return np.where(dead, -np.inf, loglik)
