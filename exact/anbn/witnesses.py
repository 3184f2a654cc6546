"""Claim F1 made concrete: models with KL(p‖q) = 0 that do anything out of distribution.

By the chain rule (docs/paper.md §2, §4.2), ``KL(p‖q)`` only involves ``q(· | s)`` on
prefixes with ``p(s) > 0``. :class:`OODPolicyModel` copies the exact ``p`` on
every such prefix and follows a fixed policy on every zero-probability prefix.
With ``d = #a − #b`` over the prefix (before its first ``EOS``):

* ``"extrapolate"`` — ``d > 0 → b``, ``d < 0 → a``, ``d = 0 → EOS``: every OOD
  prompt is completed to satisfy R1 (extrapolation probability 1);
* ``"never"`` — ``d = 0 → a``, else ``EOS``: no completion satisfies R1 (probability 0);
* ``"stop"`` — ``EOS`` at once: R1 holds exactly for prompts already balanced
  (69 of the 251 length-8 OOD prompts, docs/paper.md §7).

After an ``EOS`` every policy emits ``PAD``.

:class:`CompletionMixture` mixes models *as distributions over completions* of a
prompt of fixed length: ``q_λ(c | prompt) = Σ_i w_i q_i(c | prompt)``. Its
conditionals weight each component by its posterior given the completion so
far, so the extrapolation probability of the λ-mixture of "extrapolate" and
"never" is exactly ``λ`` on every OOD prompt of that length, while on
positive-probability prefixes all components equal ``p`` and so does the mixture.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from exact.anbn.distribution import AnbnDistribution
from exact.anbn.rules import check_rules
from exact.core.predictor import NextTokenProbs, Predictor
from exact.core.tokens import EOS, PAD, VOCAB_SIZE, A, B, TokenBatch
from exact.core.validate import InputError, check_int
from exact.core.witnesses import CompletionMixture, OverrideModel

__all__ = ["CompletionMixture", "OODPolicyModel", "OverrideModel", "POLICIES", "f1_witnesses"]

POLICIES = ("extrapolate", "never", "stop")


class OODPolicyModel:
    """``p`` on its support, a deterministic policy on every zero-probability prefix.

    Parameters
    ----------
    base : AnbnDistribution
        The data distribution copied on its support.
    policy : {"extrapolate", "never", "stop"}
    """

    vocab_size = VOCAB_SIZE

    def __init__(self, base: AnbnDistribution, policy: str) -> None:
        if policy not in POLICIES:
            raise InputError(f"policy must be one of {POLICIES}, got {policy!r}")
        self.base = base
        self.policy = policy

    def __repr__(self) -> str:
        return f"OODPolicyModel({self.base!r}, policy={self.policy!r})"

    def _policy_tokens(self, batch: TokenBatch) -> NDArray[np.int64]:
        checks = check_rules(batch)
        d = checks.n_a - checks.n_b
        if self.policy == "extrapolate":
            tok = np.where(d > 0, B, np.where(d < 0, A, EOS))
        elif self.policy == "never":
            tok = np.where(d == 0, A, EOS)
        else:
            tok = np.full(len(batch), EOS)
        return np.where(checks.has_eos, PAD, tok).astype(np.int64)

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        exact = self.base.next_token_probs(batch)
        probs = exact.probs.copy()
        ood = np.flatnonzero(~exact.defined)
        if ood.size:
            sub = TokenBatch(batch.tokens[ood], batch.lengths[ood])
            probs[ood, self._policy_tokens(sub)] = 1.0
        return NextTokenProbs(probs, np.ones(len(batch), dtype=bool))


def f1_witnesses(base: AnbnDistribution, *, lam: float, prompt_length: int) -> dict[str, Predictor]:
    """The F1 witnesses: always / never extrapolate R1, and their λ-mixture over completions."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating)) or not 0 <= lam <= 1:
        raise InputError(f"lam must be a number in [0, 1], got {lam!r}")
    prompt_length = check_int(prompt_length, "prompt_length")
    ext = OODPolicyModel(base, "extrapolate")
    never = OODPolicyModel(base, "never")
    return {
        "extrapolate": ext,
        "never": never,
        "mixture": CompletionMixture([ext, never], [lam, 1 - lam], context_length=1 + prompt_length),
    }
