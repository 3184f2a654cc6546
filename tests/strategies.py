"""Hypothesis strategies for nonident's objects (valid objects only, keyword-only arguments)."""

from __future__ import annotations

import os
from datetime import timedelta
from fractions import Fraction

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from exact import GeometricLength, LengthLaw, UniformLength
from exact.core.tokens import EOS, PAD, SOS, A, B
from exact.hmm.categorical import CategoricalHMM
from exact.hmm.mixture import HMMMixture


def uniform_laws(*, min_n: int = 1, max_n: int = 40) -> st.SearchStrategy[UniformLength]:
    if not 1 <= min_n <= max_n:
        raise ValueError(f"need 1 ≤ min_n ≤ max_n, got min_n={min_n}, max_n={max_n}")
    return st.integers(min_n, max_n).map(UniformLength)


def geometric_laws() -> st.SearchStrategy[GeometricLength]:
    """PCFG laws with ρ = p/q, 1 ≤ p < q ≤ 20 (exact rationals)."""
    return (
        st.integers(2, 20)
        .flatmap(lambda q: st.tuples(st.integers(1, q - 1), st.just(q)))
        .map(lambda pq: GeometricLength(Fraction(*pq)))
    )


def truncated_laws(*, min_n: int = 1, max_n: int = 40) -> st.SearchStrategy[LengthLaw]:
    """PCFG laws conditioned on ``n ≤ n_max`` (explicitly renormalised), ``n_max`` in ``[min_n, max_n]``."""
    return st.tuples(geometric_laws(), st.integers(min_n, max_n)).map(lambda g: g[0].truncate(g[1]).renormalised())


def length_laws(*, min_n: int = 1, max_n: int = 40) -> st.SearchStrategy[LengthLaw]:
    """Proper laws: uniform (``n_max`` in ``[min_n, max_n]``), PCFG, or truncated-and-renormalised PCFG."""
    return st.one_of(uniform_laws(min_n=min_n, max_n=max_n), geometric_laws(), truncated_laws(min_n=min_n, max_n=max_n))


@st.composite
def support_prefixes(draw: st.DrawFn, *, max_n: int = 12) -> list[int]:
    """A prefix ``SOS aᵏ bʲ (EOS PAD*)`` with 0 ≤ j ≤ k; positive under laws with n_max ≥ k."""
    k = draw(st.integers(0, max_n))
    j = draw(st.integers(0, k)) if k else 0
    seq = [SOS] + [A] * k + [B] * j
    if k and j == k and draw(st.booleans()):
        seq += [EOS] + [PAD] * draw(st.integers(0, 3))
    return seq


