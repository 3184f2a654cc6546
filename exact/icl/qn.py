"""The ICL construction ``q_n``: swap the two most likely answers on every n-shot prompt.

docs/paper.md §4.4.2 (claim F2). Let ``S_n`` be the n-shot prompt strings
``[x_1 y_1 / … / x_n y_n / x_query]`` (the delimiter at the template's positions,
any tokens elsewhere) with ``p(s) > 0``. ``q_n(· | s)`` is ``p(· | s)`` with
the probabilities of the top token ``y*`` and the runner-up ``y′`` exchanged;
on every other prefix (shorter, longer, other shapes) ``q_n = p``. Then
``KL(p‖q_n) = Σ_{s∈S_n} p(s)(p1 − p2) ln(p1/p2)`` (Lemma L1), yet
``argmax q_n(· | s) = y′ ≠ y*`` on every ``s ∈ S_n``: q_n's in-context
prediction is wrong wherever p's is right.

Ties: if ``p1`` and ``p2`` are equal (within :data:`~exact.hmm.prompts.TIE_RTOL`)
swapping changes nothing and no flip exists; ``tie_policy="raise"`` refuses,
``"keep"`` leaves ``q_n = p`` there (reported as not flipped).
A runner-up of probability zero (deterministic emissions) makes the KL
infinite: ``q_n`` refuses with a message suggesting emission smoothing.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from exact.core.predictor import NextTokenProbs
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, InputTypeError
from exact.hmm.ginc import GincConfig, GincMixture
from exact.hmm.mixture import HMMMixture, as_mixture
from exact.hmm.prompts import PromptTemplate, top_two

__all__ = ["DEMO_CONFIG", "DEMO_K", "SwapModel", "ZeroRunnerUpError"]

TIE_POLICIES = ("raise", "keep")

#: A small GINC-structured mixture whose n-shot prompt sets can be enumerated for n ≤ 6
#: (3 symbols, k = 2: 3^(n+1) strings), used by ``nonident icl`` and the F2 claims.
DEMO_CONFIG = GincConfig(n_concepts=2, n_values=2, n_slots=8, n_symbols=3, emission_smoothing=0.003, seed=84)
DEMO_K = 2


class ZeroRunnerUpError(InputError):
    """The runner-up of ``p(· | s)`` has probability zero, so ``KL(p‖q_n) = ∞``."""


class SwapModel:
    """``q_n``: the mixture's Bayes predictive with the top two tokens swapped on ``S_n``.

    Parameters
    ----------
    mixture : HMMMixture or GincMixture
        ``p``, the pretraining distribution.
    template : PromptTemplate
        ``k``, ``n`` and the delimiter; ``S_n`` has length ``template.length``.
    tie_policy : {"raise", "keep"}

    Implements the :class:`~exact.core.predictor.Predictor` interface; rows where
    ``p`` is undefined (zero-probability prefixes) stay undefined.
    """

    def __init__(
        self, mixture: HMMMixture | GincMixture, template: PromptTemplate, *, tie_policy: str = "raise"
    ) -> None:
        self.mixture = as_mixture(mixture)
        if not isinstance(template, PromptTemplate):
            raise InputTypeError(f"template must be a PromptTemplate, got {type(template).__name__}")
        if template.delimiter >= self.mixture.vocab_size:
            raise InputError(
                f"template.delimiter={template.delimiter} is not a token id (vocab {self.mixture.vocab_size})"
            )
        if tie_policy not in TIE_POLICIES:
            raise InputError(f"tie_policy must be one of {TIE_POLICIES}, got {tie_policy!r}")
        self.template = template
        self.tie_policy = tie_policy
        self.vocab_size = self.mixture.vocab_size

    def __repr__(self) -> str:
        t = self.template
        return f"SwapModel(k={t.k}, n_shots={t.n_shots}, {self.mixture!r}, tie_policy={self.tie_policy!r})"

    def in_prompt_set(self, batch: TokenBatch) -> NDArray[np.bool_]:
        """Rows shaped like an n-shot prompt: length ``L_n``, the delimiter at every template position."""
        t = self.template
        out = batch.lengths == t.length
        for pos in t.delimiter_positions:
            out &= (batch.tokens[:, pos] == t.delimiter) if batch.tokens.shape[1] > pos else False
        return np.asarray(out)

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        p = self.mixture.next_token_probs(batch)
        rows = np.flatnonzero(self.in_prompt_set(batch) & p.defined)
        if rows.size == 0:
            return p
        probs = p.probs.copy()
        top, second, tied = top_two(probs[rows])
        if tied.any() and self.tie_policy == "raise":
            i = int(rows[np.flatnonzero(tied)[0]])
            raise InputError(
                f"p(·|s) has tied top tokens on prompt row {i} ({batch.row(i).tolist()}): no swap can flip the "
                "argmax; use tie_policy='keep' to leave q_n = p there"
            )
        swap = rows[~tied]
        top, second = top[~tied], second[~tied]
        p1, p2 = probs[swap, top], probs[swap, second]
        if np.any(p2 == 0):
            i = int(swap[np.flatnonzero(p2 == 0)[0]])
            raise ZeroRunnerUpError(
                f"the runner-up of p(·|s) has probability 0 on prompt row {i}, so KL(p‖q_n) = inf; "
                "give every token positive probability with emission smoothing "
                "(GincConfig(emission_smoothing=…), nonident icl --smoothing)"
            )
        probs[swap, top], probs[swap, second] = p2, p1
        return NextTokenProbs(probs, p.defined)
