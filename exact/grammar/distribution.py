"""The exact distribution of a PCFG over words, as a predictor: prefix probabilities, conditionals, entropy.

:class:`GrammarDistribution` takes a :class:`~exact.grammar.pcfg.PCFG`, checks its consistency
(:mod:`exact.grammar.consistency`), builds the ε-free normal form
(:mod:`exact.grammar.normal_form`) and answers every query with one numba scan per word
(:mod:`exact.grammar._kernels`): string probabilities summed over all parses (ambiguous grammars
included), prefix probabilities, and next-token conditionals including ``EOS`` for every prefix
of every word at once.

Entropy (:meth:`GrammarDistribution.entropy`), in nats, of the word distribution:

* the *derivational entropy* ``H_d`` solves ``(I − M) H = h`` with ``h_A = −Σ p log p`` over
  the rules of ``A`` (Grenander 1967; Soule 1974); it is finite when ``ρ(M) < 1``. The word
  is a function of the derivation, so ``H(W) ≤ H_d``, with equality for an unambiguous grammar;
* enumeration of every word up to ``max_len`` gives ``Σ −P(w) log P(w) ≤ H(W)``.

For a grammar declared unambiguous (the library's grammars are), ``H(W) = H_d``; otherwise the
two give certified bounds. Both are widened outward by :data:`ENTROPY_SLACK` (relative) for
rounding.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numba
import numpy as np
from numpy.typing import NDArray

from exact.core.validate import InputError, InputTypeError, check_int
from exact.core.vocabulary import Vocabulary
from exact.grammar import _kernels as _k
from exact.grammar.base import ENTROPY_SLACK, MAX_PREFIXES, EntropyBounds, StringSet, WordDistribution
from exact.grammar.consistency import (
    Consistency,
    analyse,
    expectation_matrix,
    identity_minus_expectation,
    require_consistent,
)
from exact.grammar.normal_form import NormalForm, normal_form
from exact.grammar.pcfg import PCFG

__all__ = ["ENTROPY_SLACK", "MAX_ENUMERATION_WORK", "PARALLEL_MIN_ROWS", "GrammarDistribution", "derivational_entropy"]

#: Largest chart (inside probabilities of every span of one word) a scan may allocate, in bytes.
MAX_CHART_BYTES = 256 * 2**20

#: Largest work of one :meth:`GrammarDistribution.strings` (per chart column: its length plus the live spans
#: times the binary rules, about 6 ns each; 4e8 is 2–3 s per pass on one core). Deep prefix trees of dense
#: charts (``ban`` at ``max_len=64``) are slow long before they hold ``max_prefixes`` nodes.
MAX_ENUMERATION_WORK = 4 * 10**8

#: Batches of fewer words are scanned on one thread (on a busy machine, waiting for a second thread
#: costs more than the work it would take over).
PARALLEL_MIN_ROWS = 64


def derivational_entropy(g: PCFG) -> float:
    """``H_d(S)``, the entropy of the derivation tree (``inf`` when ``ρ(M) ≥ 1``)."""
    return _derivational_entropy(g)[0]


def _derivational_entropy(g: PCFG) -> tuple[float, float]:
    """``H_d(S)`` and a bound on its relative rounding error, ``4 n κ(I − M) u`` (``κ`` the 2-norm
    condition number): near criticality ``I − M`` is ill-conditioned and the bound grows with it."""
    m = expectation_matrix(g)
    n = len(g.nonterminals)
    if n and float(np.max(np.abs(np.linalg.eigvals(m)))) >= 1 - 1e-12:
        return math.inf, 0.0
    index = {a: i for i, a in enumerate(g.nonterminals)}
    h = np.zeros(n)
    for p in g.productions:
        if p.prob > 0:  # log p from 1 − p when p is near one: log1p keeps the digits that log(float(p)) loses
            if p.prob > Fraction(1, 2):
                log_p = math.log1p(float(p.prob - 1))
            elif float(p.prob) > 0:
                log_p = math.log(float(p.prob))
            else:  # below the float range (p_open=1e-1000): log of the exact rational, not of 0.0
                log_p = math.log(p.prob.numerator) - math.log(p.prob.denominator)
            h[index[p.lhs]] -= float(p.prob) * log_p
    a = identity_minus_expectation(g)
    return float(np.linalg.solve(a, h)[0]), 4 * n * float(np.linalg.cond(a)) * 2.0**-53


class GrammarDistribution(WordDistribution):
    """Exact word distribution of a consistent PCFG; a :class:`~exact.core.predictor.Predictor`.

    Parameters
    ----------
    grammar : PCFG
    renormalise : bool
        Condition an inconsistent grammar on finite derivations (the missing mass is kept in
        :attr:`consistency`); without it an inconsistent grammar is refused.
    unambiguous : bool
        Declare that every word has exactly one derivation, so that the entropy is the
        derivational entropy (exact) rather than an interval.

    Examples
    --------
    >>> from exact.grammar import parse_grammar
    >>> d = GrammarDistribution(parse_grammar("S -> a S b [0.7] | a b [0.3]"), unambiguous=True)
    >>> round(float(np.exp(d.log_prob(["aabb"])[0])), 15)  # 0.7 · 0.3
    0.21
    >>> probs, _ = d.conditionals_along(["aab"])
    >>> probs[0, 2].round(6).tolist()  # p(a | aa), p(b | aa), p(EOS | aa)
    [0.7, 0.3, 0.0]
    """

    def __init__(self, grammar: PCFG, *, renormalise: bool = False, unambiguous: bool = False) -> None:
        if not isinstance(grammar, PCFG):
            raise InputTypeError(f"grammar must be a PCFG, got {type(grammar).__name__}")
        for name, flag in (("renormalise", renormalise), ("unambiguous", unambiguous)):
            if not isinstance(flag, (bool, np.bool_)):
                raise InputTypeError(f"{name} must be a bool, got {type(flag).__name__} {flag!r}")
        self.original = grammar
        self.grammar, self.consistency = require_consistent(grammar, renormalise=renormalise)
        for rule in self.grammar.productions:  # the float engine would silently drop such a rule
            if 0 < rule.prob and float(rule.prob) < sys.float_info.min:
                raise InputError(
                    f"rule {rule.lhs} -> {' '.join(rule.rhs) or 'ε'} has probability about "
                    f"1e{math.log10(rule.prob.numerator) - math.log10(rule.prob.denominator):.0f}, below "
                    f"the float64 range ({sys.float_info.min:.3g}): the float engine would drop it; use a larger one"
                )
        self.unambiguous = bool(unambiguous)
        self.vocabulary = Vocabulary(grammar.terminals)
        self.normal: NormalForm = normal_form(self.grammar)
        nf = self.normal
        #: Words recomputed in plain log space because a product left the float range (for tests).
        self.flagged_rows = 0
        rules = (nf.lex, nf.bin_a, nf.bin_b, nf.bin_c, nf.bin_p, *nf.csr("ustar"))
        self._kernel_grammar = (rules, nf.csr("lcstar"), nf.log_nonempty, nf.log_empty)
        self._facts = self.consistency if self.grammar is grammar else analyse(self.grammar)

    def __repr__(self) -> str:
        return f"GrammarDistribution({self.grammar!r})"

    def _scan(
        self, words: NDArray[np.int64], lengths: NDArray[np.int64], every: bool
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        b = lengths.size
        width = words.shape[1]
        if lengths.size and int(lengths.max()) > width:
            raise InputError(f"lengths exceed the word matrix width {width}")
        if every or b < 2:
            return self._scan_rows(words, lengths, every)
        # A row that is a prefix of another row is read off that row's scan: in lexicographic
        # order (shorter first) a word that prefixes some word prefixes its successor, so each row
        # maps to the next row that prefixes nothing (a leaf); only leaves are scanned.
        padded = np.where(np.arange(width)[None, :] < lengths[:, None], words, -1)
        order = np.lexsort(padded.T[::-1]) if width else np.arange(b)
        sw, sl = padded[order], lengths[order]
        nxt_w, nxt_l = sw[1:], sl[1:]
        cols = np.arange(width)[None, :]
        prefixes_next = (sl[:-1] <= nxt_l) & np.all((nxt_w == sw[:-1]) | (cols >= sl[:-1, None]), axis=1)
        leaf = np.append(~prefixes_next, True)
        leaf_pos = np.flatnonzero(leaf)
        owner = leaf_pos[np.searchsorted(leaf_pos, np.arange(b))]  # the first leaf at or after each row
        leaves = order[leaf_pos]
        pre_l, str_l, nxt_l3 = self._scan_rows(np.ascontiguousarray(words[leaves]), lengths[leaves], True)
        at = np.searchsorted(leaf_pos, owner)  # index among leaves
        rows = np.empty(b, dtype=np.int64)
        rows[order] = at
        pre = np.full((b, width + 1), -np.inf)
        strp = np.full((b, width + 1), -np.inf)
        t = np.arange(width + 1)[None, :]
        keep = t <= lengths[:, None]
        pre[keep] = pre_l[rows][keep]
        strp[keep] = str_l[rows][keep]
        nxt = nxt_l3[rows, lengths][:, None, :]
        return pre, strp, np.ascontiguousarray(nxt)

    def _check_chart(self, length: int, name: str) -> None:
        need = length * length * (8 * self.normal.n_nonterminals + 16)
        if need > MAX_CHART_BYTES:
            raise InputError(
                f"{name}: a word of length {length} needs a chart of {need / 2**20:,.0f} MiB "
                f"({self.normal.n_nonterminals} normal-form nonterminals), above the limit of "
                f"{MAX_CHART_BYTES / 2**20:,.0f} MiB (exact.grammar.distribution.MAX_CHART_BYTES)"
            )

    def _scan_rows(
        self, words: NDArray[np.int64], lengths: NDArray[np.int64], every: bool
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        self._check_chart(int(lengths.max(initial=0)), "words")
        b = lengths.size
        width = words.shape[1]
        pre = np.full((b, width + 1), -np.inf)
        strp = np.full((b, width + 1), -np.inf)
        nxt = np.full((b, width + 1 if every else 1, self.vocabulary.n_terminals), -np.inf)
        flagged = np.zeros(b, dtype=np.int64)
        threads = numba.get_num_threads()  # numba's thread count is per calling thread
        if b < PARALLEL_MIN_ROWS:
            numba.set_num_threads(1)
        try:
            _k.scan(
                np.ascontiguousarray(words, dtype=np.int64),
                np.ascontiguousarray(lengths, dtype=np.int64),
                *self._kernel_grammar,
                pre,
                strp,
                nxt,
                every,
                flagged,
            )
        finally:
            numba.set_num_threads(threads)
        rows = np.flatnonzero(flagged)
        if rows.size:  # a product left the float range: those words again, in plain log space
            nf = self.normal
            with np.errstate(divide="ignore"):
                logs = (
                    np.log(nf.lex),
                    nf.bin_a,
                    nf.bin_b,
                    nf.bin_c,
                    np.log(nf.bin_p),
                    np.log(nf.ustar),
                    np.log(nf.lcstar),
                )
            for r in rows:
                _k.scan_log_row(
                    np.ascontiguousarray(words[r]), lengths[r], *logs, nf.log_nonempty, nf.log_empty,
                    pre[r], strp[r], nxt[r], every,
                )  # fmt: skip
            self.flagged_rows += int(rows.size)
        return pre, strp, nxt

    def strings(self, max_len: int, *, max_prefixes: int = MAX_PREFIXES) -> StringSet:
        """Every word of length ≤ ``max_len`` with ``P(w) > 0`` (lexicographic in token ids), and the exact
        truncated mass; refused when more than ``max_prefixes`` prefixes would be visited.

        One depth-first pass over the prefix tree, each node extending its parent's chart by one
        column; a counting pass first, so the output is allocated at its exact size.
        """
        L = check_int(max_len, "max_len", minimum=0)
        cap = check_int(max_prefixes, "max_prefixes")
        self._check_chart(L, "max_len")
        counts = np.zeros(5, dtype=np.int64)
        empty_w, empty_f, empty_i = np.zeros((0, max(L, 1)), np.int64), np.zeros(0), np.zeros(0, np.int64)
        grammar = self._kernel_grammar
        _k.enumerate_words(L, cap, MAX_ENUMERATION_WORK, False, *grammar, empty_w, empty_f, empty_i, counts)
        if counts[2] == 1:  # the counting pass stopped: nothing large was allocated
            raise InputError(
                f"enumerating words up to max_len={L} visits more than max_prefixes={cap:,} prefixes "
                "(the counting pass stopped there; nothing was allocated); lower max_len or raise max_prefixes"
            )
        if counts[2] == 2:
            raise InputError(
                f"enumerating words up to max_len={L} would take more than {MAX_ENUMERATION_WORK:.0e} chart steps "
                f"(exact.grammar.distribution.MAX_ENUMERATION_WORK; stopped after {int(counts[1]):,} of at most "
                f"max_prefixes={cap:,} prefixes, nothing was allocated); lower max_len"
            )
        if counts[3]:  # a product left the float range: enumerate level by level, rows in log space
            return super().strings(L, max_prefixes=cap)
        n = int(counts[0])
        words = np.zeros((n, L), dtype=np.int64)
        logp = np.zeros(n)
        lengths = np.zeros(n, dtype=np.int64)
        truncated = _k.enumerate_words(
            L,
            cap,
            MAX_ENUMERATION_WORK,
            True,
            *grammar,
            words if L else np.zeros((n, 1), np.int64),
            logp,
            lengths,
            counts,
        )
        return StringSet(words, lengths, logp, float(truncated), L, int(counts[1]))

    def max_word_length(self) -> int | None:
        """Length of the longest word (``None`` when the language is infinite), from the normal form:
        the longest-derivation recursion, which grows without bound exactly when a binary rule lies
        on a cycle (Bellman–Ford on the rule graph)."""
        nf = self.normal
        n = nf.n_nonterminals
        best = np.where(np.any(nf.lex > 0, axis=1), 1.0, -np.inf)
        for _ in range(2 * n + 2):
            new = best.copy()
            for a, b in zip(*np.nonzero(nf.unary)):
                new[a] = max(new[a], best[b])
            for a, b, c in zip(nf.bin_a, nf.bin_b, nf.bin_c):
                new[a] = max(new[a], best[b] + best[c])
            if np.array_equal(new, best):
                break
            best = new
        else:
            return None
        if math.isinf(nf.log_nonempty):
            return 0
        return int(best[0])

    def expected_length(self) -> float | None:
        """``E[|w|]`` of the (renormalised) grammar; ``None`` when infinite (``ρ(M) ≥ 1``)."""
        return self._facts.expected_length

    def derivational_entropy(self) -> float:
        """``H_d`` of the (renormalised) grammar: an upper bound on the word entropy, equal for unambiguous grammars."""
        return derivational_entropy(self.grammar)

    def entropy(self, max_len: int = 20, *, strings: StringSet | None = None) -> EntropyBounds:
        """Entropy of the word distribution (see the module docstring); ``strings`` reuses an enumeration."""
        found = self.strings(max_len) if strings is None or strings.max_len != max_len else strings
        lower = found.entropy_terms()
        hd, hd_error = _derivational_entropy(self.grammar)
        longest = self.max_word_length()
        relative = ENTROPY_SLACK
        if longest is not None and found.max_len >= longest:  # finite support, all listed: the sum is the entropy
            exact: float | None = lower
            method = "enumeration (finite support)"
            upper = lower
        elif self.unambiguous and not math.isinf(hd):
            exact, method = hd, "derivational entropy (declared unambiguous)"
            upper = lower = hd
            relative = max(relative, hd_error)
        else:
            exact, method, upper = None, "enumeration to max_len, derivational entropy above", hd
            relative = max(relative, hd_error)
        slack = relative * max(1.0, abs(upper) if not math.isinf(upper) else 1.0)
        return EntropyBounds(
            lower=max(0.0, lower - slack),
            upper=upper + slack,
            exact=exact,
            method=method,
            max_len=found.max_len,
            truncated_mass=found.truncated_mass,
        )

    def summary(self) -> dict[str, object]:
        """Consistency facts and sizes, for reports and ``nonident grammar``."""
        c: Consistency = self.consistency
        return {
            **c.as_dict(),
            "renormalised": self.grammar is not self.original,
            "nonterminals": len(self.grammar.nonterminals),
            "terminals": list(self.grammar.terminals),
            "productions": len(self.grammar.productions),
            "normal_form_nonterminals": self.normal.n_nonterminals,
            "normal_form_binary_rules": int(self.normal.bin_a.size),
            "empty_word_probability": math.exp(self.normal.log_empty),
        }