def ab_words(*, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(alphabet="ab", max_size=max_size)


def token_rows(*, max_size: int = 12) -> st.SearchStrategy[list[int]]:
    """Arbitrary token rows (any ids 0..4), mostly ill-formed."""
    return st.lists(st.integers(0, 4), max_size=max_size)


# --- HMMs and mixtures -------------------------------------------------------------


def prob_vectors(*, size: int, min_value: float = 0.0, allow_zeros: bool = True) -> st.SearchStrategy[list[float]]:
    """Probability vectors of length ``size``; with ``allow_zeros`` some entries may be exactly 0."""
    if size < 1:
        raise ValueError(f"size must be ≥ 1, got {size}")

    @st.composite
    def build(draw: st.DrawFn) -> list[float]:
        weights = draw(st.lists(st.floats(0.05, 1.0), min_size=size, max_size=size))
        if allow_zeros:
            keep = draw(st.lists(st.booleans(), min_size=size, max_size=size))
            if any(keep):
                weights = [w if k else 0.0 for w, k in zip(weights, keep, strict=True)]
        total = sum(weights)
        return [w / total for w in weights]

    return build()


def stochastic_matrices(*, rows: int, cols: int, allow_zeros: bool = True) -> st.SearchStrategy[list[list[float]]]:
    """Row-stochastic ``rows × cols`` matrices."""
    return st.lists(prob_vectors(size=cols, allow_zeros=allow_zeros), min_size=rows, max_size=rows)


@st.composite
def hmms(draw: st.DrawFn, *, max_states: int = 4, max_vocab: int = 3) -> CategoricalHMM:
    """Categorical HMMs with some zero transitions and emissions."""
    h = draw(st.integers(1, max_states))
    m = draw(st.integers(2, max_vocab))
    return CategoricalHMM(
        draw(prob_vectors(size=h)), draw(stochastic_matrices(rows=h, cols=h)), draw(stochastic_matrices(rows=h, cols=m))
    )


@st.composite
def hmm_mixtures(
    draw: st.DrawFn,
    *,
    max_concepts: int = 3,
    max_values: int = 2,
    max_slots: int = 3,
    max_vocab: int = 3,
    full_support_emissions: bool = False,
) -> HMMMixture:
    """Mixtures with Kronecker transitions; shared or per-concept value matrices and emissions."""
    k = draw(st.integers(1, max_concepts))
    nv = draw(st.integers(1, max_values))
    ns = draw(st.integers(1, max_slots))
    m = draw(st.integers(2, max_vocab))
    h = nv * ns
    kv = draw(st.sampled_from([1, k]))
    ke = draw(st.sampled_from([1, k]))
    return HMMMixture(
        draw(prob_vectors(size=k)),
        [draw(prob_vectors(size=h)) for _ in range(k)],
        [draw(stochastic_matrices(rows=ns, cols=ns)) for _ in range(k)],
        [draw(stochastic_matrices(rows=nv, cols=nv)) for _ in range(kv)],
        [draw(stochastic_matrices(rows=h, cols=m, allow_zeros=not full_support_emissions)) for _ in range(ke)],
    )


def token_sequences(*, vocab_size: int, max_length: int = 5) -> st.SearchStrategy[list[int]]:
    """Token-id sequences over ``0..vocab_size-1`` (any probability, including zero)."""
    return st.lists(st.integers(0, vocab_size - 1), max_size=max_length)


@st.composite
def pcfg_rules(
    draw: st.DrawFn, *, max_nonterminals: int = 3, terminals: tuple[str, ...] = ("a", "b")
) -> list[tuple[str, tuple[str, ...], Fraction]]:
    """Random PCFG productions without ε rules and with acyclic unary rules (ambiguity allowed).

    Nonterminals ``S, N1, N2, …``; each has a terminal rule (so it is productive) and is used by
    the previous one (so it is reachable); unary rules point to later nonterminals only, so every
    word has finitely many derivations — the brute-force oracle's requirement. The grammar may be
    inconsistent (heavy recursion); probabilities are exact rationals.
    """
    n = draw(st.integers(1, max_nonterminals))
    names = ["S", *(f"N{i}" for i in range(1, n))]
    rules: list[tuple[str, tuple[str, ...]]] = []
    for i, a in enumerate(names):
        rules.append((a, (draw(st.sampled_from(terminals)),)))
        if i + 1 < n:
            rules.append((a, (draw(st.sampled_from(terminals)), names[i + 1])))
        for _ in range(draw(st.integers(0, 2))):
            size = draw(st.integers(1, 3))
            if size == 1:
                later = names[i + 1 :]
                sym = draw(st.sampled_from([*terminals, *later]))
                rules.append((a, (sym,)))
            else:
                rules.append((a, tuple(draw(st.sampled_from([*terminals, *names])) for _ in range(size))))
    out = []
    for a in names:
        mine = [r for r in rules if r[0] == a]
        weights = [draw(st.integers(1, 6)) for _ in mine]
        total = sum(weights)
        out += [(lhs, rhs, Fraction(w, total)) for (lhs, rhs), w in zip(mine, weights)]
    return out


# --- fuzzing: wild values and a guarded runner (tests/property/test_fuzz_*.py, tests/integration/test_bad_inputs.py) ---
#
# Unlike the strategies above, these produce *arbitrary* input: valid small values mixed with
# boundaries, huge values (which the limits must refuse quickly), wrong types, empty strings and
# unicode. The runner executes one call under two guards so that a missing limit fails one example
# instead of freezing the machine: an alarm (a hang becomes :class:`FuzzHang`) and a soft
# RLIMIT_DATA (an allocation of many GiB becomes MemoryError). Imports are local: this section is
# appended to a module whose other strategies need none of them.

#: Integers every bounded parameter must refuse quickly (or accept cheaply).
HUGE_INTS = (10**6, 10**9, 10**12, 2**31, 2**63, 10**30, -(10**6), -(10**12))
#: Integer boundaries.
BOUNDARY_INTS = (0, -1, 1, 2)
#: Command-line strings that are not small integers (``int()`` accepts ``"٣"`` as 3 and ``" 3"``).
GARBAGE_STRINGS = (
    "", " ", "nan", "NaN", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e400", "1.5", "0.0", "-0", "abc",
    "0x10", "1e3", "二", "٣", "²", "9" * 5000, "\x00", "-", "--", "None", "[]", "ñ", "🙂", "1/0", "0/0", "3 ", " 3",
)  # fmt: skip
#: Real-valued command-line strings (valid, boundary and invalid).
FLOAT_STRINGS = (
    "0", "0.05", "0.5", "1", "-0.0", "1e-308", "5e-324", "0.9999999999999999", "1.0000000000000002", "-1", "nan",
    "inf", "-inf", "1e400", "1e308", "1/2", "abc", "", "½",
)  # fmt: skip
#: Probability-like strings (as ``--rho``, ``--set p_open=…``): fractions, decimals and pathological exponents.
PROBABILITY_STRINGS = (
    "0.5", "1/3", "9/10", "0.7", "2/5", "0", "1", "-1", "2", "nan", "inf", "1/0", "0/0", "1e-308", "5e-324",
    "0.9999999999999999", "1e-1000", "1e-100000000", "1e100000000", "", "abc", "½", "1" + "0" * 5000, "0x1p-2",
)  # fmt: skip


def int_strings(lo: int, hi: int) -> st.SearchStrategy[str]:
    """An integer flag's value: mostly ``lo..hi`` (valid and cheap), else a boundary, a huge value or garbage."""
    return st.one_of(
        st.integers(lo, hi).map(str),
        st.integers(lo, hi).map(str),
        st.sampled_from(BOUNDARY_INTS).map(str),
        st.sampled_from(HUGE_INTS).map(str),
        st.sampled_from(GARBAGE_STRINGS),
        st.text(max_size=6),
    )


def float_strings() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(FLOAT_STRINGS), st.sampled_from(GARBAGE_STRINGS), st.text(max_size=6))


