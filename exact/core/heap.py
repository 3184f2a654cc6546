"""Heap settings that spare training loops a page fault per freed tensor (glibc only).

glibc's ``malloc`` serves a large request (≥ 128 KiB at first) with a fresh ``mmap`` and
returns it to the kernel on ``free``, and trims the heap top above 128 KiB of free space. A
training step allocates and frees the same few-MiB activations every step, so each step
re-faults those pages in: 636 minor page faults per step of the ``cpu`` preset's oracle arm,
0 once the memory is kept, 39.3 → 37.9 ms per step (``benchmarks/bench_train_step.py``; the
same parameters bit for bit — only where memory comes from changes).
:func:`keep_freed_memory` raises the mmap threshold to glibc's maximum (32 MiB on 64-bit) and
the trim threshold to 256 MiB with ``mallopt``, for the calling process, at run time. The
process then keeps up to 256 MiB of freed memory for reuse instead of returning it at once.
Elsewhere (macOS, musl, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory"]

#: glibc's largest mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``).
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 256 * 2**20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>


def keep_freed_memory() -> bool:
    """Set the thresholds (see the module) in this process; True where glibc accepted them."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
