"""Functional non-identifiability for any language and rule: models with ``KL(p‖q) = 0`` that
extrapolate a rule with probability 1, 0 or any ``λ`` (claim F1 beyond aⁿbⁿ, docs/paper.md §4.2).

All three copy the exact ``p`` on every prefix of positive probability, so by the chain rule
their KL to ``p`` is zero (docs/paper.md §2). On a prefix of probability zero:

* ``"extrapolate"`` emits the next token of a shortest completion making the rule hold (the
  language's *completer*; ``EOS`` once it holds): extrapolation probability 1 on every prompt
  whose rule can still be satisfied;
* ``"never"`` emits the language's *breaker* while the rule holds and ``EOS`` otherwise:
  probability 0;
* ``"mixture"`` is the ``λ``-mixture of the two over completions of prompts of
  ``context_length`` tokens (:class:`~exact.core.witnesses.CompletionMixture`): probability ``λ``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from exact.core.completions import words_of
from exact.core.predictor import Predictor
from exact.core.tokens import TokenBatch
from exact.core.validate import InputError, check_int, is_number
from exact.core.witnesses import CompletionMixture, PolicyModel
from exact.grammar.library import Language

__all__ = ["rule_witnesses"]


def rule_witnesses(language: Language, rule: str = "R1", *, lam: float, context_length: int) -> dict[str, Predictor]:
    """The witnesses ``extrapolate``, ``never`` and their ``λ``-``mixture`` for one rule of ``language``.

    Parameters
    ----------
    language : Language
    rule : str
        A rule on whole words with a completer and a breaker (``R1`` in the library).
    lam : float
        The mixture weight of ``extrapolate``, in ``[0, 1]``.
    context_length : int
        Length of the prompts (``SOS`` included) the mixture is over.
    """
    the_rule = language.rule(rule)
    if rule not in language.completers or the_rule.scope != "word":
        raise InputError(f"rule {rule!r} of {language.name} has no witness policies (only rules on whole words do)")
    if not is_number(lam) or not 0 <= float(lam) <= 1:
        raise InputError(f"lam must be a number in [0, 1], got {lam!r}")
    context_length = check_int(context_length, "context_length")
    base = language.distribution
    k = base.vocabulary.n_terminals
    eos = base.vocabulary.eos
    complete = language.completers[rule]
    breaker = language.breakers[rule]

    def extrapolate(batch: TokenBatch) -> NDArray[np.int64]:
        return complete(*words_of(batch, k))

    def never(batch: TokenBatch) -> NDArray[np.int64]:
        return np.where(the_rule.check(*words_of(batch, k)), breaker, eos).astype(np.int64)

    ext = PolicyModel(base, extrapolate, f"{language.name} {rule} extrapolate")
    nev = PolicyModel(base, never, f"{language.name} {rule} never")
    return {
        "extrapolate": ext,
        "never": nev,
        "mixture": CompletionMixture([ext, nev], [float(lam), 1 - float(lam)], context_length=context_length),
    }
