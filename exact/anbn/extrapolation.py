"""Exact rule-extrapolation probability of any predictor, with a certified interval.

For a prompt ``s`` (typically OOD, ``p(s) = 0``) and a model ``q``, the
extrapolation probability of R1 is the ``q``-mass of completions ``c`` that end
with ``EOS`` and make ``s c`` satisfy R1 (``#a = #b``); separately, the mass of
completions that end with ``EOS`` and satisfy R2 on the completion alone (no
``a`` after a ``b`` inside ``c``; the official "completion accuracy").

Unlike greedy decoding scored on "finished" outputs only (the official protocol,
docs/paper.md §5.5), this expands the whole tree of completions: every node is a
prefix ``s c``; its children are the tokens with ``q(y | s c) > 0``. A child
``EOS`` ends the completion; ``SOS`` or ``PAD`` before ``EOS`` makes it
malformed (counted as failing, not expanded). Nodes deeper than
``max_completion_length``, lighter than ``prune_below`` or beyond ``max_nodes``
are not expanded; their mass is *unexplored*. Hence the true probability lies in
``[found, found + unexplored]``.

Certification. Each path mass is a product of at most ``D`` floats and each
total a sum of at most ``m`` of them, so floating-point error is at most a factor
``1 ± γ`` with ``γ = n u / (1 − n u)``, ``n = D + m``, ``u = 2⁻⁵³`` (Higham,
*Accuracy and Stability of Numerical Algorithms*, §3.1, §4.2). Rows of the
predictor sum to one only within ``ROW_SUM_TOL`` (enforced by
:class:`~exact.core.predictor.NextTokenProbs`), so the mass of an unexplored subtree
is bounded by its root mass times ``σᴰ`` with ``σ = 1 + ROW_SUM_TOL``.
The interval is widened by both factors, by ``2⁻¹⁰⁷⁴`` per rounding for
the subnormal range, and rounded outward. It certifies the
probability under the float rows the predictor returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.anbn.rules import check_rules
from exact.core.predictor import Predictor
from exact.core.tokens import EOS, A, B, TokenBatch
from exact.core.validate import ROW_SUM_TOL, InputError, check_int

__all__ = ["ExtrapolationResult", "rule_extrapolation_probability"]

_U = 2.0**-53


def _gamma(n: int) -> float:
    return n * _U / (1 - n * _U)


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

    Parameters
    ----------
    predictor : Predictor
        Must define every conditional it is asked for (a data distribution has
        none on OOD prompts and raises :class:`~exact.core.predictor.UndefinedConditionalError`).
    prompts : TokenBatch
        The prompts, e.g. ``SOS`` plus 8 a/b tokens.
    max_completion_length : int
        Completions longer than this (EOS included) are not explored.
    prune_below : float
        Nodes of smaller mass are not expanded (their mass counts as unexplored).
    max_nodes : int
        At most this many open nodes per depth; the lightest beyond it are unexplored.
    """
    L = check_int(max_completion_length, "max_completion_length")
    cap = check_int(max_nodes, "max_nodes")
    if not (isinstance(prune_below, (int, float)) and 0 <= prune_below < 1):
        raise InputError(f"prune_below must lie in [0, 1), got {prune_below!r}")
    if len(prompts) == 0:
        raise InputError("prompts is empty")
    n = len(prompts)
    r1 = np.zeros(n)
    r2 = np.zeros(n)
    ended = np.zeros(n)
    malformed = np.zeros(n)
    unexplored = np.zeros(n)
    terms = np.zeros(n, dtype=np.int64)

    checks = check_rules(prompts)
    owner = np.arange(n)
    frontier = prompts
    mass = np.ones(n)
    d = (checks.n_a - checks.n_b).astype(np.int64)  # #a − #b of prompt + completion so far
    seen_b = np.zeros(n, dtype=bool)  # a b in the completion so far
    r2_ok = np.ones(n, dtype=bool)
    expanded = 0

    for _depth in range(L):
        if len(frontier) == 0:
            break
        expanded += len(frontier)
        probs = predictor.next_token_probs(frontier).require_defined()
        rows, toks = np.nonzero(probs > 0)
        with np.errstate(under="ignore"):  # subnormal masses are covered by the absolute slack below
            child_mass = mass[rows] * probs[rows, toks]
        who = owner[rows]
        np.add.at(terms, who, 1)

        stop = toks == EOS
        np.add.at(ended, who[stop], child_mass[stop])
        np.add.at(r1, who[stop & (d[rows] == 0)], child_mass[stop & (d[rows] == 0)])
        np.add.at(r2, who[stop & r2_ok[rows]], child_mass[stop & r2_ok[rows]])
        bad = ~stop & (toks != A) & (toks != B)
        np.add.at(malformed, who[bad], child_mass[bad])

        go = np.flatnonzero((toks == A) | (toks == B))
        light = child_mass[go] < prune_below
        np.add.at(unexplored, who[go[light]], child_mass[go[light]])
        go = go[~light]
        if go.size > cap:
            order = np.argsort(-child_mass[go], kind="stable")
            np.add.at(unexplored, who[go[order[cap:]]], child_mass[go[order[cap:]]])
            go = go[order[:cap]]
        parent, tok = rows[go], toks[go]
        frontier = frontier.select(parent).extend(tok)
        owner = owner[parent]
        mass = child_mass[go]
        d = d[parent] + np.where(tok == A, 1, -1)
        r2_ok = r2_ok[parent] & ~((tok == A) & seen_b[parent])
        seen_b = seen_b[parent] | (tok == B)
    np.add.at(unexplored, owner, mass)
    np.add.at(terms, owner, 1)

    m = int(terms.max(initial=0))
    gamma = _gamma(L + 1 + m + 8)  # 8 spare roundings for the bound arithmetic itself
    # Rows are validated to sum to at most 1 + ROW_SUM_TOL, also those never queried
    # below a pruned node, so a subtree weighs at most its root times this factor.
    growth = ((1 + ROW_SUM_TOL) * (1 + _gamma(int(predictor.vocab_size)))) ** L
    # Relative bounds fail in the subnormal range: allow an absolute 2⁻¹⁰⁷⁴ per rounding.
    tiny = (L + 1) * (m + 1) * 2.0**-1074

    def lower(x: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(under="ignore"):
            return np.maximum(np.nextafter(x * (1 - gamma) - tiny, -np.inf), 0.0)

    def upper(x: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(under="ignore"):
            return np.nextafter((x + unexplored * growth) * (1 + gamma) + tiny, np.inf)

    return ExtrapolationResult(
        r1_lower=lower(r1),
        r1_upper=upper(r1),
        r2_lower=lower(r2),
        r2_upper=upper(r2),
        ended=ended,
        malformed=malformed,
        unexplored=unexplored,
        max_completion_length=L,
        nodes_expanded=expanded,
    )
