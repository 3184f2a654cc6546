"""Case study 2 with real transformers: in-context learning on a GINC mixture (docs/icl.md).

:mod:`~.config` (configs and presets), :mod:`~.data` (documents streamed from the exact
mixture), :mod:`~.train` (seed-batched training with checkpoints), :mod:`~.evaluate` (the
model's exact KL to the Bayes predictive, its cross-entropy against the exact floor, and the
in-context accuracy of the model, ``p`` and ``q_n``), :mod:`~.results` (typed records),
:mod:`~.report` and :mod:`~.reproduce` (end to end, with the report). Names are imported
lazily (torch loads on first use).
"""

from exact.core.lazy import lazy_exports

_EXPORTS = {
    "PRESETS": "learned.icl.config",
    "EvalConfig": "learned.icl.config",
    "IclConfig": "learned.icl.config",
    "TrainConfig": "learned.icl.config",
    "icl_preset": "learned.icl.config",
    "training_batch": "learned.icl.data",
    "heldout_documents": "learned.icl.data",
    "train": "learned.icl.train",
    "load_model": "learned.icl.train",
    "document_metrics": "learned.icl.evaluate",
    "icl_prompts": "learned.icl.evaluate",
    "score_answers": "learned.icl.evaluate",
    "reproduce_icl": "learned.icl.reproduce",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
