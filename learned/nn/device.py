"""The torch device a command runs on (``--device auto|cpu|cuda[:i]``), and torch's CPU thread cap.

:func:`resolve_device` also calls :func:`cap_torch_threads`: torch's intra-op pool never has
more threads than the cores the process may use (:func:`exact.core.threads.available_cores`),
whichever way torch was started (``nonident`` sets ``OMP_NUM_THREADS`` before torch loads, see
:mod:`exact.core.threads`; a library caller may not have). A lower count set by the user is kept.
numba's parallel kernels share torch's OpenMP runtime and reset its thread count to
``NUMBA_NUM_THREADS`` when they run, which ``nonident`` also defaults to the available cores.
"""

from __future__ import annotations

import torch

from exact.core.threads import available_cores
from exact.core.validate import InputError

__all__ = ["cap_torch_threads", "resolve_device"]


def cap_torch_threads() -> int:
    """Lower torch's intra-op thread count to the available cores (never raise it); returns the count.

    The inter-op pool is left alone: it is only used by ``torch.jit.fork``-style parallelism
    (not by these models), and its size can only be set before its first use.
    """
    n = min(torch.get_num_threads(), available_cores())
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA if available, else CPU; otherwise the named device (caps torch's CPU threads)."""
    cap_torch_threads()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise InputError(f"device must be 'auto', 'cpu' or 'cuda[:i]', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)
