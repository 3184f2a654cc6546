"""Documented, overridable limits on memory and run time, checked before the work starts.

Every public function that could allocate a large array or run for a long time
estimates its cost first and compares it with two limits:

* ``max_bytes`` — the largest working set one call may allocate (default 4 GiB);
  environment variable ``NONIDENT_MAX_BYTES``;
* ``max_work`` — the largest number of elementary operations (one multiply-add of
  a forward step, one visited string, …) one call may run (default 10¹⁰, about
  10–60 s on one laptop core); environment variable ``NONIDENT_MAX_WORK``.

A call above a limit raises :class:`LimitError` (an
:class:`~exact.core.validate.InputError`, so the command line prints it as one line
and exits 2) naming the parameters that drive the cost, the estimate and the limit,
and how to raise it. The limits are read from the environment at every check, so
``NONIDENT_MAX_WORK=1e12 nonident icl …`` runs a long computation on purpose
(docs/robustness.md lists every estimate).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from exact.core.validate import InputError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_WORK",
    "PYTHON_STEP_OPS",
    "LimitError",
    "check_bytes",
    "check_work",
    "max_bytes",
    "max_work",
]

DEFAULT_MAX_BYTES = 4 * 2**30
DEFAULT_MAX_WORK = 10**10
#: Operations one step of a Python-level loop (one sampled position, one networkx edge) counts as.
PYTHON_STEP_OPS = 10**4


class LimitError(InputError):
    """An input whose estimated memory or run time is above the documented limit."""


def _read(var: str, default: float) -> float:
    raw = os.environ.get(var)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"environment variable {var} must be a positive number, got {raw!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise InputError(f"environment variable {var} must be a positive number, got {raw!r}")
    return value


def max_bytes() -> float:
    """The memory limit in bytes (``NONIDENT_MAX_BYTES``, default 4 GiB)."""
    return _read("NONIDENT_MAX_BYTES", DEFAULT_MAX_BYTES)


def max_work() -> float:
    """The run-time limit in elementary operations (``NONIDENT_MAX_WORK``, default 1e10)."""
    return _read("NONIDENT_MAX_WORK", DEFAULT_MAX_WORK)


def _params(params: Mapping[str, object]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def _size(n_bytes: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes:.3g} bytes"


def check_bytes(n_bytes: float, what: str, params: Mapping[str, object]) -> None:
    """Raise :class:`LimitError` if ``what`` would allocate more than :func:`max_bytes`.

    ``params`` are the inputs that drive the size (named in the message).
    """
    limit = max_bytes()
    if n_bytes > limit:
        raise LimitError(
            f"{_params(params)}: {what} needs about {_size(n_bytes)}, above the memory limit {_size(limit)} "
            "(lower these values, or raise NONIDENT_MAX_BYTES)"
        )


def check_work(n_ops: float, what: str, params: Mapping[str, object]) -> None:
    """Raise :class:`LimitError` if ``what`` would take more than :func:`max_work` operations."""
    limit = max_work()
    if n_ops > limit:
        raise LimitError(
            f"{_params(params)}: {what} takes about {n_ops:.2g} operations, above the run-time limit {limit:.2g} "
            "(lower these values, or raise NONIDENT_MAX_WORK)"
        )
