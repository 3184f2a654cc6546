"""Models built from other models: generic witnesses of non-identifiability for any language.

* :class:`PolicyModel` — a base predictor on its support, a deterministic policy everywhere else
  (where the base has no conditional): by the chain rule ``KL(base‖q) = 0`` whatever the policy
  does (docs/paper.md §2, §4.2);
* :class:`CompletionMixture` — a mixture of models as distributions over completions of a prompt
  of fixed length;
* :class:`OverrideModel` — a model with chosen rows replaced (the building block of negative
  controls).

Token ids follow :class:`~exact.core.vocabulary.Vocabulary` (terminals, then ``SOS``, ``EOS``,
``PAD``); after an ``EOS`` a policy emits ``PAD``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp

from exact.core.predictor import NextTokenProbs, Predictor, sequence_log_prob
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, InputTypeError, check_int

__all__ = ["CompletionMixture", "OverrideModel", "PolicyModel"]


class PolicyModel:
    """``base`` where it defines a conditional, ``policy`` (one token per prefix) elsewhere.

    Parameters
    ----------
    base : Predictor
        Typically an exact data distribution, whose rows are undefined off its support.
    policy : callable ``TokenBatch -> int array``
        The token to emit with probability one on each prefix where ``base`` is undefined.
        Prefixes that already contain ``EOS`` get ``PAD`` without asking the policy.
    name : str
        For ``repr`` and reports.
    """

    def __init__(
        self, base: Predictor, policy: Callable[[TokenBatch], NDArray[np.int64]], name: str = "policy"
    ) -> None:
        if not callable(policy):
            raise InputTypeError(f"policy must be callable, got {type(policy).__name__}")
        self.base = base
        self.policy = policy
        self.name = name
        self.vocab_size = int(base.vocab_size)

    def __repr__(self) -> str:
        return f"PolicyModel({self.base!r}, {self.name!r})"

    def next_token_probs(self, batch: TokenBatch) -> NextTokenProbs:
        exact = self.base.next_token_probs(batch)
        probs = exact.probs.copy()
        ood = np.flatnonzero(~exact.defined)
        if ood.size:
            sub = batch.select(ood)
            eos, pad = self.vocab_size - 2, self.vocab_size - 1
            valid = np.arange(sub.tokens.shape[1])[None, :] < sub.lengths[:, None]
            ended = np.any((sub.tokens == eos) & valid, axis=1)
            tok = np.full(ood.size, pad, dtype=np.int64)
            if (~ended).any():
                chosen = np.asarray(self.policy(sub.select(np.flatnonzero(~ended))), dtype=np.int64)
                if chosen.shape != (int((~ended).sum()),) or np.any((chosen < 0) | (chosen >= self.vocab_size)):
                    raise InputError(
                        f"policy {self.name!r} must return one token id in 0..{self.vocab_size - 1} per prefix"
                    )
                tok[~ended] = chosen
            probs[ood, tok] = 1.0
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
            sub = batch.select(todo)
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
