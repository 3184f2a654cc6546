"""The follow-up study's bracket generators, as exact finite distributions.

Mészáros et al. (2024, ``rule_extrapolation/data.py``) draw a length budget ``l`` uniformly from
``1..K`` and then run a random walk over brackets (docs/grammars.md §3):

* **Dyck-1** (``generate_matched_parentheses``): ``(`` first; while a ``(`` is open, ``(`` or
  ``)`` with probability ½ each, ``)`` forced once ``l`` brackets were opened; the walk stops at
  the first return to depth 0, so every word is *primitive* (``( D )``, never ``()()``);
* **Dyck-2** (``generate_matched_parentheses_and_brackets``): ``(`` or ``[`` (½ each) first; then
  ``(``, ``[`` or the closer of the innermost open bracket (⅓ each), the closer forced once ``l``
  brackets were opened; stops at the first return to depth 0;
* **not-nested** (``generate_not_nested_matched_parentheses_and_brackets``): two independent
  counters, no stop before the budget, length exactly ``2l``: with nothing open ``(`` or ``[``
  (½); with only ``(`` open ``[``, ``(``, ``)`` (⅓), ``)`` forced once ``l`` were opened; with only
  ``[`` open symmetrically; with both open ``(``, ``[``, ``]``, ``)`` (¼), then ``]`` or ``)`` (½).

Each walk is enumerated path by path in exact rationals and the mixture over ``l`` is a
:class:`~exact.grammar.finite.FiniteLanguage`: the exact law of the official data, which no
sampler gives. The number of words grows like ``4^K`` (Dyck-2), so ``K`` is capped by
:data:`MAX_BUDGET`.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from exact.core.validate import check_int
from exact.grammar.finite import FiniteLanguage

__all__ = ["MAX_BUDGET", "dyck1_walk", "dyck2_walk", "not_nested_walk"]

#: Largest length budget ``K`` enumerated (Dyck-2 at K = 7 has about 2.6·10⁴ words, K = 8 about 1.3·10⁵).
MAX_BUDGET = 7

_Step = Callable[[tuple[str, ...], tuple[str, ...], int, int], list[tuple[str, Fraction]] | None]
_CLOSE = {"(": ")", "[": "]"}


def _enumerate(step: _Step, budget: int, out: dict[str, Fraction], weight: Fraction) -> None:
    """Depth-first over the walk: ``step(word, stack, opened, l)`` lists ``(symbol, prob)`` or ``None`` at the end."""
    todo: list[tuple[tuple[str, ...], tuple[str, ...], int, Fraction]] = [((), (), 0, weight)]
    while todo:
        word, stack, opened, w = todo.pop()
        moves = step(word, stack, opened, budget)
        if moves is None:
            key = " ".join(word)
            out[key] = out.get(key, Fraction(0)) + w
            continue
        for sym, q in moves:
            if sym in _CLOSE:
                todo.append(((*word, sym), (*stack, sym), opened + 1, w * q))
            else:
                todo.append(((*word, sym), _pop(stack, sym), opened, w * q))


def _pop(stack: tuple[str, ...], closer: str) -> tuple[str, ...]:
    """Remove the innermost open bracket that ``closer`` closes (the last one of its kind)."""
    opener = "(" if closer == ")" else "["
    i = len(stack) - 1 - stack[::-1].index(opener)
    return stack[:i] + stack[i + 1 :]


def _mixture(step: _Step, K: int, terminals: tuple[str, ...]) -> FiniteLanguage:
    k = check_int(K, "K", maximum=MAX_BUDGET, why=" (the enumeration grows like 4^K)")
    out: dict[str, Fraction] = {}
    for budget in range(1, k + 1):
        _enumerate(step, budget, out, Fraction(1, k))
    words = sorted(out, key=lambda w: (len(w), w))
    return FiniteLanguage(words, [out[w] for w in words], terminals=terminals)


def _dyck1(
    word: tuple[str, ...], stack: tuple[str, ...], opened: int, budget: int
) -> list[tuple[str, Fraction]] | None:
    if not word:
        return [("(", Fraction(1))]
    if not stack:
        return None
    if opened >= budget:
        return [(")", Fraction(1))]
    return [("(", Fraction(1, 2)), (")", Fraction(1, 2))]


def _dyck2(
    word: tuple[str, ...], stack: tuple[str, ...], opened: int, budget: int
) -> list[tuple[str, Fraction]] | None:
    if not word:
        return [("(", Fraction(1, 2)), ("[", Fraction(1, 2))]
    if not stack:
        return None
    close = _CLOSE[stack[-1]]
    if opened >= budget:
        return [(close, Fraction(1))]
    return [("(", Fraction(1, 3)), ("[", Fraction(1, 3)), (close, Fraction(1, 3))]


def _not_nested(
    word: tuple[str, ...], stack: tuple[str, ...], opened: int, budget: int
) -> list[tuple[str, Fraction]] | None:
    if len(word) == 2 * budget:
        return None
    has_p, has_b = "(" in stack, "[" in stack
    full = opened >= budget
    if not has_p and not has_b:
        return [("(", Fraction(1, 2)), ("[", Fraction(1, 2))]
    if has_p and has_b:
        if full:
            return [("]", Fraction(1, 2)), (")", Fraction(1, 2))]
        return [(s, Fraction(1, 4)) for s in ("(", "[", "]", ")")]
    close = ")" if has_p else "]"
    if full:
        return [(close, Fraction(1))]
    return [("(", Fraction(1, 3)), ("[", Fraction(1, 3)), (close, Fraction(1, 3))]


def dyck1_walk(K: int = 6) -> FiniteLanguage:
    """The official Dyck-1 data law with length budgets ``l ~ U{1..K}``."""
    return _mixture(_dyck1, K, ("(", ")"))


def dyck2_walk(K: int = 5) -> FiniteLanguage:
    """The official Dyck-2 data law with length budgets ``l ~ U{1..K}``."""
    return _mixture(_dyck2, K, ("(", ")", "[", "]"))


def not_nested_walk(K: int = 4) -> FiniteLanguage:
    """The official not-nested (two independent counters) data law, length exactly ``2l``, ``l ~ U{1..K}``."""
    return _mixture(_not_nested, K, ("(", ")", "[", "]"))
