"""Benchmark: the same 4-job sweep one job after another, in a local pool of 2, and on Ray with 2 workers.

Run: ``.venv/bin/python benchmarks/bench_sweep.py [--preset tiny] [--steps N] [--repeats 1]``

The sweep is aⁿbⁿ's ``ml``, ``adversarial``, ``oracle`` and ``oracle-corrected`` arms of the
``--preset`` (seeds 0–2), each job a seed-batched training plus its exact evaluation, in a fresh
run directory per backend. It is run (a) by the local backend with one worker — in this process,
one job after another, with torch's default threads (all cores) — (b) by the local backend with
2 spawned workers of 1 thread each and (c) on a Ray instance started for the run
(``ray.init(num_cpus=2)``) with 2 tasks of 1 CPU at a time. For each it prints the wall time, the
ratio to (a) and the backend's start-up (process pool: none until the first job; Ray: ``ray.init``).
Every backend must finish all 4 jobs, and (b) and (c) must give the same evaluation numbers
(same threads per job, so bit-identical), which is checked, so the speed-up is not bought with
different work.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from learned.sweeps.backends import run_sweep
from learned.sweeps.spec import SweepSpec

ARMS = ("ml", "adversarial", "oracle", "oracle-corrected")


def evaluations(spec: SweepSpec) -> list[object]:
    out = []
    for job in spec.jobs():
        doc = json.loads((Path(job.run_dir) / "evaluation.json").read_text())
        out.append(doc["per_seed"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny", choices=("tiny", "cpu"))
    ap.add_argument("--steps", type=int, default=None, help="override train.steps (default: the preset's)")
    args = ap.parse_args()
    over = {} if args.steps is None else {"train.steps": str(args.steps)}
    threads = torch.get_num_threads()
    print(f"4 jobs (aⁿbⁿ {', '.join(ARMS)}; preset {args.preset}, seeds 0-2), torch {torch.__version__}")
    backends = [
        (f"sequential (1 process, {threads} threads)", {"workers": 1, "cpus_per_job": threads}),
        ("local pool, 2 workers × 1 thread", {"workers": 2, "cpus_per_job": 1}),
        ("ray, 2 workers × 1 CPU", {"backend": "ray", "cpus_per_job": 1, "ray_num_cpus": 2}),
    ]
    rows, evals = [], {}
    with tempfile.TemporaryDirectory() as root:
        for name, kwargs in backends:
            spec = SweepSpec(
                preset=args.preset, grammars=("anbn",), arms=ARMS, runs=f"{root}/{len(rows)}", overrides=over
            )
            t0 = time.perf_counter()
            out = run_sweep(spec, log=None, **kwargs)  # type: ignore[arg-type]
            wall = time.perf_counter() - t0
            if out.failed or len(out.done) != len(ARMS):
                raise SystemExit(f"{name}: jobs failed: {out.failed}")
            rows.append((name, wall, out.startup_seconds))
            evals[name] = evaluations(spec)
    pool, ray = evals[backends[1][0]], evals[backends[2][0]]
    if pool != ray:
        raise SystemExit("the pool and Ray runs differ: the benchmark compares different work")
    base = rows[0][1]
    print(f"{'backend':<40}  {'wall s':>7}  {'vs sequential':>13}  {'start-up s':>10}")
    for name, wall, startup in rows:
        print(f"{name:<40}  {wall:7.1f}  {base / wall:12.2f}×  {startup:10.1f}")
    print("pool and Ray evaluations: identical")


if __name__ == "__main__":
    main()
