"""Start-up cost of the command line against ``import exact`` on the same machine.

Each command runs in a fresh interpreter (warm numba cache: one untimed run first),
best and median of ``--repeats`` runs. Target: ``nonident --help`` and
``nonident anbn --prompt-length 8 --json`` within 0.4 s of ``python -c "import exact"``;
``nonident check --list`` and ``nonident train --help`` are shown for comparison.

Command: ``.venv/bin/python benchmarks/bench_cli_startup.py [--repeats 7]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
CASES = {
    'python -c "import exact"': [sys.executable, "-c", "import exact"],
    "nonident --help": [str(BIN / "nonident"), "--help"],
    "nonident anbn --prompt-length 8 --json": [str(BIN / "nonident"), "anbn", "--prompt-length", "8", "--json"],
    "nonident train --help": [str(BIN / "nonident"), "train", "--help"],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
}
TARGET = 0.4


def seconds(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    times: dict[str, list[float]] = {}
    for name, cmd in CASES.items():
        seconds(cmd)  # warm the numba cache and the OS file cache
        times[name] = [seconds(cmd) for _ in range(args.repeats)]
    base = min(times['python -c "import exact"'])
    print(f"{'command':<42} {'best s':>7} {'median s':>9} {'best − import exact':>20}")
    for name, ts in times.items():
        print(f"{name:<42} {min(ts):>7.3f} {statistics.median(ts):>9.3f} {min(ts) - base:>+20.3f}")
    for name in ("nonident --help", "nonident anbn --prompt-length 8 --json"):
        gap = min(times[name]) - base
        print(f"{name}: {gap:+.3f} s over import exact — {'within' if gap <= TARGET else 'OVER'} the {TARGET} s target")


if __name__ == "__main__":
    main()
