"""Rule extrapolation on any language of the grammar library (docs/sweeps.md §5).

The aⁿbⁿ experiment (arXiv 2405.01964, §4.2 and Appendix C) generalises to every language of
:mod:`exact.grammar.library` with its R1 rule on whole words (docs/grammars.md §6). For a
:class:`~learned.rule_extrapolation.config.DataConfig` naming such a language,
:func:`language_task` builds what training and evaluation need:

* the **test set**: every word of length ≤ ``word_length`` with positive probability
  (:meth:`~exact.grammar.base.WordDistribution.strings`), framed ``SOS w EOS PAD…``, with its
  exact log-probability under the *training law*: the language's law conditioned on
  ``|w| ≤ word_length``. The conditioning is explicit — ``log p(w) − log(1 − m)`` with the
  truncated mass ``m`` reported beside every result, 0 for the finite official laws;
* the **training batches**: ``batch_size`` words per step drawn from that law (one numpy
  generator per seed, stream ``data``), so the exact floor is the entropy of what is trained on;
* the **prompts**: the library's OOD and ID prompt classes of ``prompt_length`` symbols;
* the **completions** of the OOD prompts for the oracle and adversarial arms: the library's
  completer extends a prompt until R1 holds and EOS follows (oracle); the adversarial
  completion inserts the library's breaker before that EOS, so R1 fails by one symbol
  (aⁿbⁿ's official adversarial rows add one more minority symbol; both break R1 minimally);
* the greedy **rule rates** (:func:`rule_rates`): finished (EOS present, no terminal after the
  first EOS), and R1 on the word up to the first EOS over finished completions and over all prompts.

Token ids are the library's: terminals ``0..K−1``, then SOS, EOS, PAD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from exact.core.completions import Rule
from exact.core.rng import generator
from exact.core.validate import InputError
from exact.grammar.base import words_to_array
from exact.grammar.library import Language, language
from learned.rule_extrapolation.config import DataConfig
from learned.rule_extrapolation.data import SentenceSet

__all__ = ["LanguageTask", "SetSampler", "extended_completions", "language_task", "rule_rates"]

#: Longest completion the oracle and adversarial arms are trained on (a completer that needs more is refused).
MAX_COMPLETION = 64


@dataclass(frozen=True)
class LanguageTask:
    """One library language prepared for training and evaluation (see the module docstring)."""

    language: Language
    tests: SentenceSet
    truncated_mass: float
    ood: NDArray[np.int64]
    id: NDArray[np.int64]
    rule: Rule
    n_terminals: int
    eos: int
    pad: int

    def extended(self, variant: str) -> NDArray[np.int64]:
        return extended_completions(self, variant)


def _framed(words: NDArray[np.int64], lengths: NDArray[np.int64], width: int, sos: int, eos: int, pad: int) -> Any:
    n = lengths.size
    out = np.full((n, width), pad, dtype=np.int64)
    out[:, 0] = sos
    cols = np.arange(words.shape[1])[None, :]
    body = cols < lengths[:, None]
    out[:, 1 : 1 + words.shape[1]] = np.where(body, words, pad)
    out[np.arange(n), lengths + 1] = eos
    return out


@lru_cache(maxsize=16)
def _task(
    language_name: str, law: str, params: tuple[tuple[str, object], ...], word_length: int, k: int
) -> LanguageTask:
    lang = language(language_name, law or None, **dict(params))
    dist = lang.distribution
    v = dist.vocabulary
    strings = dist.strings(word_length)
    if len(strings) == 0:
        raise InputError(f"data.word_length={word_length}: {language_name} has no word that short")
    mass = float(strings.truncated_mass)
    if not mass < 1:  # pragma: no cover - a non-empty support has positive mass
        raise InputError(f"data.word_length={word_length} leaves no probability mass")
    log_cond = strings.log_probs - math.log1p(-mass)  # the law conditioned on |w| ≤ word_length
    width = word_length + 2
    tokens = _framed(strings.words, strings.lengths, width, v.sos, v.eos, v.pad)
    p = np.exp(log_cond)
    entropy = float(-(p * log_cond).sum())
    tests = SentenceSet(tokens, log_cond, strings.lengths + 1, entropy, entropy / (width - 1))
    prompts = lang.prompts(k)
    ood, idp = prompts["ood"], prompts["id"]
    if len(ood) == 0:
        raise InputError(f"train.prompt_length={k}: {language_name} has no OOD prompt of that length")
    if ood.tokens.shape[1] != int(ood.lengths.max()) or not np.all(ood.lengths == ood.lengths[0]):
        raise InputError(f"train.prompt_length={k}: the OOD prompts of {language_name} differ in length")
    rule = lang.rule("R1")
    return LanguageTask(lang, tests, mass, ood.tokens, idp.tokens, rule, v.n_terminals, v.eos, v.pad)


def language_task(cfg: DataConfig, prompt_length: int) -> LanguageTask:
    """The :class:`LanguageTask` of ``cfg`` (cached: the enumeration runs once per process)."""
    if cfg.language == "anbn":
        raise InputError("data.language='anbn' is the official aⁿbⁿ experiment (learned.rule_extrapolation.data)")
    params = tuple(sorted(cfg.language_kwargs().items()))
    return _task(cfg.language, cfg.language_law, params, cfg.word_length, int(prompt_length))


def _check_rule(task: LanguageTask, words: list[list[int]]) -> NDArray[np.bool_]:
    return task.rule.check(*words_to_array(words))


def extended_completions(task: LanguageTask, variant: str) -> NDArray[np.int64]:
    """The OOD prompts completed for the ``oracle`` (R1 holds) or ``adversarial`` (R1 broken) arm, PAD-padded."""
    if variant not in ("oracle", "adversarial"):
        raise InputError(f"variant must be 'oracle' or 'adversarial', got {variant!r}")
    name = task.language.name
    complete = task.language.completers["R1"]
    breaker = task.language.breakers["R1"]
    K, eos = task.n_terminals, task.eos
    rows = [list(r[1:]) for r in task.ood]  # words without SOS
    done = [False] * len(rows)
    for _ in range(MAX_COMPLETION):
        todo = [i for i, d in enumerate(done) if not d]
        if not todo:
            break
        nxt = complete(*words_to_array([rows[i] for i in todo]))
        for j, i in enumerate(todo):
            if int(nxt[j]) == eos:
                done[i] = True
            elif 0 <= int(nxt[j]) < K:
                rows[i].append(int(nxt[j]))
            else:
                raise InputError(f"the R1 completer of {name} emitted token {int(nxt[j])} (neither a terminal nor EOS)")
    if not all(done):
        raise InputError(f"the R1 completer of {name} needs more than {MAX_COMPLETION} symbols on some OOD prompt")
    holds = _check_rule(task, rows)
    if variant == "adversarial":
        rows = [[*w, breaker] for w in rows]
        broken = ~_check_rule(task, rows)
        if not broken[holds].all():
            raise InputError(f"the R1 breaker of {name} does not break R1 on every completed OOD prompt")
    sos = task.ood[0, 0]
    seqs = [[int(sos), *w, eos] for w in rows]
    width = max(len(r) for r in seqs)
    return np.array([r + [task.pad] * (width - len(r)) for r in seqs], dtype=np.int64)


class SetSampler:
    """``batch_size`` rows of the test set per step, drawn by its exact probabilities, one generator per seed."""

    def __init__(self, tests: SentenceSet, batch_size: int, seeds: tuple[int, ...]) -> None:
        p = np.exp(tests.log_prob)
        self._p = p / p.sum()  # the conditioned law up to float rounding
        self._tokens = tests.tokens
        self._batch = batch_size
        self.rngs = [generator(int(s), "data") for s in seeds]

    def draw(self) -> NDArray[np.int64]:
        """Token batch ``(n_seeds, batch_size, width)``."""
        return np.stack([self._tokens[rng.choice(len(self._p), size=self._batch, p=self._p)] for rng in self.rngs])

    def state(self) -> list[Any]:
        return [rng.bit_generator.state for rng in self.rngs]

    def set_state(self, states: list[Any]) -> None:
        for rng, st in zip(self.rngs, states, strict=True):
            rng.bit_generator.state = st


def rule_rates(task: LanguageTask, prompts: NDArray[np.int64], completions: NDArray[np.int64]) -> dict[str, float]:
    """Greedy rates of one model: ``finished``, ``r1_finished`` (over finished; 0 if none) and ``r1_all``.

    A completion is finished when it holds EOS, only terminals before the first EOS and no
    terminal after it; R1 is checked on the prompt's word followed by the completion up to that EOS.
    """
    K, eos = task.n_terminals, task.eos
    is_eos = completions == eos
    has = is_eos.any(axis=1)
    first = np.where(has, is_eos.argmax(axis=1), completions.shape[1])
    cols = np.arange(completions.shape[1])[None, :]
    after = cols > first[:, None]
    before = cols < first[:, None]
    fin = has & ~np.any(after & (completions < K), axis=1) & ~np.any(before & (completions >= K), axis=1)
    body = prompts[:, 1:]
    words = np.concatenate([body, completions], axis=1)
    lengths = body.shape[1] + first
    words = np.where(np.arange(words.shape[1])[None, :] < lengths[:, None], words, 0)
    r1 = task.rule.check(words, lengths.astype(np.int64)) & fin
    n, nf = fin.size, int(fin.sum())
    return {
        "finished": float(fin.mean()),
        "r1_finished": float(r1.sum() / nf) if nf else 0.0,
        "r1_all": float(r1.sum() / n),
        "n": n,
        "n_finished": nf,
    }
