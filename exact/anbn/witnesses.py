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

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

from exact.anbn.distribution import AnbnDistribution
from exact.anbn.rules import check_rules
from exact.core.predictor import NextTokenProbs, Predictor, sequence_log_prob
from exact.core.tokens import EOS, PAD, VOCAB_SIZE, A, B, TokenBatch
from exact.core.validate import InputError, check_int

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


class CompletionMixture:
    """Mixture of models over completions of prompts of ``context_length`` tokens.

    ``q(y | s) = Σ_i π_i(s) q_i(y | s)`` with ``π_i(s) ∝ w_i Π_{t ≥ context_length}
    q_i(s_t | s_<t)``, the posterior of component ``i`` given the tokens after the
    context. Where no component explains the completion so far, the prior
    weights are used. Where all components give the same row, that row is
    returned bit-for-bit.

    The mixture is over completions of prompts of exactly ``context_length``
    tokens: on shorter or longer prompts the posterior is taken over a different
    stretch of tokens and the extrapolation probability is generally not ``Σ w_i e_i``.

    Parameters
    ----------
    components : sequence of Predictor
    weights : sequence of float
        Non-negative, summing to one.
    context_length : int
        Length of the prompt including ``SOS`` (``1 + k`` for a k-token prompt).
    """

    def __init__(self, components: Sequence[Predictor], weights: Sequence[float], context_length: int) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if len(components) == 0 or w.shape != (len(components),):
            raise InputError(f"weights must have one entry per component ({len(components)}), got {w.shape}")
        if np.any(w < 0) or abs(w.sum() - 1) > 1e-12:
            raise InputError(f"weights must be non-negative and sum to 1, got {w.tolist()}")
        context_length = check_int(context_length, "context_length")
        self.components = list(components)
        self.weights = w
        self.context_length = int(context_length)
        self.vocab_size = components[0].vocab_size

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        rows = np.stack([c.next_token_probs(batch).require_defined() for c in self.components])
        agree = np.all(rows == rows[:1], axis=(0, 2))
        out = rows[0].copy()
        todo = np.flatnonzero(~agree)
        if todo.size:
            sub = TokenBatch(batch.tokens[todo], batch.lengths[todo])
            with np.errstate(divide="ignore"):
                log_post = np.log(self.weights)[:, None] + np.stack(
                    [sequence_log_prob(c, sub, start=self.context_length) for c in self.components]
                )
            dead = np.all(log_post == -np.inf, axis=0)
            with np.errstate(divide="ignore"):
                log_post[:, dead] = np.log(self.weights)[:, None]
            post = np.exp(log_post - logsumexp(log_post, axis=0, keepdims=True))
            out[todo] = np.einsum("ib,ibv->bv", post, rows[:, todo])
        return NextTokenProbs(out, np.ones(len(batch), dtype=bool))


class OverrideModel:
    """``base`` everywhere except at the listed prefixes, where the given rows are used.

    The building block of negative controls (a model that differs from ``p`` on
    a positive-probability prefix must have ``KL(p‖q) > 0``) and of Lemma L1.

    Parameters
    ----------
    base : Predictor
        Must define every row it is asked for outside ``overrides``.
    overrides : mapping from a token tuple to a probability row
    """

    def __init__(self, base: Predictor, overrides: Mapping[tuple[int, ...], Sequence[float]]) -> None:
        self.base = base
        self.vocab_size = base.vocab_size
        self.overrides = {}
        for prefix, row in overrides.items():
            r = np.asarray(row, dtype=np.float64)
            if r.shape != (self.vocab_size,) or np.any(r < 0) or abs(r.sum() - 1) > 1e-12:
                raise InputError(
                    f"overrides[{prefix}] must be a probability row of length {self.vocab_size}, got {row!r}"
                )
            self.overrides[tuple(int(t) for t in prefix)] = r

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        base = self.base.next_token_probs(batch)
        probs, defined = base.probs.copy(), base.defined.copy()
        for i in range(len(batch)):
            row = self.overrides.get(tuple(batch.row(i).tolist()))
            if row is not None:
                probs[i], defined[i] = row, True
        return NextTokenProbs(probs, defined)


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
