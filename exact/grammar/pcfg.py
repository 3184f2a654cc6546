"""Probabilistic context-free grammars: the data, its validation and its exact bookkeeping.

A :class:`PCFG` is a start symbol and a list of :class:`Production` s ``A → X₁…Xₘ [p]``
(``m = 0`` is an ε rule). A symbol is a *nonterminal* if it is the left-hand side of
some production; every other symbol is a *terminal*. Probabilities are kept as exact
:class:`~fractions.Fraction` s: a decimal written in a grammar file (``0.7``) is the
rational it spells, a Python ``float`` is the binary rational it holds.

Validation (:meth:`PCFG.__init__`) refuses, naming the symbols:

* probabilities that are negative, NaN or infinite, and left-hand sides whose rule
  probabilities do not sum to one (exactly when every probability of that left-hand
  side was given exactly — ``str``, ``int`` or ``Fraction`` — and within
  :data:`FLOAT_SUM_TOL` when one of them is a ``float``);
* symbols declared as terminals that also have rules, and right-hand-side symbols that are
  neither (when ``terminals`` is given);
* nonterminals unreachable from the start symbol, and *useless* (non-productive)
  nonterminals, which derive no finite string.

Consistency (the probability that a derivation is finite) is a separate question,
answered by :func:`exact.grammar.consistency.analyse`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from exact.core.validate import (
    MAX_DECIMAL_EXPONENT,
    MAX_NUMBER_TEXT,
    InputError,
    InputTypeError,
    check_number_text,
    is_number,
)

__all__ = [
    "FLOAT_SUM_TOL",
    "MAX_DECIMAL_EXPONENT",
    "MAX_NUMBER_TEXT",
    "PCFG",
    "Production",
    "as_probability",
    "check_number_text",
]

#: Tolerance on a left-hand side's probability sum when some of its probabilities are floats.
FLOAT_SUM_TOL = 1e-9


def as_probability(value: object, name: str) -> tuple[Fraction, bool]:
    """``value`` as an exact non-negative rational, and whether it was given exactly (not as a float).

    Accepts ``int``, ``Fraction``, ``float``/NumPy floats and strings such as ``"0.7"``
    or ``"1/3"``. Raises :class:`InputError` for negative, NaN, infinite or malformed values.
    """
    exact = True
    if isinstance(value, Fraction):
        q = value
    elif isinstance(value, str):
        check_number_text(value, name)
        try:
            q = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise InputError(f"{name} must be a probability such as 0.7 or 1/3, got {value!r}") from None
    elif is_number(value):
        x = float(value)  # type: ignore[arg-type]
        if not math.isfinite(x):
            raise InputError(f"{name} must be a finite probability, got {value!r}")
        exact = isinstance(value, (int, np.integer))
        q = Fraction(int(value)) if exact else Fraction(x)  # type: ignore[call-overload]
    else:
        raise InputTypeError(f"{name} must be a number, Fraction or string, got {type(value).__name__} {value!r}")
    if q < 0 or q > 1:
        raise InputError(f"{name} must lie in [0, 1], got {value!r}")
    return q, exact


@dataclass(frozen=True)
class Production:
    """One rule ``lhs → rhs [prob]``; ``rhs == ()`` is an ε rule."""

    lhs: str
    rhs: tuple[str, ...]
    prob: Fraction

    def __str__(self) -> str:
        body = " ".join(_quote(s) for s in self.rhs) if self.rhs else "ε"
        return f"{self.lhs} -> {body} [{self.prob}]"


def _quote(symbol: str) -> str:
    return symbol if symbol.isidentifier() or symbol in "()[]{}<>" else repr(symbol)


class PCFG:
    """A validated probabilistic context-free grammar.

    Parameters
    ----------
    productions : iterable of (lhs, rhs, prob)
        ``rhs`` a sequence of symbols (``()`` for ε); ``prob`` as in :func:`as_probability`.
        Several productions may share a left-hand side; together they must sum to one.
    start : str, optional
        The start symbol (default: the left-hand side of the first production).
    terminals : sequence of str, optional
        The terminal alphabet, in token-id order. When given, a right-hand-side symbol
        that is neither a nonterminal nor listed is an *undefined symbol* error, and listed
        terminals that no rule uses are kept (they get token ids but probability zero).
        Default: terminals in order of first appearance.

    Examples
    --------
    >>> g = PCFG([("S", ("a", "S", "b"), "0.7"), ("S", ("a", "b"), "0.3")])
    >>> g.terminals, g.nonterminals
    (('a', 'b'), ('S',))
    >>> print(g)
    S -> 'a' S 'b' [7/10]
    S -> 'a' 'b' [3/10]
    """

    def __init__(
        self,
        productions: Iterable[tuple[str, Sequence[str], object]] | Iterable[Production],
        *,
        start: str | None = None,
        terminals: Sequence[str] | None = None,
    ) -> None:
        prods: list[Production] = []
        exact_by_lhs: dict[str, bool] = {}
        if isinstance(productions, (str, bytes)) or not hasattr(productions, "__iter__"):
            raise InputTypeError(
                f"productions must be an iterable of (lhs, rhs, prob) triples, got {type(productions).__name__}"
            )
        for i, item in enumerate(productions):
            if isinstance(item, Production):
                lhs, rhs, raw = item.lhs, item.rhs, item.prob
            else:
                try:
                    lhs, rhs, raw = item  # type: ignore[misc]
                except (TypeError, ValueError):
                    raise InputTypeError(
                        f"productions[{i}] must be a (lhs, rhs, prob) triple, got {type(item).__name__} {item!r}"
                    ) from None
            if not isinstance(rhs, str) and hasattr(rhs, "__iter__"):
                rhs = tuple(rhs)  # a generator is read once, here
            if not isinstance(lhs, str) or not lhs:
                raise InputTypeError(f"productions[{i}]: the left-hand side must be a non-empty str, got {lhs!r}")
            if isinstance(rhs, str) or not all(isinstance(s, str) and s for s in rhs):
                raise InputTypeError(
                    f"productions[{i}]: the right-hand side must be a sequence of non-empty str symbols, got {rhs!r}"
                )
            prob, exact = as_probability(raw, f"the probability of {lhs} -> {' '.join(rhs) or 'ε'}")
            exact_by_lhs[lhs] = exact_by_lhs.get(lhs, True) and exact
            prods.append(Production(lhs, tuple(rhs), prob))
        if not prods:
            raise InputError("productions is empty: a grammar needs at least one rule")
        nts = tuple(dict.fromkeys(p.lhs for p in prods))
        self.start = nts[0] if start is None else start
        if self.start not in nts:
            raise InputError(f"start={self.start!r} has no rules; nonterminals are {list(nts)}")
        used = tuple(dict.fromkeys(s for p in prods for s in p.rhs if s not in nts))
        if terminals is None:
            self.terminals = used
        else:
            if isinstance(terminals, str):
                raise InputTypeError(f"terminals must be a sequence of symbols, got str {terminals!r}")
            self.terminals = tuple(terminals)
            if len(set(self.terminals)) != len(self.terminals):
                raise InputError(f"terminals has duplicates: {list(self.terminals)}")
            clash = [t for t in self.terminals if t in nts]
            if clash:
                raise InputError(f"symbol {clash[0]!r} is declared a terminal but has rules")
            undefined = [s for s in used if s not in self.terminals]
            if undefined:
                where = next(p for p in prods if undefined[0] in p.rhs)
                raise InputError(
                    f"undefined symbol {undefined[0]!r} in rule {where}: it is neither a nonterminal "
                    f"(no rules) nor one of the terminals {list(self.terminals)}"
                )
        self.nonterminals = (self.start, *(n for n in nts if n != self.start))
        self.productions = tuple(prods)
        self._check_sums(exact_by_lhs)
        self._check_symbols()

    # -- validation ---------------------------------------------------------------------------

    def _check_sums(self, exact_by_lhs: Mapping[str, bool]) -> None:
        for a in self.nonterminals:
            total = sum((p.prob for p in self.productions if p.lhs == a), Fraction(0))
            ok = total == 1 if exact_by_lhs[a] else abs(float(total) - 1.0) <= FLOAT_SUM_TOL
            if not ok:
                shown = total if exact_by_lhs[a] else float(total)
                raise InputError(
                    f"the rules of {a} have probabilities summing to {shown}, not 1"
                    + ("" if exact_by_lhs[a] else f" (tolerance {FLOAT_SUM_TOL} for floats)")
                )

    def _check_symbols(self) -> None:
        positive = [p for p in self.productions if p.prob > 0]
        reach = {self.start}
        todo = [self.start]
        while todo:
            a = todo.pop()
            for p in positive:
                if p.lhs == a:
                    for s in p.rhs:
                        if s in self._nt_set and s not in reach:
                            reach.add(s)
                            todo.append(s)
        unreachable = [n for n in self.nonterminals if n not in reach]
        if unreachable:
            raise InputError(
                f"unreachable nonterminal(s) {unreachable}: no rule of positive probability leads "
                f"there from the start symbol {self.start!r}; remove them"
            )
        productive: set[str] = set()
        changed = True
        while changed:
            changed = False
            for p in positive:
                if p.lhs not in productive and all(s in productive or s not in self._nt_set for s in p.rhs):
                    productive.add(p.lhs)
                    changed = True
        useless = [n for n in self.nonterminals if n not in productive]
        if useless:
            raise InputError(
                f"useless nonterminal(s) {useless}: they derive no finite string "
                "(every derivation from them loops forever); remove them or add a terminating rule"
            )

    @property
    def _nt_set(self) -> frozenset[str]:
        return frozenset(self.nonterminals)

    # -- views ------------------------------------------------------------------------------------

    def rules_of(self, lhs: str) -> tuple[Production, ...]:
        """The productions with left-hand side ``lhs``."""
        return tuple(p for p in self.productions if p.lhs == lhs)

    def is_nonterminal(self, symbol: str) -> bool:
        return symbol in self._nt_set

    def __str__(self) -> str:
        """The grammar in the text format, terminals quoted, so that ``parse_grammar(str(g))`` gives ``g`` back."""

        def sym(s: str) -> str:
            return s if self.is_nonterminal(s) else repr(s)

        return "\n".join(
            f"{p.lhs} -> {' '.join(sym(s) for s in p.rhs) if p.rhs else 'ε'} [{p.prob}]" for p in self.productions
        )

    def __repr__(self) -> str:
        return (
            f"PCFG(start={self.start!r}, {len(self.nonterminals)} nonterminals, "
            f"{len(self.terminals)} terminals, {len(self.productions)} productions)"
        )

    def with_probabilities(self, probs: Sequence[Fraction | float]) -> PCFG:
        """The same rules with new probabilities (e.g. renormalised for consistency)."""
        return PCFG(
            [(p.lhs, p.rhs, q) for p, q in zip(self.productions, probs, strict=True)],
            start=self.start,
            terminals=self.terminals,
        )
