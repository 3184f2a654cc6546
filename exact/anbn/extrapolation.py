"""Exact rule-extrapolation probability of any predictor on aⁿbⁿ, with a certified interval.

For a prompt ``s`` (typically OOD, ``p(s) = 0``) and a model ``q``, the extrapolation
probability of R1 is the ``q``-mass of completions ``c`` that end with ``EOS`` and make ``s c``
satisfy R1 (``#a = #b``); separately, the mass of completions that end with ``EOS`` and satisfy
R2 on the completion alone (no ``a`` after a ``b`` inside ``c``; the official "completion
accuracy"). The completion tree and its certification are the language-independent engine
:func:`exact.core.completions.completion_probabilities`; this module supplies aⁿbⁿ's two rules
and names the result's fields after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.anbn.rules import ANBN_RULES
from exact.core.completions import completion_probabilities
from exact.core.predictor import Predictor
from exact.core.tokens import TokenBatch

__all__ = ["ExtrapolationResult", "rule_extrapolation_probability"]


@dataclass(frozen=True)
class ExtrapolationResult:
    """Certified rule-extrapolation probabilities, one entry per prompt.

    Attributes
    ----------
    r1_lower, r1_upper : float64 (n_prompts,)
        Interval for ``P_q(completion ends with EOS and prompt+completion has #a = #b)``.
    r2_lower, r2_upper : float64 (n_prompts,)
        Interval for ``P_q(completion ends with EOS and has no a after a b)``.
    ended : float64 (n_prompts,) — mass found ending with EOS.
    malformed : float64 (n_prompts,) — mass with SOS or PAD before EOS.
    unexplored : float64 (n_prompts,) — mass not expanded (depth, pruning, node cap).
    """

    r1_lower: NDArray[np.float64]
    r1_upper: NDArray[np.float64]
    r2_lower: NDArray[np.float64]
    r2_upper: NDArray[np.float64]
    ended: NDArray[np.float64]
    malformed: NDArray[np.float64]
    unexplored: NDArray[np.float64]
    max_completion_length: int
    nodes_expanded: int

    def summary(self) -> dict[str, float | int]:
        """Means over prompts of each bound (a mean of intervals is an interval)."""
        return {
            "prompts": int(self.r1_lower.size),
            "r1_lower": float(np.mean(self.r1_lower)),
            "r1_upper": float(np.mean(self.r1_upper)),
            "r2_lower": float(np.mean(self.r2_lower)),
            "r2_upper": float(np.mean(self.r2_upper)),
            "unexplored_max": float(np.max(self.unexplored, initial=0.0)),
            "nodes_expanded": self.nodes_expanded,
        }


def rule_extrapolation_probability(
    predictor: Predictor,
    prompts: TokenBatch,
    *,
    max_completion_length: int = 32,
    prune_below: float = 0.0,
    max_nodes: int = 1_000_000,
) -> ExtrapolationResult:
    """Certified R1/R2 extrapolation probabilities of ``predictor`` on each prompt.

    The parameters are those of :func:`exact.core.completions.completion_probabilities`
    (``prompts`` are ``SOS`` plus a/b tokens, e.g. the 251 OOD prompts of length 8); the rules are
    aⁿbⁿ's R1 on the whole word and R2 on the completion (:data:`exact.anbn.rules.ANBN_RULES`).
    """
    res = completion_probabilities(
        predictor,
        prompts,
        ANBN_RULES,
        max_completion_length=max_completion_length,
        prune_below=prune_below,
        max_nodes=max_nodes,
    )
    return ExtrapolationResult(
        r1_lower=res.lower[0],
        r1_upper=res.upper[0],
        r2_lower=res.lower[1],
        r2_upper=res.upper[1],
        ended=res.ended,
        malformed=res.malformed,
        unexplored=res.unexplored,
        max_completion_length=res.max_completion_length,
        nodes_expanded=res.nodes_expanded,
    )
