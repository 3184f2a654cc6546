"""Argument validation shared by the public wrappers (private)."""

from __future__ import annotations

import numpy as np


def check_int(value: object, name: str, *, minimum: int = 1, maximum: int | None = None, why: str = "") -> int:
    """``value`` as an int in ``[minimum, maximum]``, or a ``ValueError`` naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    if maximum is not None and int(value) > maximum:
        raise ValueError(f"{name}={int(value)} is above the limit {maximum}{why}")
    return int(value)
