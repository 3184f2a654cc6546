"""The core every case study builds on: tokens, the predictor interface, KL, log-space sums, sampling,
validation, random streams, artifacts (provenance and atomic writes) and the CLI toolkit.

Nothing here knows about aⁿbⁿ, HMMs or q_n; the case-study subpackages
(:mod:`exact.anbn`, :mod:`exact.hmm`, :mod:`exact.icl`) depend on it and not the
other way round (docs/design.md).
"""

from exact.core.kl import (
    KLResult,
    SupportEnumerable,
    kl_brute_force,
    kl_by_sequences,
    kl_chain_rule,
    kl_joint,
    kl_lemma_l1,
    kl_terms,
)
from exact.core.logspace import log_sum_exp
from exact.core.predictor import (
    NextTokenProbs,
    Predictor,
    UndefinedConditionalError,
    sample_sequences,
    sequence_log_prob,
)
from exact.core.tabular import TabularAR
from exact.core.tokens import EOS, PAD, SOS, VOCAB_SIZE, A, B, TokenBatch, decode, encode

__all__ = [
    "A",
    "B",
    "SOS",
    "EOS",
    "PAD",
    "VOCAB_SIZE",
    "TokenBatch",
    "encode",
    "decode",
    "Predictor",
    "NextTokenProbs",
    "UndefinedConditionalError",
    "sample_sequences",
    "sequence_log_prob",
    "KLResult",
    "SupportEnumerable",
    "kl_brute_force",
    "kl_by_sequences",
    "kl_chain_rule",
    "kl_joint",
    "kl_lemma_l1",
    "kl_terms",
    "log_sum_exp",
    "TabularAR",
]
