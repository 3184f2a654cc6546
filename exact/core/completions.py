"""Certified probability that a predictor completes a prompt so that a rule holds — for any rule.

A *rule* is a vectorised predicate on words (terminal-id rows; :class:`Rule`). For a prompt ``s``
(typically out of distribution, ``p(s) = 0``) and a model ``q``, the extrapolation probability of
a rule is the ``q``-mass of completions ``c`` that end with ``EOS`` and satisfy the rule — on the
whole word ``s c`` (``scope="word"``) or on the completion alone (``scope="completion"``, the
official "completion accuracy").

Token ids follow :class:`~exact.core.vocabulary.Vocabulary`: terminals ``0..K−1``, then ``SOS``,
``EOS``, ``PAD`` (``K = vocab_size − 3``; aⁿbⁿ's ids are the case ``K = 2``).

Unlike greedy decoding scored on "finished" outputs only (the official protocol, docs/paper.md
§5.5), this expands the whole tree of completions: every node is a prefix ``s c``; its children
are the tokens with ``q(y | s c) > 0``. A child ``EOS`` ends the completion and the rules are
checked on it; ``SOS`` or ``PAD`` before ``EOS`` makes it malformed (failing, not expanded).
Nodes deeper than ``max_completion_length``, lighter than ``prune_below`` or beyond ``max_nodes``
are not expanded; their mass is *unexplored*, so the true probability lies in
``[found, found + unexplored]``.

Certification. Each path mass is a product of at most ``D`` floats and each total a sum of at
most ``m`` of them, so floating-point error is at most a factor ``1 ± γ`` with
``γ = n u / (1 − n u)``, ``n = D + m``, ``u = 2⁻⁵³`` (Higham, *Accuracy and Stability of
Numerical Algorithms*, §3.1, §4.2). Rows of the predictor sum to one only within
``ROW_SUM_TOL`` (enforced by :class:`~exact.core.predictor.NextTokenProbs`), so the mass of an
unexplored subtree is bounded by its root mass times ``σᴰ`` with ``σ = 1 + ROW_SUM_TOL``. The
interval is widened by both factors, by ``2⁻¹⁰⁷⁴`` per rounding for the subnormal range, and
rounded outward. It certifies the probability under the float rows the predictor returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from exact.core.predictor import Predictor
from exact.core.tokens import TokenBatch
from exact.core.validate import ROW_SUM_TOL, InputError, InputTypeError, check_int, is_integer

__all__ = ["SCOPES", "CompletionProbabilities", "Rule", "completion_probabilities", "words_of"]

SCOPES = ("word", "completion")
_U = 2.0**-53


def _gamma(n: int) -> float:
    return n * _U / (1 - n * _U)


@dataclass(frozen=True)
class Rule:
    """A named rule of a language, checked on words.

    Attributes
    ----------
    name : str — e.g. ``"R1"``.
    description : str — e.g. ``"#a = #b"``.
    holds : callable ``(words, lengths) -> bool array`` — ``words`` an int64 ``(batch, width)``
        matrix of terminal ids (entries past ``lengths`` are 0 and must be ignored).
    scope : ``"word"`` (prompt and completion together), ``"completion"`` (the completion alone)
        or an int ``k`` (the word without its first ``k`` symbols — the follow-up study checks
        Dyck R2 on everything after the two forced prompt symbols).
    """

    name: str
    description: str
    holds: Callable[[NDArray[np.int64], NDArray[np.int64]], NDArray[np.bool_]]
    scope: str | int = "word"

    def __post_init__(self) -> None:
        ok = self.scope in SCOPES if isinstance(self.scope, str) else is_integer(self.scope) and self.scope >= 0
        if not ok:
            raise InputError(f"scope must be one of {SCOPES} or an int ≥ 0, got {self.scope!r}")
        if not callable(self.holds):
            raise InputTypeError(f"holds must be callable, got {type(self.holds).__name__}")

    def check(self, words: NDArray[np.int64], lengths: NDArray[np.int64]) -> NDArray[np.bool_]:
        """``holds`` with padding zeroed and the result checked to be one bool per row."""
        inside = np.arange(words.shape[1])[None, :] < lengths[:, None]
        out = np.asarray(self.holds(np.where(inside, words, 0), lengths))
        if out.shape != lengths.shape or out.dtype != np.bool_:
            raise InputError(f"rule {self.name}: holds must return one bool per word, got {out.dtype} {out.shape}")
        return out


def words_of(batch: TokenBatch, n_terminals: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The terminal word of each row: the tokens after a leading ``SOS`` up to the first non-terminal."""
    tok = batch.tokens
    width = tok.shape[1]
    pos = np.arange(width)[None, :]
    start = np.where((batch.lengths > 0) & (tok[:, 0] == n_terminals), 1, 0) if width else np.zeros(len(batch), int)
    special = (tok >= n_terminals) & (pos >= start[:, None]) & (pos < batch.lengths[:, None])
    stop = np.where(special.any(axis=1), np.argmax(special, axis=1), batch.lengths)
    lengths = np.maximum(stop - start, 0)
    idx = np.minimum(start[:, None] + np.arange(max(width, 1))[None, : max(width, 1)], max(width - 1, 0))
    words = tok[np.arange(len(batch))[:, None], idx] if width else np.zeros((len(batch), 0), np.int64)
    words = np.where(np.arange(words.shape[1])[None, :] < lengths[:, None], words, 0)
    return words, lengths.astype(np.int64)


