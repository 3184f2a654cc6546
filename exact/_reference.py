"""Slow, readable NumPy twins of the numba kernels (private; used by tests and benchmarks).

They use the closed forms rather than the automaton of :mod:`exact._anbn_kernels`:
a prefix ``SOS w`` has positive probability iff ``w = aᵏbʲ`` with ``j ≤ k`` and
then ``p = S(k)`` if ``j = 0`` else ``P(k)``; a sentence ``SOS w EOS`` has
``p = P(k)`` iff ``w = aᵏbᵏ``.
"""

import numpy as np
from numpy.typing import NDArray


def enumerate_layer_reference(
    length: int, log_pmf: NDArray[np.float64], log_sf: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.uint8], NDArray[np.bool_]]:
    """NumPy twin of :func:`exact._anbn_kernels.enumerate_layer` (same outputs)."""
    codes = np.arange(1 << length, dtype=np.int64)
    shifts = np.arange(length - 1, -1, -1, dtype=np.int64)
    words = ((codes[:, None] >> shifts[None, :]) & 1).astype(np.uint8)  # (2**length, length)
    nb = words.sum(axis=1, dtype=np.int64)
    na = length - nb
    b_before = np.cumsum(words, axis=1) - words  # b's strictly before each position
    r2 = ~np.any((words == 0) & (b_before > 0), axis=1)
    k = np.minimum(na, log_pmf.size - 1)
    logprefix = np.where(nb == 0, log_sf[na], log_pmf[k])
    logprefix = np.where(r2 & (nb <= na) & (na < log_pmf.size), logprefix, -np.inf)
    logsentence = np.where(r2 & (nb == na) & (na >= 1) & (na < log_pmf.size), log_pmf[k], -np.inf)
    return logprefix, logsentence, nb.astype(np.uint8), r2


def hmm_forward_dense(
    tokens: NDArray[np.int64],
    lengths: NDArray[np.int64],
    start: NDArray[np.float64],
    transmat: NDArray[np.float64],
    emissions: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``log p(x | HMM)`` for every row: the plain batched NumPy twin of :mod:`exact._hmm_kernels`.

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
