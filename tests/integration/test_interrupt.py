"""Ctrl-C stops a long numba kernel within a second and a training run with what it keeps said (docs/robustness.md).

Each test starts the real command in a subprocess, waits until it is deep in its work and
sends SIGINT. The kernel test raises ``NONIDENT_MAX_WORK`` so that the exact swap sum over
10¹¹ strings (hours) is allowed to start: before the sum ran in chunks, SIGINT was ignored
until the kernel returned.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def _interrupt(cmd: list[str], *, after: float, cwd, env=None) -> tuple[int, str, float]:
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env or os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(after)
        assert proc.poll() is None, f"finished before the interrupt: {proc.communicate()}"
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        return proc.returncode, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_stops_the_exact_swap_sum_within_a_second(tmp_path):
    env = os.environ | {"NONIDENT_MAX_WORK": "1e16"}
    cmd = [sys.executable, "-m", "exact", "icl", "--max-shots", "9", "--max-strings", "100000000000"]
    code, err, waited = _interrupt(cmd + ["--prompts", "10"], after=12, cwd=tmp_path, env=env)
    assert code == 130 and err == "nonident icl: interrupted\n"
    assert waited < 1.5, f"took {waited:.2f} s to stop"


def test_ctrl_c_during_training_says_whether_the_run_can_be_resumed(tmp_path):
    cmd = [sys.executable, "-m", "exact", "train", "anbn", "--preset", "tiny", "--no-progress", "--out", "run"]
    over = ["--set", "train.checkpoint_every=20", "--set", "train.steps=100000"]
    code, err, waited = _interrupt(cmd + over, after=10, cwd=tmp_path)
    assert code == 130 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    if "can be resumed" in err:
        assert (tmp_path / "run" / "checkpoint.pt").exists()
    else:
        assert "nothing was kept" in err and not (tmp_path / "run").exists()
    assert waited < 5
