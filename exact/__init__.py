"""Exact ground truth for the claims of Reizinger et al. (2024, arXiv 2405.01964).

Subpackages by concept (docs/design.md): :mod:`exact.core` (tokens, the predictor
interface, KL, shared plumbing), :mod:`exact.anbn` (case study 1), :mod:`exact.grammar`
(any PCFG or finite language, docs/grammars.md), :mod:`exact.hmm` (HMM mixtures and GINC)
and :mod:`exact.icl` (q_n and its certificates, case study 2).
This module re-exports their public names.

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

from exact.anbn import (
    AnbnDistribution,
    AnbnFacts,
    CompletionMixture,
    ExtrapolationResult,
    GeometricLength,
    LengthLaw,
    OODPolicyModel,
    OverrideModel,
    PromptTable,
    RuleChecks,
    StringTable,
    TruncatedLength,
    UniformLength,
    check_rules,
    enumerate_prompts,
    enumerate_strings,
    estimate_enumeration_bytes,
    f1_witnesses,
    is_sentence,
    rule_extrapolation_probability,
)
from exact.core import (
    EOS,
    PAD,
    SOS,
    VOCAB_SIZE,
    A,
    B,
    KLResult,
    NextTokenProbs,
    Predictor,
    TokenBatch,
    UndefinedConditionalError,
    decode,
    encode,
    kl_brute_force,
    kl_by_sequences,
    kl_chain_rule,
    sample_sequences,
    sequence_log_prob,
)
from exact.core.completions import CompletionProbabilities, Rule, completion_probabilities
from exact.core.vocabulary import Vocabulary
from exact.grammar import PCFG, GrammarDistribution, load_grammar, parse_grammar
from exact.grammar.finite import FiniteLanguage
from exact.grammar.library import LANGUAGES, Language, language
from exact.grammar.witnesses import rule_witnesses
from exact.hmm import (
    AssumptionReport,
    CategoricalHMM,
    ForwardResult,
    GincConfig,
    GincMixture,
    HMMMixture,
    IclPoint,
    Posterior,
    PromptSample,
    PromptTemplate,
    check_assumptions,
    generate_ginc,
    ginc_vocabulary,
    icl_accuracy,
    prompt_set_log_prob,
    sample_prompts,
)
from exact.icl import (
    DEMO_CONFIG,
    DEMO_K,
    IclRow,
    IclTable,
    SwapIdentity,
    SwapModel,
    ZeroRunnerUpError,
    icl_table,
    swap_identity,
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
    # any grammar (docs/grammars.md)
    "Vocabulary",
    "PCFG",
    "parse_grammar",
    "load_grammar",
    "GrammarDistribution",
    "FiniteLanguage",
    "LANGUAGES",
    "Language",
    "language",
    "Rule",
    "CompletionProbabilities",
    "completion_probabilities",
    "rule_witnesses",
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
