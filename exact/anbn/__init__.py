"""Case study 1: the aⁿbⁿ language, exactly (functional non-identifiability, claim F1).

Length laws (:mod:`~exact.anbn.laws`), the exact distribution and its kernels
(:mod:`~exact.anbn.distribution`), enumeration of strings and prompts
(:mod:`~exact.anbn.enumeration`), the rules R1/R2 (:mod:`~exact.anbn.rules`), the
F1 witnesses that equal ``p`` on its support yet do anything out of it
(:mod:`~exact.anbn.witnesses`) and the certified rule-extrapolation probability of
any predictor (:mod:`~exact.anbn.extrapolation`). ``nonident anbn`` is
:mod:`~exact.anbn.cli`. The general engine :mod:`exact.grammar` treats aⁿbⁿ as one
grammar among many and this package as its fast special case (docs/grammars.md).
"""

from exact.anbn.distribution import AnbnDistribution, AnbnFacts
from exact.anbn.enumeration import (
    PromptTable,
    StringTable,
    enumerate_prompts,
    enumerate_strings,
    estimate_enumeration_bytes,
)
from exact.anbn.extrapolation import ExtrapolationResult, rule_extrapolation_probability
from exact.anbn.laws import GeometricLength, LengthLaw, TruncatedLength, UniformLength
from exact.anbn.rules import RuleChecks, check_rules, is_sentence
from exact.anbn.witnesses import CompletionMixture, OODPolicyModel, OverrideModel, f1_witnesses

__all__ = [
    "LengthLaw",
    "UniformLength",
    "GeometricLength",
    "TruncatedLength",
    "AnbnDistribution",
    "AnbnFacts",
    "StringTable",
    "PromptTable",
    "enumerate_strings",
    "enumerate_prompts",
    "estimate_enumeration_bytes",
    "RuleChecks",
    "check_rules",
    "is_sentence",
    "OODPolicyModel",
    "OverrideModel",
    "CompletionMixture",
    "f1_witnesses",
    "ExtrapolationResult",
    "rule_extrapolation_probability",
]
