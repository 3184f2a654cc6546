"""Argument validation shared by every public wrapper: the one place user input is checked.

Errors name the parameter and show the value. Two exception classes mark *user*
errors so that the command line can tell them from bugs:

* :class:`InputError` (a ``ValueError``): a value of the right type that is not allowed;
* :class:`InputTypeError` (a ``TypeError``): a value of the wrong type.

``nonident`` prints either as one line and exits 2; any other exception is a bug
and shows its traceback (exit 1).
"""

from __future__ import annotations

import math
import re

import numpy as np
from numpy.typing import NDArray

#: Tolerance on the row sums of a stochastic matrix or a predictor's output rows.
ROW_SUM_TOL = 1e-9

__all__ = [
    "ROW_SUM_TOL",
    "InputError",
    "InputTypeError",
    "check_float",
    "check_int",
    "check_number_text",
    "check_stochastic",
    "is_integer",
    "is_number",
    "require",
    "require_type",
]


class InputError(ValueError):
    """A bad input value (a ``ValueError`` that names the parameter and the value)."""


class InputTypeError(TypeError):
    """An input of the wrong type (a ``TypeError`` that names the parameter and the type)."""


def is_integer(x: object) -> bool:
    """``x`` is an integer (``bool`` excluded)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def is_number(x: object) -> bool:
    """``x`` is a real number (``bool`` excluded)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def require(ok: bool, name: str, value: object, what: str) -> None:
    """Raise :class:`InputError` (``"{name} must be {what}, got {value!r}"``) unless ``ok``."""
    if not ok:
        raise InputError(f"{name} must be {what}, got {value!r}")


def require_type(ok: bool, name: str, value: object, what: str) -> None:
    """Raise :class:`InputTypeError` (``"{name} must be {what}, got TYPE VALUE"``) unless ``ok``."""
    if not ok:
        raise InputTypeError(f"{name} must be {what}, got {type(value).__name__} {value!r}")


def check_int(value: object, name: str, *, minimum: int = 1, maximum: int | None = None, why: str = "") -> int:
    """``value`` as an int in ``[minimum, maximum]``.

    Raises :class:`InputTypeError` if ``value`` is not an integer (``bool`` and
    ``float`` included) and :class:`InputError` if it is out of range; both name
    ``name`` and the value.
    """
    require_type(is_integer(value), name, value, "an integer")
    assert isinstance(value, (int, np.integer))  # for the type checker: is_integer said so
    if int(value) < minimum:
        raise InputError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    if maximum is not None and int(value) > maximum:
        raise InputError(f"{name}={int(value)} is above the limit {maximum}{why}")
    return int(value)


def check_float(value: object, name: str, lo: float, hi: float, *, lo_open: bool, hi_open: bool) -> float:
    """``value`` as a finite float in the interval, or an error naming ``name`` and the value."""
    require_type(is_number(value), name, value, "a number")
    v = float(value)  # type: ignore[arg-type]  # is_number said so
    lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
    inside = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    require(math.isfinite(v) and inside, name, value, f"a number in {lb}{lo}, {hi}{rb}")
    return v


def check_stochastic(
    value: object, name: str, *, ndim: int, tol: float = ROW_SUM_TOL, square: bool = False
) -> NDArray[np.float64]:
    """``value`` as a read-only float64 array whose last axis holds distributions.

    Raises :class:`InputError` naming ``name``, the offending row (index tuple) and
    its value when the shape, finiteness, sign or row sums are wrong.
    """
    if not (isinstance(tol, (int, float)) and 0.0 <= tol < 1.0):
        raise InputError(f"tol must be a number in [0, 1), got {tol!r}")
    try:
        arr = np.array(value, dtype=np.float64, copy=True)
    except TypeError as exc:
        raise InputTypeError(f"{name} must be a numeric array, got {type(value).__name__}: {exc}") from None
    except ValueError as exc:  # ragged nesting or non-numeric strings
        raise InputError(f"{name} must be a numeric array, got {type(value).__name__}: {exc}") from None
    if arr.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.shape[-1] == 0 or (arr.ndim and 0 in arr.shape):
        raise InputError(f"{name} must not be empty, got shape {arr.shape}")
    if square and arr.shape[-1] != arr.shape[-2]:
        raise InputError(f"{name} must be square in its last two axes, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{name}{list(idx)} = {float(arr[idx])!r}; entries must be finite and non-negative")
    sums = arr.sum(axis=-1)
    off = np.abs(sums - 1.0) > tol
    if off.any():
        idx = tuple(int(i) for i in np.argwhere(off)[0]) if sums.ndim else ()
        where = f" row {idx[0] if len(idx) == 1 else list(idx)}" if idx else ""
        raise InputError(f"{name}{where} sums to {float(sums[idx])!r}, not 1 (tolerance {tol:g})")
    arr.setflags(write=False)
    return arr


#: A number given as text may have at most this many characters and a decimal exponent of at most
#: this size: ``Fraction("1e-100000000")`` would build a 10⁸-digit integer (minutes, not an error), and
#: a rational of more than 4300 digits cannot even be printed (Python's int-to-str limit).
MAX_NUMBER_TEXT = 5000
MAX_DECIMAL_EXPONENT = 1000
_EXPONENT = re.compile(r"[eE]\s*([+-]?[0-9_]+)")


def check_number_text(text: str, name: str) -> None:
    """Refuse a number's text that :class:`~fractions.Fraction` would take minutes to read."""
    if len(text) > MAX_NUMBER_TEXT:
        raise InputError(f"{name} must be a number of at most {MAX_NUMBER_TEXT} characters, got {len(text)}")
    m = _EXPONENT.search(text)
    digits = m.group(1).lstrip("+-").replace("_", "").lstrip("0") if m else ""
    if len(digits) > 4 or (digits and int(digits) > MAX_DECIMAL_EXPONENT):
        raise InputError(f"{name}={text!r} has a decimal exponent beyond ±{MAX_DECIMAL_EXPONENT}")
