"""Sweeps of seed-batched runs: seeds × arms × grammars, locally or on Ray (docs/sweeps.md).

:mod:`~.spec` (a sweep file or flags → validated jobs), :mod:`~.jobs` (one job: train, evaluate,
mark finished), :mod:`~.backends` (``local`` in-process or a process pool, ``ray``),
:mod:`~.grammar_table` (the rule-extrapolation table across the grammar library) and
:mod:`~.reproduce` (run a sweep and write its reports). Names are imported lazily.
"""

from exact.core.lazy import lazy_exports

_EXPORTS = {
    "BACKENDS": "learned.sweeps.backends",
    "GRAMMARS": "learned.sweeps.spec",
    "Job": "learned.sweeps.spec",
    "SweepOutcome": "learned.sweeps.backends",
    "SweepSpec": "learned.sweeps.spec",
    "grammar_table": "learned.sweeps.grammar_table",
    "read_sweep": "learned.sweeps.spec",
    "run_job": "learned.sweeps.jobs",
    "run_sweep": "learned.sweeps.backends",
    "sweep_and_report": "learned.sweeps.reproduce",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
