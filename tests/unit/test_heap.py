"""exact.core.heap: freed memory kept for reuse, so repeated large allocations stop page-faulting."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from exact.core import heap

# 8 arrays of 3 MiB written and freed, 20 times; prints the minor page faults per round.
PROBE = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
    from exact.core.heap import keep_freed_memory
    assert keep_freed_memory()
def rounds(n):
    for _ in range(n):
        xs = [np.ones(3 * 2**18, np.float32) for _ in range(8)]
        del xs
rounds(2)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds exist only in glibc")
def test_kept_memory_is_reused_without_page_faults():
    faults = {
        mode: float(
            subprocess.run([sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True).stdout
        )
        for mode in ("default", "keep")
    }
    assert faults["default"] > 1000  # the control: by default glibc returns the 24 MiB and faults it in again
    assert faults["keep"] < 50


def test_other_platforms_are_left_alone(monkeypatch):
    monkeypatch.setattr(heap.platform, "system", lambda: "Darwin")
    assert heap.keep_freed_memory() is False
