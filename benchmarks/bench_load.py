"""Wall time of the claim ``E1-rule-extrapolation`` alone and beside a CPU-bound competitor.

Each measurement is a fresh interpreter. The settings (``--settings``, comma-separated):

* ``passive`` — ``nonident check --only CLAIM``: :func:`exact.core.threads.configure_threads`
  sets ``OMP_WAIT_POLICY=PASSIVE`` and caps the thread counts (the new default);
* ``single`` — the same command with ``OMP_NUM_THREADS=1`` set by the user (one thread everywhere);
* ``active`` — the same command with ``OMP_WAIT_POLICY=ACTIVE`` set by the user (kept; workers spin);
* ``default`` — the claim run by the library (:func:`proofs_check.catalog.run_claims`) without
  :func:`~exact.core.threads.configure_threads`: the OpenMP defaults, i.e. the behaviour before it.

The thread variables that :mod:`exact.core.threads` manages are removed from the inherited
environment first, so the settings differ only as described. The competitor is
``--competitors`` busy-looping interpreters (``while True: pass``), started before the claim
and killed when it ends (``try``/``finally``); each also stops by itself after ``--cap`` + 30 s,
and every measured run is killed after ``--cap`` seconds (reported as ``>cap``). Target: the
``passive`` slowdown (loaded / alone) at most 2.5× on 2 cores. The load average is printed
before and after each run (a loaded run itself adds about 2 to it; more is other work on the
machine, which inflates the times), with the claim process's CPU seconds (user + system).

Command: ``.venv/bin/python benchmarks/bench_load.py [--settings passive,default] [--cap 600]``
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exact.core.threads import THREAD_COUNT_VARIABLES, available_cores

ROOT = Path(__file__).resolve().parent.parent
NONIDENT = Path(sys.executable).parent / "nonident"
TARGET = 2.5
MANAGED = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "GOMP_SPINCOUNT", *THREAD_COUNT_VARIABLES)
# the claim through the library, without exact.console.main (so without configure_threads)
LIBRARY_RUN = (
    "import sys; from proofs_check.catalog import run_claims; "
    "recs = run_claims([sys.argv[1]], artifacts=sys.argv[2]); "
    "sys.exit(0 if all(r.status == 'pass' for r in recs) else 1)"
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def command(setting: str, claim: str, artifacts: str, out: str) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in MANAGED}
    if setting == "default":
        return [sys.executable, "-c", LIBRARY_RUN, claim, artifacts], env
    if setting == "active":
        env["OMP_WAIT_POLICY"] = "ACTIVE"
    elif setting == "single":
        env["OMP_NUM_THREADS"] = "1"
    elif setting != "passive":
        raise SystemExit(f"unknown setting {setting!r}: passive, single, active or default")
    return [str(NONIDENT), "check", "--only", claim, "--out", out, "--artifacts", artifacts], env


def kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill ``proc``'s process group (it was started in a new session) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def measure(cmd: list[str], env: dict[str, str], competitors: int, cap: float) -> tuple[float, float, str]:
    """Wall and CPU seconds of ``cmd`` beside ``competitors`` busy loops, and ``"ok"``, ``"FAILED"`` or ``"timeout"``."""
    spin = f"import time\nend = time.monotonic() + {cap + 30}\nwhile time.monotonic() < end: pass"
    rivals: list[subprocess.Popen[bytes]] = []
    proc = None
    try:
        for _ in range(competitors):
            rivals.append(subprocess.Popen([sys.executable, "-c", spin], start_new_session=True))
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            _, err = proc.communicate(timeout=cap)
        except subprocess.TimeoutExpired:
            return time.perf_counter() - t0, math.nan, "timeout"
        seconds = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the competitors are not reaped yet: not counted
        cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
        if proc.returncode != 0:
            sys.stderr.write(err.decode(errors="replace")[-2000:])
        return seconds, cpu, "ok" if proc.returncode == 0 else "FAILED"
    finally:
        for p in [proc, *rivals]:
            if p is not None:
                kill(p)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claim", default="E1-rule-extrapolation")
    ap.add_argument("--artifacts", default=str(ROOT / "reports"))
    ap.add_argument("--settings", default="passive,default", help="comma-separated: passive, single, active, default")
    ap.add_argument("--competitors", type=int, default=1, help="busy-looping processes beside the loaded run")
    ap.add_argument("--cap", type=float, default=600.0, help="seconds after which a run is killed")
    args = ap.parse_args()
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    print(f"machine: {cpu_model()}; {os.cpu_count()} logical cores, {available_cores()} available to this process")
    print(f"python {platform.python_version()}, {platform.system()} {platform.release()}; load average {load()}")
    print(f"claim {args.claim}; {args.competitors} competitor(s) `while True: pass`; cap {args.cap:.0f} s per run")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_load-") as tmp:
        for setting in settings:
            cmd, env = command(setting, args.claim, args.artifacts, tmp)
            times = {}
            for label, n in (("alone", 0), ("loaded", args.competitors)):
                before = load()
                seconds, cpu, status = measure(cmd, env, n, args.cap)
                shown = f">{args.cap:.0f}" if status == "timeout" else f"{seconds:.1f}"
                print(
                    f"  {setting:<8} {label:<7} {shown:>7} s  cpu {cpu:6.1f} s  {status:<7} "
                    f"(load average before {before}, after {load()})",
                    flush=True,
                )
                times[label] = (seconds, status)
            rows.append((setting, times))
    print(f"\n{'setting':<9} {'alone s':>8} {'loaded s':>9} {'slowdown':>9}")
    for setting, t in rows:
        (a, sa), (b, sb) = t["alone"], t["loaded"]
        ratio = f"{'>' if sb == 'timeout' else ''}{b / a:.2f}×" if sa == "ok" else "n/a"
        a_s, b_s = (f"{'>' if st == 'timeout' else ''}{x:.1f}" for x, st in ((a, sa), (b, sb)))
        print(f"{setting:<9} {a_s:>8} {b_s:>9} {ratio:>9}")
        if setting == "passive":
            verdict = "within" if sa == sb == "ok" and b / a <= TARGET else "OVER (or incomplete)"
            print(f"passive slowdown {ratio} — {verdict} the {TARGET}× target")


if __name__ == "__main__":
    main()
