"""Slow, readable NumPy twin of the aⁿbⁿ enumeration kernel (an independent oracle for tests and benchmarks).

It uses the closed forms rather than the automaton of :mod:`exact.anbn._kernels`:
a prefix ``SOS w`` has positive probability iff ``w = aᵏbʲ`` with ``j ≤ k`` and
then ``p = S(k)`` if ``j = 0`` else ``P(k)``; a sentence ``SOS w EOS`` has
``p = P(k)`` iff ``w = aᵏbᵏ``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["enumerate_layer_reference"]


def enumerate_layer_reference(
    length: int, log_pmf: NDArray[np.float64], log_sf: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.uint8], NDArray[np.bool_]]:
    """NumPy twin of :func:`exact.anbn._kernels.enumerate_layer` (same outputs)."""
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
