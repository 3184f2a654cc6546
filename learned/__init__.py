"""Transformers trained on aⁿbⁿ, measured against the exact ground truth (case study 1, experiment E1).

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

from learned.config import PRESETS, VARIANTS, DataConfig, ModelConfig, RunConfig, TrainConfig, preset
from learned.evaluate import evaluate_run
from learned.hooks import HookedModule, HookPoint
from learned.losses import ExactLoss, exact_test_loss
from learned.model import KVCache, Transformer
from learned.predictor import TransformerPredictor
from learned.protocol import grammar_metrics, greedy_complete, greedy_complete_predictor
from learned.reproduce import reproduce_rule_extrapolation
from learned.train import TrainResult, load_model, train

__all__ = [
    # configuration
    "PRESETS",
    "VARIANTS",
    "DataConfig",
    "ModelConfig",
    "RunConfig",
    "TrainConfig",
    "preset",
    # model
    "HookPoint",
    "HookedModule",
    "KVCache",
    "Transformer",
    "TransformerPredictor",
    # training and evaluation
    "ExactLoss",
    "TrainResult",
    "evaluate_run",
    "exact_test_loss",
    "grammar_metrics",
    "greedy_complete",
    "greedy_complete_predictor",
    "load_model",
    "reproduce_rule_extrapolation",
    "train",
]