def wild_ints(lo: int, hi: int) -> st.SearchStrategy[object]:
    """A Python API integer argument: ``lo..hi``, a boundary, a huge value, or the wrong type."""
    return st.one_of(
        st.integers(lo, hi),
        st.integers(lo, hi),
        st.sampled_from(BOUNDARY_INTS),
        st.sampled_from(HUGE_INTS),
        st.sampled_from([1.5, 2.0, float("nan"), float("inf"), -float("inf"), 1e308, True, False, None, "3", b"3"]),
        st.text(max_size=4),
    )


def wild_objects() -> st.SearchStrategy[object]:
    """Objects of the wrong kind for almost any parameter."""
    return st.sampled_from(
        [None, 0, -1, 1.5, float("nan"), "", "x", "ab", b"ab", [], [0], {}, {"a": 1}, (), object(), True, 10**30]
    )


class FuzzHang(BaseException):
    """Raised by the alarm of :func:`guarded`: the call ran past its hard timeout (not an error of the code)."""


def _vm_data_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_guard(headroom_bytes: int = 6 * 2**30):
    """Context manager: a soft RLIMIT_DATA ``headroom_bytes`` above the current data size (Linux), then restored.

    Above the library's own 4 GiB default limit, so a valid input at its limit still runs, but far
    below what would exhaust a shared machine.
    """
    import contextlib
    import resource

    @contextlib.contextmanager
    def guard():
        try:
            soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
            want = _vm_data_bytes() + headroom_bytes
            if hard != resource.RLIM_INFINITY:
                want = min(want, hard)
            resource.setrlimit(resource.RLIMIT_DATA, (want, hard))
        except (OSError, ValueError):  # not Linux, or not allowed: run unguarded
            yield
            return
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))

    return guard()


