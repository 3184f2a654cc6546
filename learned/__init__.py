"""Transformers trained on the exact ground truth and measured against it.

Subpackages by concept (docs/design.md): :mod:`learned.nn` (the seed-batched
transformer, its hook points, the predictor adapter and device selection, shared
by every experiment) and one package per experiment — :mod:`learned.rule_extrapolation`
(case study 1, experiment E1 on aⁿbⁿ) and :mod:`learned.finetunability` (case study 3,
function-preserving reparametrisations and fine-tuning; docs/finetunability.md). The public names below are imported lazily,
so ``import learned`` does not load torch until one is used.

A trained model speaks the same :class:`exact.Predictor` interface as the exact
distributions, so every exact metric applies to it unchanged:

>>> from exact import AnbnDistribution, UniformLength, kl_chain_rule
>>> from learned import Transformer, TransformerPredictor, preset
>>> cfg = preset("tiny")
>>> model = Transformer(cfg.model, seeds=(0, 1))  # two models, stacked along a leading axis
>>> q = TransformerPredictor(model, member=1)
>>> p = AnbnDistribution(UniformLength(cfg.data.n_max))
>>> kl_chain_rule(p, q, cfg.data.width).value > 0  # untrained: far from the data
True

Training (:func:`train`), evaluation (:func:`evaluate_run`) and the end-to-end
reproduction (:func:`reproduce_rule_extrapolation`) back the CLI commands
``nonident train anbn``, ``nonident evaluate`` and ``nonident reproduce rule-extrapolation``.
"""

from exact.core.lazy import lazy_exports

_RE = "learned.rule_extrapolation"
_EXPORTS = {
    # configuration
    "ModelConfig": "learned.nn.config",
    "PRESETS": f"{_RE}.config",
    "VARIANTS": f"{_RE}.config",
    "DataConfig": f"{_RE}.config",
    "RunConfig": f"{_RE}.config",
    "TrainConfig": f"{_RE}.config",
    "preset": f"{_RE}.config",
    # model
    "HookPoint": "learned.nn.hooks",
    "HookedModule": "learned.nn.hooks",
    "KVCache": "learned.nn.model",
    "Transformer": "learned.nn.model",
    "TransformerPredictor": "learned.nn.predictor",
    "resolve_device": "learned.nn.device",
    # training and evaluation (experiment E1)
    "ExactLoss": f"{_RE}.losses",
    "exact_test_loss": f"{_RE}.losses",
    "TrainResult": f"{_RE}.train",
    "load_model": f"{_RE}.train",
    "train": f"{_RE}.train",
    "evaluate_run": f"{_RE}.evaluate",
    "evaluate_model": f"{_RE}.evaluate",
    "grammar_metrics": f"{_RE}.protocol",
    "greedy_complete": f"{_RE}.protocol",
    "greedy_complete_predictor": f"{_RE}.protocol",
    "reproduce_rule_extrapolation": f"{_RE}.reproduce",
    # typed results (as_dict() gives the JSON of evaluation.json and the report)
    "SeedEvaluation": f"{_RE}.results",
    "RunEvaluation": f"{_RE}.results",
    "ReproductionReport": f"{_RE}.results",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
