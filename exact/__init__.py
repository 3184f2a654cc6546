"""Exact ground truth for the claims of Reizinger et al. (2024).

Case study 1 (aⁿbⁿ, functional non-identifiability):

>>> from exact import AnbnDistribution, UniformLength, enumerate_prompts
>>> p = AnbnDistribution(UniformLength(128))
>>> enumerate_prompts(p, 8).counts()["ood"]
251
>>> round(p.facts().padded_loss_floor, 10)
0.0188794952

Case study 2's ground truth (GINC mixture of HMMs, exact Bayes quantities):

>>> from exact import PromptTemplate, generate_ginc, prompt_set_log_prob
>>> g = generate_ginc(n_concepts=5, emission_smoothing=0.01)
>>> round(prompt_set_log_prob(g.mixture, PromptTemplate(k=3, n_shots=1)), 4)
-2.3098
"""

from exact.anbn import AnbnDistribution, AnbnFacts
from exact.enumeration import (
    PromptTable,
    StringTable,
    enumerate_prompts,
    enumerate_strings,
    estimate_enumeration_bytes,
)
from exact.extrapolation import ExtrapolationResult, rule_extrapolation_probability
from exact.ginc import GincConfig, GincMixture, generate_ginc, ginc_vocabulary
from exact.ginc_assumptions import AssumptionReport, check_assumptions
from exact.hmm import CategoricalHMM
from exact.kl import KLResult, kl_brute_force, kl_chain_rule
from exact.laws import GeometricLength, LengthLaw, TruncatedLength, UniformLength
from exact.mixture import ForwardResult, HMMMixture, Posterior
from exact.predictor import (
    NextTokenProbs,
    Predictor,
    UndefinedConditionalError,
    sample_sequences,
    sequence_log_prob,
)
from exact.prompts import (
    IclPoint,
    PromptSample,
    PromptTemplate,
    icl_accuracy,
    prompt_set_log_prob,
    sample_prompts,
)
from exact.qn import DEMO_CONFIG, DEMO_K, SwapModel, ZeroRunnerUpError
from exact.qn_kl import (
    IclRow,
    IclTable,
    SwapIdentity,
    icl_table,
    kl_by_sequences,
    swap_identity,
)
from exact.rules import RuleChecks, check_rules, is_sentence
from exact.tokens import EOS, PAD, SOS, VOCAB_SIZE, A, B, TokenBatch, decode, encode
from exact.witnesses import (
    CompletionMixture,
    OODPolicyModel,
    OverrideModel,
    f1_witnesses,
)

__all__ = [
    # tokens
    "A",
    "B",
    "SOS",
    "EOS",
    "PAD",
    "VOCAB_SIZE",
    "TokenBatch",
    "encode",
    "decode",
    # predictor interface
    "Predictor",
    "NextTokenProbs",
    "UndefinedConditionalError",
    "sample_sequences",
    "sequence_log_prob",
    # aⁿbⁿ
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
    # F1
    "OODPolicyModel",
    "OverrideModel",
    "CompletionMixture",
    "f1_witnesses",
    "KLResult",
    "kl_chain_rule",
    "kl_brute_force",
    "ExtrapolationResult",
    "rule_extrapolation_probability",
    # HMM mixtures and GINC (case study 2)
    "CategoricalHMM",
    "HMMMixture",
    "ForwardResult",
    "Posterior",
    "GincConfig",
    "GincMixture",
    "generate_ginc",
    "ginc_vocabulary",
    "PromptTemplate",
    "PromptSample",
    "sample_prompts",
    "prompt_set_log_prob",
    "IclPoint",
    "icl_accuracy",
    "AssumptionReport",
    "check_assumptions",
    # q_n and ε-non-identifiability (F2)
    "SwapModel",
    "ZeroRunnerUpError",
    "DEMO_CONFIG",
    "DEMO_K",
    "SwapIdentity",
    "swap_identity",
    "kl_by_sequences",
    "IclRow",
    "IclTable",
    "icl_table",
]