def guarded(fn, *, timeout_s: float):
    """``(outcome, seconds)``: ``("ok", value)``, ``("raised", exc)`` or ``("hung", None)`` after ``timeout_s``.

    The alarm (SIGALRM, main thread only) interrupts Python code; a native kernel is interrupted
    only when it returns to the interpreter, so ``seconds`` may exceed ``timeout_s``.
    """
    import signal
    import time

    def on_alarm(signum, frame):
        raise FuzzHang(f"no result after {timeout_s} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        try:
            outcome = ("ok", fn())
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except FuzzHang:
        outcome = ("hung", None)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # classified by the caller, SystemExit included
        outcome = ("raised", exc)
    finally:
        signal.signal(signal.SIGALRM, old)
    return outcome, time.perf_counter() - start


def _tree(root) -> set[str]:
    import os

    out = set()
    for here, dirs, files in os.walk(root):
        rel = os.path.relpath(here, root)
        for name in dirs + files:
            out.add(os.path.normpath(os.path.join(rel, name)))
    return out


def run_cli(argv: list[str], *, files: dict[str, bytes] | None = None, timeout_s: float = 30.0) -> dict[str, object]:
    """Run ``exact.console.main(argv)`` in-process in a fresh temporary working directory.

    ``files`` (relative path → bytes) are written there first (e.g. a grammar file, a garbage run
    directory). Returns ``code`` (the exit status — ``main``'s value, or a ``SystemExit``'s code as
    the console script would exit — or ``"hung"`` / ``"raised: …"``), ``out``, ``err``, ``seconds`` and ``created`` (the paths that were
    not there before, sorted).
    """
    import contextlib
    import io
    import os
    import tempfile

    from exact.console import main

    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory(prefix="nonident-fuzz-") as cwd:
        for rel, data in (files or {}).items():
            path = os.path.join(cwd, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if rel.endswith("/"):
                continue
            with open(path, "wb") as fh:
                fh.write(data)
        before = _tree(cwd)
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            (kind, value), seconds = guarded(lambda: main(list(argv)), timeout_s=timeout_s)
        created = sorted(_tree(cwd) - before)
    if kind == "ok":
        code: object = value
    elif kind == "hung":
        code = "hung"
    elif isinstance(value, SystemExit):  # argparse's errors and --help/--version: the console script's status
        code = 0 if value.code is None else value.code if isinstance(value.code, int) else f"exit: {value.code!r}"
    else:
        code = f"raised: {type(value).__name__}: {value}"
    return {"code": code, "out": out.getvalue(), "err": err.getvalue(), "seconds": seconds, "created": created}


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(text: str) -> object:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity`` (RFC 8259 JSON only)."""
    import json

    return json.loads(text, parse_constant=_reject_constant)


def outcome_class(run: dict[str, object]) -> str:
    code = run["code"]
    return f"exit {code}" if isinstance(code, int) else str(code).split(":")[0]


def named_inputs(argv: list[str]) -> list[str]:
    """What an error message may name to point at the culprit.

    Each flag given (``--max-len``, also as ``max-len``/``max_len`` when three characters or
    more), each ``--set`` key (and its field, ``n_heads`` of ``model.n_heads``), each positional
    value, each flag value of two or more characters when quoted (``'/proc/x'``), and the
    positionals' names.
    """
    names: list[str] = ["language", "experiment", "run_dir", "NAME|FILE"]
    takes_value = False
    for i, tok in enumerate(argv[1:], start=1):
        if tok.startswith("--") and tok != "--":
            flag, eq, value = tok.partition("=")
            bare = flag[2:]
            names.append(flag)
            if len(bare) >= 3:
                names += [bare, bare.replace("-", "_")]
            if flag == "--set":
                key = (value if eq else (argv[i + 1] if i + 1 < len(argv) else "")).partition("=")[0].strip()
                names += [key, key.rpartition(".")[2]]
            if eq and len(value) >= 2:
                names.append(repr(value))
            takes_value = not eq and flag not in _SWITCHES
        elif takes_value:
            takes_value = False
            if len(tok) >= 2:
                names.append(repr(tok))
        elif tok and tok != "--":
            names.append(tok)
    return [n for n in names if n]


#: Flags without a value.
_SWITCHES = ("--json", "--list", "--renormalise", "--unambiguous", "--restart", "--no-progress")
#: argparse's own phrasing names the argument in words.
_ARGPARSE_PHRASES = ("argument ", "arguments", "invalid choice", "expected one argument")


def cli_problems(argv: list[str], run: dict[str, object]) -> list[str]:
    """Every way ``run`` breaks the command-line contract (empty: it holds)."""
    import re

    problems: list[str] = []
    code, out, err = run["code"], str(run["out"]), str(run["err"])
    if "Traceback" in err:
        problems.append("a traceback on stderr")
    if code not in (0, 2):
        problems.append(f"outcome {code!r}, not exit 0 or 2")
    if code == 2:
        lines = err.strip("\n").split("\n")
        if len(lines) != 1:
            problems.append(f"{len(lines)} lines on stderr, not one")
        elif not re.fullmatch(r"nonident( [\w-]+)?: error: .+", lines[0]):
            problems.append("stderr is not 'nonident <cmd>: error: …'")
        elif not any(n in lines[0] for n in (*named_inputs(argv), *_ARGPARSE_PHRASES)):
            problems.append("the error names none of the flags or values given")
        if run["created"]:
            problems.append(f"left behind after the error: {run['created']}")
    if code == 0:
        if run["created"]:
            problems.append(f"wrote undocumented outputs: {run['created']}")
        if "--json" in argv:
            try:
                strict_json(out)
            except ValueError as exc:
                problems.append(f"--json output is not strict JSON ({exc})")
    return problems


# --- the fuzz tests' shared settings -------------------------------------------------------------

#: Examples per fuzz test: the fast tier by default, a larger budget under ``HYPOTHESIS_PROFILE=ci``.
FUZZ_MAX_EXAMPLES = 150 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 25
#: Per-example deadline (a valid small input takes well under a second after the warm-up).
FUZZ_DEADLINE = timedelta(seconds=10)
#: The alarm that turns a hang into a failed example (Python code only; a native kernel finishes first).
HARD_TIMEOUT = 30.0

fuzz_settings = settings(
    max_examples=FUZZ_MAX_EXAMPLES,
    deadline=FUZZ_DEADLINE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
