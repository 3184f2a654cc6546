"""README truths: every fenced code block of README.md is executed, and what it states is checked.

The blocks are read from README.md at collection time, so a new block is a new test. A fence whose
language is not one of ``python``, ``console`` or ``bash`` fails ``test_every_block_has_a_known_kind``.

``python`` blocks
    Each block runs alone, in a fresh namespace (a reader can paste any one block), with the working
    directory a fresh ``tmp_path`` (the training block writes ``runs/…``). Top-level statements run
    one after another, as in an interactive session. A comment **states a value** when, after ``#``
    and spaces, it begins with a Python literal: a number (optionally signed), ``True``, ``False``,
    ``None``, or a bracketed ``[…]`` / ``(…)`` that ``ast.literal_eval`` accepts (nested lists and
    tuples of those). Whatever follows the literal is prose (``# 0.0 (and kl_brute_force agrees)``
    states ``0.0``; ``# 6.142e-05, over all …`` states ``6.142e-05``). Any other comment is prose and is
    not compared (so a prose comment must not begin with a number: ``# 3 seeds`` states 3, and
    ``# 2,187 strings`` states 2). A stated value must sit on the last line of a top-level *expression* statement
    (otherwise the test fails: reword the comment so that it starts with a word); the expression's
    value is compared with it:

    * NumPy arrays and scalars are converted with ``.tolist()`` / ``.item()``; lists and tuples are
      compared element by element (either kind of sequence matches either, lengths must agree);
    * an integer literal (``251``) must equal the value exactly, and so must a literal whose value is
      zero (``0.0`` means exactly zero, not a rounding residue);
    * any other number is compared to the digits shown: both are rounded to the number of
      significant digits written (``6.142e-05`` has 4, ``0.3`` has 1, ``0.018879495190348705`` has 17,
      i.e. the exact double) and must then agree;
    * ``True``/``False``/``None`` must match exactly (a NumPy bool counts as a bool).

    ``test_value_checker_rejects_a_changed_digit`` is the negative control: the README's own aⁿbⁿ
    block with one digit of one stated value changed must fail, and so must a changed JSON value and
    a changed console output line.

``console`` blocks
    Each ``$ nonident …`` line is one test: it runs as a subprocess of the console script next to
    ``sys.executable`` (or ``sys.executable -m exact``), in a fresh temporary directory (one for all
    commands of a session, so that the negative control can reuse an output), and must exit 0.
    A ``#`` preceded by a space ends the command; the rest of the line is its comment. The lines
    shown under it (up to the next ``$`` line; blank lines ignored) are an *excerpt* of its stdout:
    each, with runs of whitespace collapsed to one space and the ends stripped, must equal a whole
    stdout line normalised the same way, and they must appear in the order shown. A comment that
    begins with ``"`` lists key/value pairs of the JSON output (``# "id": 5, "ood": 251, …``): with
    a trailing ``…`` (and comma) removed and wrapped in ``{…}`` it must parse as a JSON object, and
    each of its pairs must be a key/value pair of some object in the command's JSON output. Any
    other comment is prose. A line that does not start with ``$ nonident`` fails the test.

``bash`` blocks
    The quick start's install and test commands are **not** run here: they create a virtual
    environment, install into it and run the whole test suite (``.ci/run`` does that in CI).
    ``test_bash_blocks_are_the_quick_start_only`` checks that no other bash block exists, so nothing
    executable hides in one.

Tiers: blocks that take more than about 5 s on 2 busy cores are marked ``slow`` (``SLOW`` below). The
training block trains 3 seeds of the ``cpu`` preset for 2000 steps (minutes); in this test it runs with
``OVERRIDES``: ``preset("tiny", …)`` with ``train.steps = 20`` and ``train.prompt_length = 4`` (fewer
OOD prompts to train on and to certify; 5-25 s) instead of ``preset("cpu", …)``. So it checks that
the calls of the block work, not the numbers of the ``cpu`` preset (those are in
``reports/rule-extrapolation.md``, rechecked by claim ``E1-rule-extrapolation``). No block is skipped.
"""

from __future__ import annotations

import ast
import io
import json
import re
import shlex
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"

#: Blocks that take more than about 5 s on 2 busy cores: a python block by a line it contains (exactly one block
#: may contain it), a console command by its text.
SLOW = {
    'train(cfg, "runs/oracle")',  # the training block, with OVERRIDES: 5-25 s (measured, 2 cores, idle to busy)
    "kl_by_sequences(p, q, t.length + 1)",  # q_n: two brute-force KLs over 3^11 sequences and icl_table, 18-35 s
    "nonident ginc --smoothing 0.01 --shots 64",  # 6-9 s
    "nonident ginc --shots 16",  # 3-6 s
    "nonident icl --epsilon 1e-9",  # 12-18 s
}

