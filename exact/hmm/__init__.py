"""Case study 2's ground truth: hidden Markov models, their mixtures and Xie et al.'s GINC, exactly.

Categorical HMMs (:mod:`~exact.hmm.categorical`), the mixture and its numba forward
engine (:mod:`~exact.hmm.mixture`, kernels in ``_kernels``), the GINC generator
(:mod:`~exact.hmm.ginc`), the Bayes predictive at every position
(:mod:`~exact.hmm.positions`), in-context prompts and the Bayes ICL curve
(:mod:`~exact.hmm.prompts`), Xie et al.'s assumptions (:mod:`~exact.hmm.assumptions`)
and ``nonident ginc`` (:mod:`~exact.hmm.cli`).
"""

from exact.hmm.assumptions import AssumptionReport, check_assumptions
from exact.hmm.categorical import CategoricalHMM
from exact.hmm.ginc import GincConfig, GincMixture, generate_ginc, ginc_vocabulary
from exact.hmm.mixture import ForwardResult, HMMMixture, Posterior, as_mixture
from exact.hmm.positions import PositionPredictive, bayes_per_position
from exact.hmm.prompts import (
    IclPoint,
    PromptSample,
    PromptTemplate,
    icl_accuracy,
    prompt_set_log_prob,
    sample_prompts,
    wilson,
)

__all__ = [
    "CategoricalHMM",
    "HMMMixture",
    "ForwardResult",
    "Posterior",
    "as_mixture",
    "PositionPredictive",
    "bayes_per_position",
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
    "wilson",
    "AssumptionReport",
    "check_assumptions",
]
