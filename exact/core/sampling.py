"""Categorical draws by inverse CDF (private; shared by every sampler)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def draw_rows(rows: NDArray[np.float64], rng: np.random.Generator) -> NDArray[np.int64]:
    """One draw per row of non-negative weights (never an entry of weight zero)."""
    cdf = np.cumsum(rows, axis=1)
    u = rng.random(rows.shape[0]) * cdf[:, -1]
    # cdf[j-1] ≤ u < cdf[j] implies rows[j] > 0; u can round up to cdf[-1]: take the last positive entry
    last_positive = rows.shape[1] - 1 - np.argmax(rows[:, ::-1] > 0, axis=1)
    return np.minimum((cdf <= u[:, None]).sum(axis=1), last_positive).astype(np.int64)