#: Test-only substitutions (python block, named as in SLOW -> [(README text, replacement)]); each must occur.
OVERRIDES = {
    'train(cfg, "runs/oracle")': [
        ('preset("cpu", **{', 'preset("tiny", **{"train.steps": 20, "train.prompt_length": 4, ')
    ],
}


# --- README blocks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    kind: str  # the fence's language
    line: int  # README line of the first line inside the fence
    text: str

    def named(self, name: str) -> bool:
        return name in self.text


def fenced_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    blocks, kind, start, lines = [], None, 0, []
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if kind is None:
                kind, start, lines = line[3:].strip(), i + 1, []
            else:
                blocks.append(Block(kind, start, "\n".join(lines) + "\n"))
                kind = None
        elif kind is not None:
            lines.append(line)
    assert kind is None, f"README.md: unterminated code fence opened at line {start - 1}"
    return blocks


BLOCKS = fenced_blocks(README.read_text(encoding="utf-8"))


# --- python blocks: stated values ----------------------------------------------------------------


class Prose:
    """The comment states no value."""


PROSE = Prose()
_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Num:
    value: float | int
    text: str  # as written, for the significant digits


def _literal(node: ast.expr, src: str) -> Any:
    """The expected value of a literal's AST, numbers kept with their text; PROSE if not a literal."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool)):
        return node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return Num(node.value, ast.get_source_segment(src, node) or repr(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _literal(node.operand, src)
        if isinstance(inner, Num):
            sign = -1 if isinstance(node.op, ast.USub) else 1
            return Num(sign * inner.value, ast.get_source_segment(src, node) or inner.text)
        return PROSE
    if isinstance(node, ast.List | ast.Tuple):
        items = [_literal(e, src) for e in node.elts]
        if any(i is PROSE for i in items):
            return PROSE
        return items if isinstance(node, ast.List) else tuple(items)
    return PROSE


def stated_value(comment: str) -> Any:
    """The value a comment (without its ``#``) states, or PROSE: see the module docstring.

    >>> stated_value(" 0.0 (and kl_brute_force agrees)")
    Num(value=0.0, text='0.0')
    >>> stated_value(" [True, False]: p(·|SOS a b b a) does not exist")
    [True, False]
    >>> stated_value(" certified [lower, upper] per prompt") is PROSE
    True
    >>> stated_value(" (and then some)") is PROSE
    True
    """
    text = comment.strip()
    if text[:1] in "[(":
        depth = np.cumsum([{"[": 1, "(": 1, "]": -1, ")": -1}.get(ch, 0) for ch in text])
        closed = np.flatnonzero(depth == 0)
        head = text[: int(closed[0]) + 1] if closed.size else text
        try:
            tree = ast.parse(head, mode="eval")
        except SyntaxError:
            return PROSE
        return _literal(tree.body, head)
    m = _NUMBER.match(text) or re.match(r"(True|False|None)\b", text)
    if m is None or re.match(r"[\w.]", text[m.end() :]):
        return PROSE
    return _literal(ast.parse(m.group(0), mode="eval").body, m.group(0))


def _significant(text: str) -> int:
    digits = text.lower().split("e")[0].lstrip("+-").replace("_", "").replace(".", "")
    return len(digits.lstrip("0"))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def mismatch(actual: Any, expected: Any) -> str | None:
    """Why ``actual`` does not match the stated value ``expected``; None when it does."""
    actual = _plain(actual)
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple) or len(actual) != len(expected):
            return f"expected a sequence of {len(expected)} items, got {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            if (why := mismatch(a, e)) is not None:
                return f"item {i}: {why}"
        return None
    if expected is None or isinstance(expected, bool):
        ok = actual is expected if expected is None else isinstance(actual, bool) and actual == expected
        return None if ok else f"expected {expected!r}, got {actual!r}"
    assert isinstance(expected, Num)
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return f"expected the number {expected.text}, got {actual!r}"
    if isinstance(expected.value, int) or expected.value == 0:
        return None if actual == expected.value else f"expected exactly {expected.text}, got {actual!r}"
    sig = _significant(expected.text)
    shown, got = f"{expected.value:.{sig - 1}e}", f"{actual:.{sig - 1}e}"
    return None if float(shown) == float(got) else f"expected {expected.text} ({sig} digits), got {actual!r}"


def _comments(source: str) -> dict[int, str]:
    """Line -> comment text (without ``#``); comments inside strings are not comments."""
    return {
        tok.start[0]: tok.string[1:]
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }


def run_python(source: str, *, first_line: int = 1) -> list[str]:
    """Execute a README python block statement by statement; return the failed value checks."""
    tree = ast.parse(source)
    comments = _comments(source)
    stated = {line: v for line, c in comments.items() if (v := stated_value(c)) is not PROSE}
    expressions = {st.end_lineno for st in tree.body if isinstance(st, ast.Expr)}
    misplaced = sorted(set(stated) - expressions)
    assert not misplaced, (
        f"README.md lines {[first_line + i - 1 for i in misplaced]}: a comment that starts with a value must "
        "follow a top-level expression (reword it to start with a word, or make the value an expression)"
    )
    ast.increment_lineno(tree, first_line - 1)
    filename = str(README)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    failures = []
    for st in tree.body:
        if isinstance(st, ast.Expr):
            value = eval(compile(ast.Expression(st.value), filename, "eval"), namespace)
            line = (st.end_lineno or st.lineno) - first_line + 1
            if line in stated and (why := mismatch(value, stated[line])) is not None:
                code = source.splitlines()[line - 1].split("#")[0].strip()
                failures.append(f"README.md:{first_line + line - 1}: {code}: {why}")
        else:
            exec(compile(ast.Module([st], type_ignores=[]), filename, "exec"), namespace)
    return failures


# --- console blocks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    line: int
    argv: tuple[str, ...]  # after "nonident"
    comment: str
    shown: tuple[str, ...]

    @property
    def key(self) -> str:
        return " ".join(("nonident", *self.argv))

    def named(self, name: str) -> bool:
        return name == self.key


def console_commands(block: Block) -> list[Command]:
    out: list[Command] = []
    for i, line in enumerate(block.text.splitlines()):
        if line.startswith("$"):
            command, _, comment = line[1:].partition(" #")
            words = shlex.split(command)
            assert words[:1] == ["nonident"], f"README.md:{block.line + i}: only `$ nonident …` lines are run"
            out.append(Command(block.line + i, tuple(words[1:]), comment.strip(), ()))
        elif line.strip():
            assert out, f"README.md:{block.line + i}: output shown before any `$` line"
            last = out[-1]
            out[-1] = Command(last.line, last.argv, last.comment, (*last.shown, line))
    return out


def _normal(line: str) -> str:
    return " ".join(line.split())


def excerpt_mismatch(shown: tuple[str, ...], output: str) -> str | None:
    """None when every shown line is a whole output line, in order (whitespace runs collapsed)."""
    lines = iter(_normal(line) for line in output.splitlines())
    for s in shown:
        if not any(_normal(s) == line for line in lines):
            return f"not found (in order) in the output: {s!r}"
    return None


def _objects(doc: Any):
    if isinstance(doc, dict):
        yield doc
        for v in doc.values():
            yield from _objects(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _objects(v)


def json_comment_mismatch(comment: str, output: str) -> str | None:
    """For a comment of JSON pairs (starts with ``"``): None when each pair is in some object of the output."""
    pairs = json.loads("{" + comment.rstrip().removesuffix("…").rstrip().rstrip(",") + "}")
    doc = json.loads(output)
    for key, value in pairs.items():
        if not any(key in obj and obj[key] == value for obj in _objects(doc)):
            return f"no object of the JSON output has {json.dumps({key: value})[1:-1]}"
    return None


@cache
def run_nonident(argv: tuple[str, ...], cwd: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "nonident"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "exact"]
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, timeout=600, cwd=cwd)


# --- the tests ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def console_cwd(tmp_path_factory) -> str:
    """One fresh working directory for the console commands (so that a command's output can be reused)."""
    return str(tmp_path_factory.mktemp("readme-console"))


def _param(obj: Block | Command) -> Any:
    slow = any(obj.named(name) for name in SLOW)
    key = f"-{obj.key[:60]}" if isinstance(obj, Command) else ""
    return pytest.param(obj, marks=[pytest.mark.slow] if slow else [], id=f"L{obj.line}{key}")


PYTHON = [b for b in BLOCKS if b.kind == "python"]
COMMANDS = [c for b in BLOCKS if b.kind == "console" for c in console_commands(b)]


def test_every_block_has_a_known_kind():
    assert BLOCKS, "README.md has no code blocks"
    assert {b.kind for b in BLOCKS} <= {"python", "console", "bash"}, [(b.line, b.kind) for b in BLOCKS]
    for name in SLOW | set(OVERRIDES):
        matches = [obj.line for obj in (*PYTHON, *COMMANDS) if obj.named(name)]
        assert len(matches) == 1, f"{name!r} (SLOW or OVERRIDES) should name one README block, names {matches}"


def test_bash_blocks_are_the_quick_start_only():
    """Not run (they install and run the whole suite); they must stay the quick start's two commands."""
    bash = [b.text.strip() for b in BLOCKS if b.kind == "bash"]
    assert bash == [
        "python3.11 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/nonident check",
        ".venv/bin/python -m pytest",
    ]


@pytest.mark.parametrize("block", [_param(b) for b in PYTHON])
def test_python_block(block: Block, tmp_path, monkeypatch):
    source = block.text
    for old, new in [o for name, subs in OVERRIDES.items() if block.named(name) for o in subs]:
        assert old in source, f"override {old!r} no longer matches the README block at line {block.line}"
        source = source.replace(old, new)
    monkeypatch.chdir(tmp_path)
    failures = run_python(source, first_line=block.line)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("command", [_param(c) for c in COMMANDS])
def test_console_command(command: Command, console_cwd):
    proc = run_nonident(command.argv, console_cwd)
    assert proc.returncode == 0, f"README.md:{command.line}: exit {proc.returncode}\n{proc.stderr}"
    why = excerpt_mismatch(command.shown, proc.stdout)
    assert why is None, f"README.md:{command.line} `{command.key}`: {why}\n--- output:\n{proc.stdout}"
    if command.comment.startswith('"'):
        why = json_comment_mismatch(command.comment, proc.stdout)
        assert why is None, f"README.md:{command.line} `{command.key}`: {why}"


def _anbn_block() -> Block:
    (block,) = [b for b in PYTHON if "AnbnDistribution(UniformLength(128))" in b.text]
    return block


def test_value_checker_rejects_a_changed_digit(tmp_path, monkeypatch):
    """Negative control: the README's own aⁿbⁿ block passes, and fails with one stated digit changed."""
    block = _anbn_block()
    stated = "# 0.018879495190348705"
    assert stated in block.text
    monkeypatch.chdir(tmp_path)
    assert run_python(block.text, first_line=block.line) == []
    wrong = block.text.replace(stated, "# 0.018879495190348715")
    failures = run_python(wrong, first_line=block.line)
    assert len(failures) == 1 and "padded_loss_floor" in failures[0] and "0.018879495190348715" in failures[0]


@pytest.mark.parametrize(
    ("actual", "comment", "ok"),
    [
        (6.141633177499005e-05, "6.142e-05, over all strings", True),
        (6.141633177499005e-05, "6.143e-05, over all strings", False),
        (0.30000000000000004, "0.3", True),
        (1e-17, "0.0 (exactly)", False),
        (np.array([0.1344, 0.0784]), "[0.1344, 0.0784], summed", True),
        (np.array([0.1344, 0.0784]), "[0.1344, 0.0785]", False),
        (np.array([0.1344, 0.0784]), "[0.1344]", False),
        (np.array([True, False]), "[True, False]: prose", True),
        (np.array([1, 0]), "[True, False]", False),
        ((np.float64(0.29999999999999827), 0.3), "(0.29999999999999855, 0.3)", False),
        (251, "251 of them", True),
        (251.5, "251", False),
        (-16.68777915657818, "-16.6878 = log P(S_8)", True),
    ],
)
def test_value_comparison(actual, comment, ok):
    expected = stated_value(comment)
    assert expected is not PROSE
    assert (mismatch(actual, expected) is None) is ok


def test_misplaced_value_comment_fails():
    with pytest.raises(AssertionError, match="must follow a top-level expression"):
        run_python("x = 2  # 3 of them\n")


def _command(key: str) -> Command:
    (command,) = [c for c in COMMANDS if c.key == key]
    return command


def test_console_checker_rejects_a_changed_digit_an_order_and_a_json_value(console_cwd):
    """Negative control on the real output of two README commands: one changed digit fails, so do the shown
    lines in another order, and so does one changed value of the JSON comment."""
    pcfg = _command("nonident anbn --law pcfg --rho 0.9 --max-len 20")
    out = run_nonident(pcfg.argv, console_cwd).stdout
    (line,) = pcfg.shown
    assert excerpt_mismatch(pcfg.shown, out) is None and line.endswith("0.348678")
    assert excerpt_mismatch((line.replace("0.348678", "0.348679"),), out)
    assert excerpt_mismatch((line, "law law=pcfg, rho=9/10, rho_float=0.9"), out)  # shown after, printed before
    assert excerpt_mismatch(("law law=pcfg, rho=9/10, rho_float=0.9", line), out) is None
    anbn = _command("nonident anbn --prompt-length 8 --json")
    doc = run_nonident(anbn.argv, console_cwd).stdout
    assert json_comment_mismatch(anbn.comment, doc) is None
    assert json_comment_mismatch(anbn.comment.replace('"ood": 251', '"ood": 252'), doc)
