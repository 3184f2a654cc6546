"""Log-space sums shared by the exact engines: ``log Σ exp`` in NumPy and as a numba scalar kernel.

Both return ``-inf`` (never NaN, never a warning) where every term is ``-inf``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["log_sum_exp", "lse2"]


def log_sum_exp(a: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    """``log Σ exp(a)`` along ``axis``; ``-inf`` (not NaN, no warning) where every term is."""
    top = np.max(a, axis=axis, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        out = np.log(np.sum(np.exp(a - safe), axis=axis)) + np.squeeze(safe, axis=axis)
    return np.where(np.squeeze(top, axis=axis) == -np.inf, -np.inf, out)


@njit(cache=True)
def lse2(a, b):  # pragma: no cover - jitted
    """``log(exp(a) + exp(b))`` without overflow; ``-inf`` when both are."""
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))