@dataclass(frozen=True)
class CompletionProbabilities:
    """Certified per-prompt probabilities that a completion ends and satisfies each rule.

    Attributes
    ----------
    rules : tuple of rule names (rows of ``lower``/``upper``).
    lower, upper : float64 (n_rules, n_prompts) — the certified interval per rule and prompt.
    ended : float64 (n_prompts,) — mass found ending with EOS.
    malformed : float64 (n_prompts,) — mass with SOS or PAD before EOS.
    unexplored : float64 (n_prompts,) — mass not expanded (depth, pruning, node cap).
    """

    rules: tuple[str, ...]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    ended: NDArray[np.float64]
    malformed: NDArray[np.float64]
    unexplored: NDArray[np.float64]
    max_completion_length: int
    nodes_expanded: int

    def interval(self, rule: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(lower, upper)`` of one rule."""
        if rule not in self.rules:
            raise InputError(f"rule must be one of {list(self.rules)}, got {rule!r}")
        i = self.rules.index(rule)
        return self.lower[i], self.upper[i]

    def summary(self) -> dict[str, float | int]:
        """Means over prompts of each bound (a mean of intervals is an interval)."""
        out: dict[str, float | int] = {"prompts": int(self.ended.size)}
        for i, name in enumerate(self.rules):
            out[f"{name}_lower"] = float(np.mean(self.lower[i]))
            out[f"{name}_upper"] = float(np.mean(self.upper[i]))
        out["unexplored_max"] = float(np.max(self.unexplored, initial=0.0))
        out["nodes_expanded"] = self.nodes_expanded
        return out


def completion_probabilities(
    predictor: Predictor,
    prompts: TokenBatch,
    rules: Sequence[Rule],
    *,
    max_completion_length: int = 32,
    prune_below: float = 0.0,
    max_nodes: int = 1_000_000,
) -> CompletionProbabilities:
    """Certified probability, per prompt and rule, that ``predictor`` ends a completion satisfying the rule.

    Parameters
    ----------
    predictor : Predictor
        Must define every conditional it is asked for (a data distribution has none on OOD
        prompts and raises :class:`~exact.core.predictor.UndefinedConditionalError`).
    prompts : TokenBatch
        ``SOS`` plus terminal tokens, e.g. all length-8 OOD prompts.
    rules : sequence of Rule
    max_completion_length : int
        Completions longer than this (EOS included) are not explored.
    prune_below : float
        Nodes of smaller mass are not expanded (their mass counts as unexplored).
    max_nodes : int
        At most this many open nodes per depth; the lightest beyond it are unexplored.
    """
    L = check_int(max_completion_length, "max_completion_length")
    cap = check_int(max_nodes, "max_nodes")
    if not (isinstance(prune_below, (int, float)) and not isinstance(prune_below, bool) and 0 <= prune_below < 1):
        raise InputError(f"prune_below must lie in [0, 1), got {prune_below!r}")
    if not isinstance(prompts, TokenBatch):
        raise InputTypeError(f"prompts must be a TokenBatch, got {type(prompts).__name__}")
    if len(prompts) == 0:
        raise InputError("prompts is empty")
    rules = tuple(rules)
    if not rules or not all(isinstance(r, Rule) for r in rules):
        raise InputTypeError("rules must be a non-empty sequence of Rule")
    V = int(predictor.vocab_size)
    if prompts.vocab_size != V:
        raise InputError(f"prompts.vocab_size={prompts.vocab_size} does not match the predictor's vocab_size={V}")
    K = V - 3
    if K < 1:
        raise InputError(f"the predictor's vocab_size={V} leaves no terminals (terminals, then SOS, EOS, PAD)")
    eos = K + 1
    n = len(prompts)
    inside = np.arange(prompts.tokens.shape[1])[None, :] < prompts.lengths[:, None]
    body = inside & (np.arange(prompts.tokens.shape[1])[None, :] >= 1)
    framed = (prompts.lengths >= 1) & (prompts.tokens[:, 0] == K) & ~np.any(body & (prompts.tokens >= K), axis=1)
    if not framed.all():
        i = int(np.flatnonzero(~framed)[0])
        raise InputError(
            f"prompts[{i}] = {prompts.row(i).tolist()} must be SOS (id {K}) followed by terminal ids 0..{K - 1}"
        )
    hits = np.zeros((len(rules), n))
    ended = np.zeros(n)
    malformed = np.zeros(n)
    unexplored = np.zeros(n)
    terms = np.zeros(n, dtype=np.int64)
    prompt_len = prompts.lengths.copy()

    owner = np.arange(n)
    frontier = prompts
    mass = np.ones(n)
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

        stop = np.flatnonzero(toks == eos)
        np.add.at(ended, who[stop], child_mass[stop])
        if stop.size:
            done = frontier.select(rows[stop])
            words, wlen = words_of(done, K)
            start = prompt_len[who[stop]] - 1  # the completion starts after SOS and the prompt body
            for i, rule in enumerate(rules):
                if rule.scope == "word":
                    ok = rule.check(words, wlen)
                else:
                    skip = start if rule.scope == "completion" else np.full(stop.size, int(rule.scope))
                    ok = rule.check(*_suffix(words, wlen, skip))
                np.add.at(hits[i], who[stop[ok]], child_mass[stop[ok]])
        bad = (toks != eos) & (toks >= K)
        np.add.at(malformed, who[bad], child_mass[bad])

        go = np.flatnonzero(toks < K)
        light = child_mass[go] < prune_below
        np.add.at(unexplored, who[go[light]], child_mass[go[light]])
        go = go[~light]
        if go.size > cap:
            order = np.argsort(-child_mass[go], kind="stable")
            np.add.at(unexplored, who[go[order[cap:]]], child_mass[go[order[cap:]]])
            go = go[order[:cap]]
        frontier = frontier.select(rows[go]).extend(toks[go])
        owner = owner[rows[go]]
        mass = child_mass[go]
    np.add.at(unexplored, owner, mass)
    np.add.at(terms, owner, 1)

    m = int(terms.max(initial=0))
    gamma = _gamma(L + 1 + m + 8)  # 8 spare roundings for the bound arithmetic itself
    # Rows are validated to sum to at most 1 + ROW_SUM_TOL, also those never queried
    # below a pruned node, so a subtree weighs at most its root times this factor.
    growth = ((1 + ROW_SUM_TOL) * (1 + _gamma(V))) ** L
    # Relative bounds fail in the subnormal range: allow an absolute 2⁻¹⁰⁷⁴ per rounding.
    tiny = (L + 1) * (m + 1) * 2.0**-1074
    with np.errstate(under="ignore"):
        lower = np.maximum(np.nextafter(hits * (1 - gamma) - tiny, -np.inf), 0.0)
        upper = np.nextafter((hits + unexplored * growth) * (1 + gamma) + tiny, np.inf)
    return CompletionProbabilities(
        rules=tuple(r.name for r in rules),
        lower=lower,
        upper=upper,
        ended=ended,
        malformed=malformed,
        unexplored=unexplored,
        max_completion_length=L,
        nodes_expanded=expanded,
    )


def _suffix(
    words: NDArray[np.int64], lengths: NDArray[np.int64], start: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``words[r, start[r]:lengths[r]]`` of each row, left-aligned."""
    width = words.shape[1]
    idx = np.minimum(start[:, None] + np.arange(width)[None, :], max(width - 1, 0))
    out = words[np.arange(words.shape[0])[:, None], idx] if width else words
    cl = np.maximum(lengths - start, 0)
    return np.where(np.arange(width)[None, :] < cl[:, None], out, 0), cl
