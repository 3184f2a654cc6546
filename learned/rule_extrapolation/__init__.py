"""Case study 1 with real transformers: experiment E1 on aⁿbⁿ (docs/paper.md §5).

:mod:`~.config` (run configs and presets), :mod:`~.data` (data from :mod:`exact.anbn`),
:mod:`~.losses` (LM and completion losses, the exact test loss), :mod:`~.train`
(seed-batched training with checkpoints), :mod:`~.protocol` (the official greedy
protocol), :mod:`~.evaluate` (typed per-seed results against the exact ground truth,
:mod:`~.results`) and :mod:`~.reproduce` (all arms end to end and the report).
Names are imported lazily (torch loads on first use).
"""

from exact.core.lazy import lazy_exports

_EXPORTS = {
    "PRESETS": "learned.rule_extrapolation.config",
    "VARIANTS": "learned.rule_extrapolation.config",
    "DataConfig": "learned.rule_extrapolation.config",
    "RunConfig": "learned.rule_extrapolation.config",
    "TrainConfig": "learned.rule_extrapolation.config",
    "preset": "learned.rule_extrapolation.config",
    "train": "learned.rule_extrapolation.train",
    "load_model": "learned.rule_extrapolation.train",
    "evaluate_run": "learned.rule_extrapolation.evaluate",
    "evaluate_model": "learned.rule_extrapolation.evaluate",
    "reproduce_rule_extrapolation": "learned.rule_extrapolation.reproduce",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
