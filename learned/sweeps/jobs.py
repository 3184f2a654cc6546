"""Running one job of a sweep: train (resuming from its checkpoint), evaluate, mark it done.

:func:`run_job` is what every backend executes — in the driver, in a worker process, or as a
Ray task on another machine — so a job's run directory is the same whichever ran it. A job is
*finished* when its run directory holds ``evaluation.json`` and the marker ``job.json`` written
after it, recording the job's config; a re-run sweep skips it. An unfinished one is trained
again from its last checkpoint (:func:`learned.rule_extrapolation.train.train` resumes).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from exact.core.artifacts import read_json, write_json
from exact.core.heap import keep_freed_memory
from exact.core.validate import InputError
from learned.sweeps.spec import Job

__all__ = ["JobOutcome", "is_finished", "run_job"]

MARKER = "job.json"


@dataclass(frozen=True)
class JobOutcome:
    """What :func:`run_job` did: ``status`` is ``"done"`` or ``"skipped"`` (already finished)."""

    name: str
    status: str
    seconds: float
    host: str
    pid: int


def is_finished(job: Job) -> bool:
    """True when the run directory holds this job's evaluation and its marker (with the same config)."""
    run = Path(job.run_dir)
    marker = run / MARKER
    if not (marker.is_file() and (run / "evaluation.json").is_file()):
        return False
    if read_json(run / "evaluation.json", "run evaluation").get("which", "best") != "best":
        return False  # `nonident evaluate --which final` rewrote it: the sweep's reports select "best"
    return bool(read_json(marker, "sweep job marker").get("config") == json.loads(json.dumps(job.config)))


def run_job(job: Job, device: str = "cpu", threads: int | None = None) -> JobOutcome:
    """Train and evaluate ``job`` in its run directory (skipped if finished).

    ``threads`` sets the job's threads (restored afterwards): torch's intra-op threads and
    numba's, which must match — every numba parallel kernel resets the OpenMP runtime it shares
    with torch to numba's count (:mod:`exact.core.threads`), and two pool
    workers of one torch thread each then run two threads each on two cores: measured 3.5×
    slower. The thread count changes the order of floating-point reductions, so two runs of a
    job are bit-identical when they use the same number of threads on the same kind of machine.
    """
    import numba
    import torch

    keep_freed_memory()  # in a worker process too (exact.core.heap)
    before = torch.get_num_threads(), numba.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
        pool = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # set at import; no stub
        numba.set_num_threads(min(threads, pool))  # never above the pool numba started with
    try:
        return _run(job, device)
    finally:
        torch.set_num_threads(before[0])
        numba.set_num_threads(before[1])


def _run(job: Job, device: str) -> JobOutcome:
    from learned.nn.runs import read_run_file
    from learned.rule_extrapolation.config import RunConfig
    from learned.rule_extrapolation.evaluate import evaluate_language_run, evaluate_run
    from learned.rule_extrapolation.train import train

    host = os.uname().nodename
    t0 = time.monotonic()
    if is_finished(job):
        return JobOutcome(job.name, "skipped", 0.0, host, os.getpid())
    cfg = RunConfig.from_dict(job.config)
    ckpt = Path(job.run_dir) / "checkpoint.pt"
    if ckpt.is_file() and read_run_file(ckpt, "checkpoint")["config"] != cfg.to_dict():
        # refused before anything changes: a finished run of another config keeps its marker
        raise InputError(
            f"{job.run_dir} holds a run of another config: give this sweep another runs folder "
            "(field 'runs' or --runs), or remove that run directory"
        )
    (Path(job.run_dir) / MARKER).unlink(missing_ok=True)
    result = train(cfg, job.run_dir, device=device, progress=False)
    if cfg.data.language == "anbn":
        evaluate_run(job.run_dir, device=device)
    else:
        evaluate_language_run(job.run_dir, device=device)
    seconds = time.monotonic() - t0
    write_json(
        Path(job.run_dir) / MARKER,
        {"name": job.name, "config": job.config, "train_seconds": result.seconds, "job_seconds": seconds},
    )
    return JobOutcome(job.name, "done", seconds, host, os.getpid())
