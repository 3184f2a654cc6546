"""Run a sweep and write its reports (what ``nonident reproduce`` and ``nonident sweep`` do).

Once every job has finished, :func:`sweep_and_report` writes

* ``REPORTS/rule-extrapolation.{md,json,png}`` — the aⁿbⁿ report of ``nonident reproduce
  rule-extrapolation`` — when the sweep holds all five aⁿbⁿ arms;
* ``REPORTS/rule-extrapolation-grammars.{md,json}`` — the grammar × arm table — when it holds a
  library language.

If a job failed (after its retries) nothing is written: the other jobs have finished and are
kept, and running the same sweep again retries only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exact.core.artifacts import DEFAULT_REPORT_DIR, check_writable_dir
from learned.rule_extrapolation.reproduce import ARMS
from learned.sweeps.backends import SweepOutcome, run_sweep
from learned.sweeps.spec import SweepSpec

__all__ = ["SweepReports", "sweep_and_report"]


@dataclass(frozen=True)
class SweepReports:
    """The sweep's outcome and what was written (nothing when a job failed)."""

    outcome: SweepOutcome
    anbn: Any = None  # learned.rule_extrapolation.results.ReproductionReport
    grammars: Any = None  # learned.sweeps.grammar_table.GrammarTable
    written: tuple[Path, ...] = field(default_factory=tuple)


def _has_all_anbn_arms(spec: SweepSpec) -> bool:
    return "anbn" in spec.grammars and (not spec.arms or set(ARMS) <= set(spec.arms))


def sweep_and_report(
    spec: SweepSpec,
    *,
    reports: str | Path = DEFAULT_REPORT_DIR,
    backend: str = "local",
    workers: int = 1,
    device: str = "cpu",
    ray_address: str | None = None,
    cpus_per_job: int = 1,
    gpus_per_job: float = 0.0,
    ray_num_cpus: int | None = None,
    log: Callable[[str], None] | None = print,
) -> SweepReports:
    """Run ``spec`` on ``backend`` (:func:`~learned.sweeps.backends.run_sweep`) and write its reports."""
    from learned.rule_extrapolation.reproduce import reproduce_rule_extrapolation
    from learned.sweeps.grammar_table import grammar_table, write_grammar_table

    check_writable_dir(spec.runs, "runs")
    out = check_writable_dir(reports, "reports")
    outcome = run_sweep(
        spec,
        backend=backend,
        workers=workers,
        device=device,
        ray_address=ray_address,
        cpus_per_job=cpus_per_job,
        gpus_per_job=gpus_per_job,
        ray_num_cpus=ray_num_cpus,
        log=log,
    )
    if outcome.failed:
        return SweepReports(outcome)
    written: list[Path] = []
    anbn = None
    # gathered (and its provenance taken) before the aⁿbⁿ report rewrites tracked files
    table = grammar_table(spec) if any(g != "anbn" for g in spec.grammars) else None
    if _has_all_anbn_arms(spec):
        over = dict(spec.overrides) | ({} if spec.seeds is None else {"train.seeds": spec.seeds})
        anbn = reproduce_rule_extrapolation(
            spec.preset, runs=spec.runs, reports=out, device=device, overrides=over, run_arms=lambda: None
        )
        written.append(out / "rule-extrapolation.md")
    if table is not None:
        written += write_grammar_table(table, out)
    return SweepReports(outcome, anbn, table, tuple(written))
