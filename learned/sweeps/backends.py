"""Where the jobs of a sweep run: ``local`` (in the driver, or a small process pool) or ``ray``.

:func:`run_sweep` submits every unfinished job, prints one line per event (start, done,
failed), retries a failed job up to ``spec.retries`` more times, and once every job has
finished or used its attempts returns a :class:`SweepOutcome` listing the failures; the jobs
that can finish do. The driver holds no state a job needs: kill it and run the same command
again, and finished jobs are skipped while interrupted ones resume from their checkpoints.

* ``local`` with ``workers=1`` runs the jobs one after another in this process; with more, in
  a pool of ``workers`` spawned processes. Either way each job has ``cpus_per_job`` torch
  threads, so a job's run directory does not depend on the backend (the thread count changes
  the order of float reductions; see :func:`~learned.sweeps.jobs.run_job`).
* ``ray`` (the optional extra ``nonident[ray]``) submits each job as a Ray task needing
  ``cpus_per_job`` CPUs and ``gpus_per_job`` GPUs, to the cluster at ``ray_address`` (or
  ``RAY_ADDRESS``), or to a Ray instance started here when neither is set.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from exact.core.threads import configure_threads
from exact.core.validate import InputError, check_float, check_int
from learned.sweeps.jobs import JobOutcome, is_finished, run_job
from learned.sweeps.spec import Job, SweepSpec

__all__ = ["BACKENDS", "SweepOutcome", "run_sweep"]

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class SweepOutcome:
    """Every job's fate: finished now (``done``), already finished (``skipped``), or ``failed`` (name → error)."""

    jobs: tuple[Job, ...]
    done: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    startup_seconds: float = 0.0


def _error_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None)  # a Ray task error carries the job's own exception
    err = cause if isinstance(cause, BaseException) else exc
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first}"


