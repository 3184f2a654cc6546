"""Reusable assertions of the invariants every distribution and KL must satisfy."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from exact import NextTokenProbs


def assert_is_distribution(rows: NDArray[np.float64], *, tol: float = 1e-12) -> None:
    """Every row is finite, non-negative and sums to one."""
    assert np.all(np.isfinite(rows)), "non-finite probability"
    assert np.all(rows >= 0), "negative probability"
    np.testing.assert_allclose(rows.sum(axis=1), 1.0, rtol=0, atol=tol)


def assert_defined_rows_are_distributions(out: NextTokenProbs) -> None:
    assert_is_distribution(out.probs[out.defined])
    assert np.all(out.probs[~out.defined] == 0), "undefined rows must be all zero"


def assert_kl_nonneg(value: float) -> None:
    assert not np.isnan(value), "KL is NaN"
    assert value >= 0.0, f"KL is negative: {value}"
