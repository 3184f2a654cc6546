"""Grammars from text and from nltk: ``S -> a S b [0.7] | a b [0.3]``.

Format, one rule group per line (``#`` starts a comment)::

    S  -> a S b [0.7] | a b [0.3]
    S' -> '(' S ')' [1/2] | ε [1/2]

* ``->`` or ``→`` separates the left-hand side from ``|``-separated alternatives;
* each alternative ends with its probability in brackets: a decimal (read exactly, so
  ``0.1`` is 1/10) or a fraction ``p/q``;
* a bare ``ε`` or ``eps``, or an empty pair of quotes ``''``, is the empty right-hand side;
* a quoted symbol (``'a'``, ``"("``, ``'#'``) is a terminal (one spelled like a nonterminal
  is refused as ambiguous); a bare symbol is a
  nonterminal when some line defines it, else a terminal — except that a bare symbol
  starting with an uppercase letter must be defined (an *undefined nonterminal* error
  names it, which catches typos such as ``Sb`` for ``S b``);
* the first left-hand side is the start symbol; a left-hand side may appear on several lines,
  and a line starting with ``|`` continues the previous line's alternatives.

Errors name the line and the column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from exact.core.validate import InputError, InputTypeError
from exact.grammar.pcfg import PCFG, as_probability

__all__ = ["from_nltk", "load_grammar", "parse_grammar"]

_EPSILON = {"ε", "eps"}  # bare; a quoted 'eps' is the terminal eps, and '' is ε
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<comment>\#.*)
      | (?P<arrow>->|→)
      | (?P<bar>\|)
      | \[(?P<prob>[^\]]*)\]
      | (?P<quoted>'[^']*'|"[^"]*")
      | (?P<bare>[^\s|\[\]'"\#]+)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)


def _tokens(line: str, lineno: int) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    text = line
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        kind = m.lastgroup or ""
        if kind == "comment":
            break
        value = m.group(kind)
        col = m.start(kind) + (0 if kind == "prob" else 1)  # a probability is placed at its '['
        if kind == "bad":
            raise InputError(f"line {lineno}, column {col}: unexpected character {value!r}")
        if kind == "bare" and value.startswith("-") and value != "-":
            raise InputError(f"line {lineno}, column {col}: unexpected {value!r} (did you mean '->'?)")
        out.append((kind, value, col))
        pos = m.end()
    return out


def parse_grammar(text: str, *, start: str | None = None, terminals: Sequence[str] | None = None) -> PCFG:
    """Parse the text format above into a validated :class:`~exact.grammar.pcfg.PCFG`.

    Examples
    --------
    >>> g = parse_grammar("S -> a S b [0.7] | a b [0.3]")
    >>> [str(p) for p in g.productions]
    ['S -> a S b [7/10]', 'S -> a b [3/10]']
    >>> parse_grammar("S -> a S b [0.7] | a b")
    Traceback (most recent call last):
    ...
    exact.core.validate.InputError: line 1, column 23: the alternative 'a b' has no probability; end it with [p]
    """
    if not isinstance(text, str):
        raise InputTypeError(f"text must be a str, got {type(text).__name__}")
    rules: list[tuple[str, tuple[str, ...], str, int, int]] = []  # lhs, rhs, prob, line, col
    bare_uses: list[tuple[str, int, int]] = []
    quoted: set[str] = set()
    quoted_at: dict[str, tuple[int, int]] = {}
    last_lhs = ""
    for lineno, line in enumerate(text.splitlines(), start=1):
        toks = _tokens(line, lineno)
        if not toks:
            continue
        kind, lhs, col = toks[0]
        if kind == "bar" and rules:  # a continuation line: more alternatives of the previous group
            lhs = last_lhs
            body = toks[1:]
            alt_col = col + 1
        else:
            if kind != "bare":
                raise InputError(
                    f"line {lineno}, column {col}: a rule starts with a bare nonterminal name, got {lhs!r}"
                )
            if len(toks) < 2 or toks[1][0] != "arrow":
                where = toks[1][2] if len(toks) > 1 else len(line.rstrip()) + 1
                raise InputError(f"line {lineno}, column {where}: expected '->' after {lhs!r}")
            body = toks[2:]
            alt_col = toks[1][2] + 2
        last_lhs = lhs
        alt: list[str] = []
        alt_kinds: list[str] = []
        expect_alt = True
        for kind, value, col in body:
            if kind == "arrow":
                raise InputError(f"line {lineno}, column {col}: a second '->' in one line (one rule group per line)")
            if kind == "bar":
                if expect_alt:
                    raise InputError(f"line {lineno}, column {col}: empty alternative before '|' (write ε)")
                expect_alt = True
                alt = []
                alt_kinds = []
                alt_col = col + 1
                continue
            if not expect_alt:
                raise InputError(f"line {lineno}, column {col}: expected '|' or end of line after a probability")
            if kind == "prob":
                if not alt:
                    raise InputError(f"line {lineno}, column {col}: empty alternative (write ε for the empty string)")
                empty = [i for i, s in enumerate(alt) if s in _EPSILON and alt_kinds[i] != "quoted"]
                rhs = tuple(s for i, s in enumerate(alt) if i not in empty)
                if empty and rhs:
                    raise InputError(f"line {lineno}, column {alt_col}: ε may only stand alone in an alternative")
                rules.append((lhs, rhs, value, lineno, col))
                expect_alt = False
                continue
            if kind == "quoted":
                quoted_at.setdefault(value[1:-1], (lineno, col))
                if len(value) == 2:  # '' or "": the empty right-hand side
                    alt.append("ε")
                    alt_kinds.append("bare")
                    continue
                alt.append(value[1:-1])
                alt_kinds.append("quoted")
                quoted.add(value[1:-1])
            else:
                alt.append(value)
                alt_kinds.append("bare")
                if value not in _EPSILON:
                    bare_uses.append((value, lineno, col))
        if expect_alt:
            end = len(line.split("#", 1)[0].rstrip()) + 1
            if alt:
                shown = " ".join(alt)
                raise InputError(
                    f"line {lineno}, column {end}: the alternative {shown!r} has no probability; end it with [p]"
                )
            raise InputError(f"line {lineno}, column {end}: expected an alternative after '->' or '|'")
    if not rules:
        raise InputError("the grammar text has no rules")
    defined = {r[0] for r in rules}
    for name in quoted & defined:
        lineno, col = quoted_at[name]
        raise InputError(
            f"line {lineno}, column {col}: the quoted terminal {name!r} is spelled like the nonterminal "
            f"{name}; rename one of them"
        )
    for name, lineno, col in bare_uses:
        if name not in defined and name[0].isupper():
            raise InputError(
                f"line {lineno}, column {col}: undefined nonterminal {name!r} (it has no rules; "
                "quote it, e.g. 'X', to use an uppercase terminal)"
            )
    productions = []
    for lhs, rhs, prob, lineno, col in rules:
        try:
            as_probability(prob, "probability")
        except InputError:
            raise InputError(f"line {lineno}, column {col}: probability [{prob}] is not a number in [0, 1]") from None
        productions.append((lhs, rhs, prob))
    if terminals is None:  # quoted symbols are terminals even where a nonterminal has that name
        terminals = list(dict.fromkeys(s for r in rules for s in r[1] if s in quoted or s not in defined))
    return PCFG(productions, start=start, terminals=terminals)


def load_grammar(path: str | Path, **kwargs: object) -> PCFG:
    """Read a grammar file in the text format (see :func:`parse_grammar`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"grammar file {str(p)!r} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"grammar file {str(p)!r} is a directory") from None
    except UnicodeDecodeError:
        raise InputError(f"grammar file {str(p)!r} is not UTF-8 text") from None
    except OSError as exc:  # a device, a FIFO or a file without read permission
        raise InputError(f"grammar file {str(p)!r} cannot be read ({exc.strerror or exc})") from None
    try:
        return parse_grammar(text, **kwargs)  # type: ignore[arg-type]
    except InputError as exc:  # name the file: "line 2, column 9: …" alone does not say which
        raise type(exc)(f"grammar file {str(p)!r}, {exc}") from None


def from_nltk(grammar: object) -> PCFG:
    """Convert an ``nltk.grammar.PCFG`` (duck-typed: ``start()``, ``productions()``, ``prob()``).

    nltk is not imported; any object with that interface works. Nonterminals are the
    objects with a ``symbol()`` method, terminals are strings.
    """
    for attr in ("start", "productions"):
        if not callable(getattr(grammar, attr, None)):
            raise InputTypeError(f"grammar must be an nltk.grammar.PCFG (no {attr}()), got {type(grammar).__name__}")
    prods = []
    terminals: dict[str, None] = {}
    for prod in grammar.productions():  # type: ignore[attr-defined]
        lhs = str(prod.lhs().symbol())
        rhs = tuple(str(s.symbol()) if hasattr(s, "symbol") else str(s) for s in prod.rhs())
        prods.append((lhs, rhs, float(prod.prob())))
        terminals.update((str(s), None) for s in prod.rhs() if not hasattr(s, "symbol"))
    return PCFG(prods, start=str(grammar.start().symbol()), terminals=list(terminals))  # type: ignore[attr-defined]