class _Inline:
    """Runs each job in the driver when submitted (the ``local`` backend with one worker)."""

    def __init__(self, device: str, threads: int | None) -> None:
        self.device, self.threads = device, threads

    def submit(self, job: Job) -> cf.Future[JobOutcome]:
        fut: cf.Future[JobOutcome] = cf.Future()
        try:
            fut.set_result(run_job(job, self.device, self.threads))
        except Exception as exc:  # reported and retried by the driver; KeyboardInterrupt still stops it
            fut.set_exception(exc)
        return fut

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def worker_env(cpus: int) -> dict[str, str]:
    """The environment of a worker process with ``cpus`` threads: thread counts and the passive wait policy.

    OpenMP and numba read these when they load, before a job can set anything, so they go
    into the environment the workers start with (:mod:`exact.core.threads`); a value the user
    set for the driver (e.g. ``OMP_WAIT_POLICY``) is kept.
    """
    env = {k: v for k, v in os.environ.items() if k == "OMP_WAIT_POLICY"}
    return configure_threads(env, cores=cpus)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` while worker processes are started (they inherit it), then as before."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Pool:
    def __init__(self, workers: int, device: str, threads: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pool = cf.ProcessPoolExecutor(workers, mp_context=ctx)
        with _environment(worker_env(threads)):  # spawn every worker now, with the environment
            for fut in [self.pool.submit(_started) for _ in range(workers)]:
                fut.result()
        self.device, self.threads = device, threads

    def submit(self, job: Job) -> cf.Future[JobOutcome]:
        return self.pool.submit(run_job, job, self.device, self.threads)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def abort(self) -> None:
        """Stop now (the driver was interrupted): the workers' jobs resume from their checkpoints."""
        workers = list((getattr(self.pool, "_processes", None) or {}).values())  # no public handle on them
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.join(timeout=10)


def _started() -> None:
    """Nothing: submitted to start the pool's workers."""


class _Ray:
    def __init__(self, address: str | None, cpus: int, gpus: float, device: str, num_cpus: int | None) -> None:
        try:
            import ray
        except ImportError:
            raise InputError("--backend ray needs the optional extra: pip install 'nonident[ray]'") from None
        self.ray = ray
        address = address or os.environ.get("RAY_ADDRESS") or None
        self.started = not ray.is_initialized()
        if self.started:
            kwargs: dict[str, Any] = {"address": address, "log_to_driver": False, "include_dashboard": False}
            if address is None and num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
            with _environment(worker_env(cpus)):  # a local instance's workers inherit it
                ray.init(**kwargs)
        env = {"env_vars": worker_env(cpus)}  # the workers of a cluster get it from the task
        self.remote: Any = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0, runtime_env=env)(run_job)
        self.device, self.threads = device, cpus
        self.refs: list[Any] = []

    def submit(self, job: Job) -> cf.Future[JobOutcome]:
        ref = self.remote.remote(job, self.device, self.threads)
        self.refs.append(ref)
        fut: cf.Future[JobOutcome] = ref.future()
        return fut

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()

    def abort(self) -> None:
        """Cancel every task still running (a cluster keeps them otherwise), then as :meth:`close`."""
        for ref in self.refs:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # finished or already gone: nothing to cancel
                pass
        self.close()


def run_sweep(
    spec: SweepSpec,
    *,
    backend: str = "local",
    workers: int = 1,
    device: str = "cpu",
    ray_address: str | None = None,
    cpus_per_job: int = 1,
    gpus_per_job: float = 0.0,
    ray_num_cpus: int | None = None,
    log: Callable[[str], None] | None = print,
) -> SweepOutcome:
    """Run every job of ``spec``; see the module docstring. ``log=None`` prints nothing."""
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    workers, cpus_per_job = check_int(workers, "workers"), check_int(cpus_per_job, "cpus_per_job")
    gpus_per_job = check_float(gpus_per_job, "gpus_per_job", 0.0, math.inf, lo_open=False, hi_open=True)
    say = log or (lambda _line: None)
    jobs = spec.jobs()
    t0 = time.monotonic()
    skipped = [j.name for j in jobs if is_finished(j)]
    todo = [j for j in jobs if j.name not in skipped]
    for name in skipped:
        say(f"[sweep] {name}: finished earlier, skipped")
    executor: _Inline | _Pool | _Ray
    if not todo:
        return SweepOutcome(tuple(jobs), (), tuple(skipped), seconds=time.monotonic() - t0)
    if backend == "ray":
        executor = _Ray(ray_address, cpus_per_job, gpus_per_job, device, ray_num_cpus)
    elif workers > 1:
        executor = _Pool(min(workers, len(todo)), device, cpus_per_job)
    else:
        executor = _Inline(device, cpus_per_job)
    startup = time.monotonic() - t0
    done: list[str] = []
    failed: dict[str, str] = {}
    attempts: dict[str, int] = {}
    total = len(todo)
    try:
        pending: dict[cf.Future[JobOutcome], Job] = {}

        def submit(job: Job) -> None:
            attempts[job.name] = attempts.get(job.name, 0) + 1
            say(f"[sweep] {job.name}: submitted (attempt {attempts[job.name]}/{spec.retries + 1}) → {job.run_dir}")
            pending[executor.submit(job)] = job

        queue = list(todo)
        while queue or pending:
            while queue:  # the pool and Ray queue work themselves; the inline executor runs it now
                submit(queue.pop(0))
                if isinstance(executor, _Inline):
                    break
            finished, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            for fut in finished:
                job = pending.pop(fut)
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):  # the pool itself, not the job: stop
                    raise exc
                if exc is None:
                    out = fut.result()
                    done.append(job.name)
                    say(
                        f"[sweep] {job.name}: {out.status} in {out.seconds:.0f} s on {out.host} (pid {out.pid}); "
                        f"{len(done) + len(failed)}/{total} jobs"
                    )
                elif attempts[job.name] <= spec.retries:
                    say(f"[sweep] {job.name}: failed ({_error_line(exc)}); retrying")
                    queue.append(job)
                else:
                    failed[job.name] = _error_line(exc)
                    say(f"[sweep] {job.name}: FAILED after {attempts[job.name]} attempt(s): {failed[job.name]}")
    except BaseException:  # Ctrl-C, SIGTERM or a broken pool: stop the jobs now, not when they end
        executor.abort()
        raise
    executor.close()
    return SweepOutcome(
        tuple(jobs),
        tuple(n for n in (j.name for j in jobs) if n in done),
        tuple(skipped),
        failed,
        attempts,
        time.monotonic() - t0,
        startup,
    )
