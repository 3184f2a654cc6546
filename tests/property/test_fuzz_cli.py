"""Fuzzing the ``nonident`` command line: any argv exits 0, or 2 with one line, quickly, leaving nothing behind.

The contract, for every generated argv, run in-process (``exact.console.main``) in a fresh empty
working directory (:func:`tests.strategies.run_cli`, checked by :func:`tests.strategies.cli_problems`):

* exit 0, or exit 2 with exactly one stderr line ``nonident <cmd>: error: …`` that names a flag,
  a ``--set`` key or a positional value given; never a traceback, never exit 1 for a user input;
* with ``--json`` the output parses with a strict JSON parser (no NaN/Infinity);
* nothing left in the working directory after an error, and nothing written by a success (none
  of the commands generated here has a documented output file);
* each example within :data:`tests.strategies.FUZZ_DEADLINE` (a Hypothesis deadline; a module fixture runs every
  command once first, so numba compilation and the torch import do not count).

Values mix small valid ones, boundaries (0, −1, 1), huge ones (10⁶ … 10³⁰, 1e308, which the
limits must refuse quickly), wrong types, empty strings and unicode. Valid-and-expensive inputs are
kept out by construction: every command starts from a small valid baseline and up to three of
its flags get a wild value. ``train``, ``evaluate`` and ``reproduce`` get only inputs that must be
refused before any training: each ``train``/``reproduce`` argv carries at least one poison (a bad
``--set`` key or value, an absurd size, too many seeds, an unwritable ``--out``, …), and
``evaluate`` only nonexistent or garbage run directories. As a second guard the model class is
replaced by a sentinel, so reaching model construction fails the example instead of training.

Guards so that a missing limit fails one example instead of the machine: an alarm at
:data:`tests.strategies.HARD_TIMEOUT` seconds and a soft RLIMIT_DATA a few GiB above the current size.

Budgets: :data:`tests.strategies.FUZZ_MAX_EXAMPLES` per test — 25 (profile ``dev``, the default) or 150
(``HYPOTHESIS_PROFILE=ci``). ``pytest --hypothesis-show-statistics`` shows, for
:func:`test_outcome_classes`, how often each command exited 0, 2 or otherwise.
"""

from __future__ import annotations

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.strategies import (
    GARBAGE_STRINGS,
    HARD_TIMEOUT,
    PROBABILITY_STRINGS,
    cli_problems,
    float_strings,
    fuzz_settings,
    int_strings,
    memory_guard,
    outcome_class,
    pcfg_rules,
    run_cli,
)


class ReachedTraining(BaseException):  # a sentinel, not an error of the code under test
    """The model of a run was about to be built: an input that must be refused reached training."""


def _no_model(*args, **kwargs):
    raise ReachedTraining("the model was about to be built: this input should have been refused before training")


#: A small valid call of every command: the warm-up (numba compilation, the torch import).
WARM_UP = (
    ["anbn", "--json"],
    ["anbn", "--law", "pcfg", "--rho", "1/2", "--max-len", "8", "--json"],
    ["grammar", "anbn", "--json"],
    ["grammar", "dyck1", "--max-len", "6"],
    ["grammar", "g.txt", "--json"],
    ["ginc", "--concepts", "2", "--values", "2", "--slots", "3", "--vocab", "4", "--k", "2", "--shots", "2"],
    ["icl", "--max-shots", "2", "--search-shots", "50", "--prompts", "50", "--json"],
    ["check", "--list"],
    ["train", "anbn", "--set", "bogus=1"],
    ["evaluate", "nowhere"],
)


@pytest.fixture(scope="module", autouse=True)
def cli_guards():
    """Warm every command up, then (for this module) replace the model by a sentinel and cap the data size."""
    for argv in WARM_UP:
        run_cli(argv, files={"g.txt": b"S -> a S b [1/2] | a b [1/2]\n"}, timeout_s=300)
    import learned.rule_extrapolation.train as train_module

    with pytest.MonkeyPatch.context() as mp, memory_guard():
        mp.setattr(train_module, "Transformer", _no_model)
        yield


# --- argv strategies -------------------------------------------------------------------------


@st.composite
def _flags(
    draw: st.DrawFn,
    baseline: dict[str, str],
    wild: dict[str, st.SearchStrategy[str | None]],
    *,
    max_wild: int = 3,
) -> list[str]:
    """``baseline`` flags with up to ``max_wild`` of ``wild``'s replaced (``None``: left out, the default)."""
    opts: dict[str, str | None] = dict(baseline)
    for flag in draw(st.lists(st.sampled_from(sorted(wild)), max_size=max_wild, unique=True)):
        opts[flag] = draw(wild[flag])
    argv: list[str] = []
    for flag, value in opts.items():
        if value is None:
            continue
        if value.startswith("-") or draw(st.booleans()):  # "--flag=-1": argparse would read "-1…" as an option
            argv.append(f"{flag}={value}")
        else:
            argv += [flag, value]
    return argv


def _maybe(s: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), s)


def _json(draw: st.DrawFn) -> list[str]:
    return ["--json"] if draw(st.booleans()) else []


RHO = st.one_of(st.sampled_from(PROBABILITY_STRINGS), st.sampled_from(GARBAGE_STRINGS), st.text(max_size=6))


@st.composite
def anbn_argv(draw: st.DrawFn) -> list[str]:
    law = draw(st.sampled_from(["uniform", "pcfg", "pcfg", "bogus", ""]))
    baseline = {"--law": law, **({"--rho": "1/2", "--max-len": "12"} if law == "pcfg" else {})}
    wild = {
        "--law": _maybe(st.sampled_from(["uniform", "pcfg", "PCFG", "", "ünïform"])),
        "--n-max": _maybe(int_strings(1, 200)),
        "--rho": _maybe(RHO),
        "--max-len": _maybe(int_strings(2, 40)),
        "--prompt-length": _maybe(int_strings(1, 10)),
    }
    return ["anbn", *draw(_flags(baseline, wild)), *_json(draw)]


LIBRARY = ("anbn", "anbncn", "dyck1", "dyck2", "not_nested", "ban", "bban", "anbm")
LAWS = ("uniform", "geometric", "pcfg", "official", "bogus", "")
#: ``--set`` keys the library knows, and some it does not.
SET_KEYS = ("n_max", "rho", "p_open", "K", "M", "p_b", "p_stop", "p_a", "bogus", "N_MAX", "ñ")
#: Cheap valid values per key (a larger n_max, K or M is valid but slow: kept out).
SET_SMALL = {
    "n_max": st.integers(1, 40).map(str),
    "K": st.integers(1, 5).map(str),
    "M": st.integers(4, 40).map(str),
}


@st.composite
def set_items(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:  # malformed
        return draw(st.sampled_from(["", "=", "=5", "n_max", "1x=3", "n max=3", "n_max==3", "ñ=1", "-=1"]))
    key = draw(st.sampled_from(SET_KEYS))
    small = SET_SMALL.get(key, st.sampled_from(["1/3", "0.5", "2/5", "0.7"]))
    value = draw(st.one_of(small, small, int_strings(1, 8), st.sampled_from(PROBABILITY_STRINGS), st.text(max_size=5)))
    return f"{key}={value}"


GRAMMAR_TEXTS = (
    "S -> a S b [1/2] | a b [1/2]\n",
    "S -> a S b [0.7] | a b [0.3]\n",
    "S -> S S [0.9] | a [0.1]\n",  # inconsistent: needs --renormalise
    "S -> S S [1/2] | a [1/2]\n",  # critical
    "S -> a S [1/2] | ε [1/2]\n",
    "S -> '(' S ')' S [1/3] | ε [2/3]\n",
    "S -> ☃ S ☃ [1/2] | ☃ [1/2]\n",
    "S -> a [nan]\n",
    "S -> a [1e400]\n",
    "S -> a [1]\nS -> b [1]\n",
    "S -> [1]\n",
    "S -> S [1]\n",
    "S -> A [1]\n",
    "",
    "# only a comment\n",
    "S -> a [0.5] | b [0.5",
    "S -> " + " ".join(f"t{i}" for i in range(300)) + " [1]\n",
    "S -> " + " | ".join(f"t{i} [1/300]" for i in range(300)) + "\n",
    "\x00\x01\x02",
)


def _render(rules) -> str:
    return "".join(f"{lhs} -> {' '.join(rhs)} [{p}]\n" for lhs, rhs, p in rules)


@st.composite
def grammar_argv(draw: st.DrawFn) -> tuple[list[str], dict[str, bytes]]:
    files: dict[str, bytes] = {}
    kind = draw(st.sampled_from(["library", "library", "file", "file", "other"]))
    if kind == "library":
        target = draw(st.sampled_from(LIBRARY))
    elif kind == "file":
        text = draw(st.one_of(st.sampled_from(GRAMMAR_TEXTS), pcfg_rules().map(_render), st.text(max_size=40)))
        files["g.txt"] = text.encode("utf-8", "surrogatepass")
        target = "g.txt"
    else:
        target = draw(st.sampled_from(["missing.txt", ".", "", "/proc/x", "ANBN", "dyck3", "ñ", "-"]))
    wild: dict[str, st.SearchStrategy[str | None]] = {
        "--law": _maybe(st.sampled_from(LAWS)),
        "--max-len": _maybe(int_strings(0, 12)),
        "--prompt-length": _maybe(int_strings(1, 8)),
    }
    flags = draw(_flags({"--max-len": "8"}, wild))
    for item in draw(st.lists(set_items(), max_size=3)):
        flags.append(f"--set={item}")
    for flag in ("--renormalise", "--unambiguous"):
        if draw(st.integers(0, 3)) == 0:
            flags.append(flag)
    positional = ["--", target] if target.startswith("-") else [target]
    return ["grammar", *flags, *_json(draw), *positional], files


GINC_BASELINE = {
    "--concepts": "2",
    "--values": "2",
    "--slots": "3",
    "--vocab": "4",
    "--k": "2",
    "--shots": "2",
    "--prompts": "20",
    "--max-enumeration": "1000",
    "--smoothing": "0.05",
    "--seed": "1",
}


def _ginc_wild() -> dict[str, st.SearchStrategy[str | None]]:
    return {
        "--concepts": int_strings(1, 3),
        "--values": int_strings(1, 3),
        "--slots": int_strings(2, 4),
        "--vocab": int_strings(2, 6),
        "--smoothing": float_strings(),
        "--seed": st.one_of(int_strings(0, 2**32), st.sampled_from([str(2**64), str(10**30)])),
    }


@st.composite
def ginc_argv(draw: st.DrawFn) -> list[str]:
    wild = {
        **_ginc_wild(),
        "--k": int_strings(2, 3),
        "--shots": int_strings(0, 4),
        "--prompts": int_strings(1, 50),
        "--max-enumeration": int_strings(1, 5000),
    }
    return ["ginc", *draw(_flags(GINC_BASELINE, wild)), *_json(draw)]


EPSILONS = (
    "1e-9", "1e-3", "0.5", "1e-400", "1e-100000", "0", "-1", "-1e-9", "nan", "inf", "1e100000000",
    "1e-100000000", "abc", "", "0x1p-3", "1/3", "1e-9 ", "１e-9",
)  # fmt: skip


@st.composite
def icl_argv(draw: st.DrawFn) -> list[str]:
    baseline = {"--max-shots": "2", "--search-shots": "50", "--max-strings": "20000", "--prompts": "50"}
    wild = {
        **_ginc_wild(),
        "--epsilon": st.one_of(st.sampled_from(EPSILONS), st.text(max_size=6)),
        "--k": int_strings(2, 3),
        "--max-shots": int_strings(0, 3),
        "--search-shots": int_strings(0, 100),
        "--max-strings": int_strings(1, 20000),
        "--prompts": int_strings(0, 50),
        "--tie-policy": st.sampled_from(["raise", "keep", "bogus", ""]),
    }
    return ["icl", *draw(_flags(baseline, wild)), *_json(draw)]


@st.composite
def check_argv(draw: st.DrawFn) -> list[str]:
    if draw(st.booleans()):
        return ["check", "--list", *_json(draw)]
    bad = st.one_of(st.sampled_from(["nope", "F9", "f0", "", "-", "ñ", "F0 ", "*", "../x"]), st.text(max_size=6))
    ids = [i for i in draw(st.lists(bad, min_size=1, max_size=3)) if not i.startswith("-")] or ["nope"]
    argv = ["check", "--only", *ids]
    if draw(st.integers(0, 3)) == 0:
        argv.append(f"--out={draw(st.sampled_from(['/proc/x', 'out', '']))}")
    if draw(st.integers(0, 3)) == 0:
        argv.append(f"--artifacts={draw(st.sampled_from(['/nonexistent', 'a', '']))}")
    return [*argv, *_json(draw)]


#: ``--set`` overrides a run must refuse: unknown keys, bad values, absurd sizes (the memory limit).
TRAIN_POISON_SETS = (
    "bogus=1", "model.nope=1", "model=1", ".x=1", "model.=3", "data.n_max", "=", "model.d_model=abc",
    "model.d_model=7", "model.d_model=0", "model.d_model=-2", "model.d_model=nan", "model.dropout=1.5",
    "model.dropout=nan", "model.ln_eps=inf", "model.positions=bogus", "model.norm_first=maybe", "model.vocab_size=6",
    "model.n_heads=3", "model.max_len=0", "data.n_max=3", "data.n_max=2049", "data.n_max=abc", "data.n_max=1e308",
    "data.law=bogus", "data.rho=1", "data.rho=nan", "data.batch_size=0", "data.pad_targets=x", "train.lr=0",
    "train.lr=-1", "train.lr=nan", "train.lr=inf", "train.steps=0", "train.steps=-5", "train.steps=abc",
    "train.steps=1.5", "train.warmup=-1", "train.weight_decay=-1", "train.weight_decay=nan", "train.seeds=",
    "train.seeds=a", "train.seeds=0,0", "train.seeds=-1", "train.seeds=0-100000", "train.variant=bogus",
    "train.optimizer=adam", "train.completion_loss=x", "train.prompt_length=0", "train.max_pred_length=100000",
    "model.d_model=1000000", "model.n_layers=1000000", "model.d_ff=1000000000", f"model.n_layers={10**30}",
    "train.steps=" + "9" * 5000, "model.d_model=٣", "ñ=1",
)  # fmt: skip
FINETUNE_POISON_SETS = (
    "finetune.alphas=0", "finetune.alphas=1", "finetune.alphas=nan", "finetune.alphas=", "finetune.steps=0",
    "finetune.seeds=0,0", "finetune.arm_seeds=99", "finetune.nope=1", "finetune.sgd_lr=nan", "finetune.proof_length=99",
    "finetune.widen_factor=1", "finetune.n_max=3", "finetune.pretrain_preset=paper2", "finetune.=1",
)  # fmt: skip
ICL_POISON_SETS = (
    "ginc.emission_smoothing=0", "ginc.n_symbols=1", "eval.shots=0,64", "eval.k=1", "model.vocab_size=3",
    "train.n_val_docs=100000", "train.batch_size=1000000", "train.doc_length=1000000", "eval.n_prompts=0",
    "ginc.nope=1", "eval.seed=-1", "train.clip_norm=-1", "train.min_lr_ratio=2", "ginc.transition_temp=0",
)  # fmt: skip
#: Valid by the config's own checks but far above the memory limit: refused before training.
ABSURD_SIZES = (
    ("--set", "data.n_max=2048", "--set", "model.max_len=5000"),
    ("--set", "data.n_max=2048", "--set", "model.max_len=5000", "--preset", "paper"),
    ("--set", "model.d_model=100000", "--set", "model.n_heads=2"),
    ("--set", "data.law=pcfg", "--set", "data.batch_size=1000000000"),
    ("--seeds", "0-1023", "--set", "data.n_max=1024", "--set", "model.max_len=3000"),
)
SEEDS_POISON = ("0-100000", "0-1000000", "", "a", "5-3", "-1", "0,0", "0-", "1,,2", "٣-", "0-1e3", "0-" + "9" * 30)


@st.composite
def train_argv(draw: st.DrawFn) -> list[str]:
    poison_kind = draw(st.sampled_from(["set", "set", "size", "seeds", "language", "flag", "out"]))
    language, extra = "anbn", []
    if poison_kind == "set":
        extra += ["--set", draw(st.sampled_from(TRAIN_POISON_SETS))]
    elif poison_kind == "size":
        extra += list(draw(st.sampled_from(ABSURD_SIZES)))
    elif poison_kind == "seeds":
        extra.append(f"--seeds={draw(st.sampled_from(SEEDS_POISON))}")
    elif poison_kind == "language":
        language = draw(st.sampled_from(["dyck", "", "ANBN", "anbn ", "ñ", "a^nb^n"]))
    elif poison_kind == "flag":
        extra += draw(
            st.sampled_from(
                [["--variant", "bogus"], ["--preset", "bogus"], ["--device", "bogus"], ["--device", "cuda:7"]]
            )
        )
    else:
        extra.append(f"--out={draw(st.sampled_from(['/proc/x', '/proc/x/y', '/dev/null/run']))}")
        extra += ["--preset", "tiny", "--set", "train.steps=1"]
    benign = draw(
        st.lists(
            st.sampled_from(
                [["--preset", "tiny"], ["--no-progress"], ["--json"], ["--restart"], ["--set", "train.eval_every=1"]]
            ),
            max_size=3,
            unique_by=lambda x: x[0] + x[-1],
        )
    )
    # the poison last: a later --set of the same key wins, and none of the benign options sets one
    return ["train", language, *(tok for item in benign for tok in item), *extra]


@st.composite
def _garbage_run(draw: st.DrawFn) -> dict[str, bytes]:
    kind = draw(st.sampled_from(["bytes", "empty", "json", "zip", "dir", "config-only", "pickle"]))
    if kind == "bytes":
        return {"run/model.pt": draw(st.binary(max_size=64))}
    if kind == "empty":
        return {"run/model.pt": b""}
    if kind == "json":
        return {"run/model.pt": b'{"config": {}}', "run/config.json": b"{}"}
    if kind == "zip":
        return {"run/model.pt": b"PK\x03\x04" + draw(st.binary(max_size=40))}
    if kind == "dir":
        return {"run/model.pt/": b""}
    if kind == "config-only":
        return {"run/config.json": b'{"model": {}, "data": {}, "train": {}}'}
    return {"run/model.pt": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94."}  # a pickled empty dict


@st.composite
def evaluate_argv(draw: st.DrawFn) -> tuple[list[str], dict[str, bytes]]:
    files: dict[str, bytes] = {}
    target = draw(st.sampled_from(["run", "run", "missing", ".", "file.txt", "/proc/x", "ñ"]))
    if target == "run":
        files = draw(_garbage_run())
    elif target == "file.txt":
        files = {"file.txt": b"not a run"}
    flags = draw(
        st.lists(
            st.sampled_from(
                [["--which", "best"], ["--which", "final"], ["--which=bogus"], ["--device", "cpu"], ["--device=x"]]
            ),
            max_size=2,
            unique_by=lambda x: x[0].split("=")[0],
        )
    )
    return ["evaluate", target, *(tok for item in flags for tok in item), *_json(draw)], files


@st.composite
def reproduce_argv(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["experiment", "set", "out", "runs", "flag"]))
    experiment, extra = draw(st.sampled_from(["rule-extrapolation", "finetunability", "icl"])), []
    if kind == "experiment":
        experiment = draw(st.sampled_from(["bogus", "", "rule_extrapolation", "RULE-EXTRAPOLATION", "fine-tuning"]))
    elif kind == "set":
        poisons = TRAIN_POISON_SETS + {"finetunability": FINETUNE_POISON_SETS, "icl": ICL_POISON_SETS}.get(
            experiment, ()
        )
        extra += ["--set", draw(st.sampled_from(poisons))]
    elif kind == "out":
        extra.append(f"--out={draw(st.sampled_from(['/proc/x', '/proc/x/y', '/dev/null/r']))}")
    elif kind == "runs":
        extra.append(f"--runs={draw(st.sampled_from(['/proc/x', '/dev/null/r']))}")
    else:
        extra += draw(st.sampled_from([["--preset", "bogus"], ["--device", "bogus"], ["--device", "cuda:7"]]))
    if draw(st.booleans()):
        extra += ["--preset", "tiny"]
    if draw(st.booleans()):
        extra.append("--no-progress")
    return ["reproduce", experiment, *extra, *_json(draw)]


def _no_files(s: st.SearchStrategy[list[str]]) -> st.SearchStrategy[tuple[list[str], dict[str, bytes]]]:
    return s.map(lambda argv: (argv, {}))


ALL_COMMANDS = st.one_of(
    _no_files(anbn_argv()),
    grammar_argv(),
    _no_files(ginc_argv()),
    _no_files(icl_argv()),
    _no_files(check_argv()),
    _no_files(train_argv()),
    evaluate_argv(),
    _no_files(reproduce_argv()),
)


def _assert_contract(argv: list[str], files: dict[str, bytes] | None = None) -> None:
    run = run_cli(argv, files=files, timeout_s=HARD_TIMEOUT)
    err = str(run["err"])
    assert "ReachedTraining" not in err and "ReachedTraining" not in str(run["code"]), (
        f"{argv}: reached model construction (would have trained)"
    )
    problems = cli_problems(argv, run)
    assert not problems, f"{argv} -> {run['code']} in {run['seconds']:.2f} s: {problems}; stderr: {err[-1500:]!r}"


# --- the properties ---------------------------------------------------------------------------


@fuzz_settings
@given(argv=anbn_argv())
def test_anbn(argv):
    _assert_contract(argv)


@fuzz_settings
@given(case=grammar_argv())
def test_grammar(case):
    _assert_contract(*case)


@fuzz_settings
@given(argv=ginc_argv())
def test_ginc(argv):
    _assert_contract(argv)


@fuzz_settings
@given(argv=icl_argv())
def test_icl(argv):
    _assert_contract(argv)


@fuzz_settings
@given(argv=check_argv())
def test_check_list_and_unknown_ids(argv):
    _assert_contract(argv)


@fuzz_settings
@given(argv=train_argv())
def test_train_refuses_before_training(argv):
    _assert_contract(argv)


@fuzz_settings
@given(case=evaluate_argv())
def test_evaluate_refuses_missing_or_garbage_runs(case):
    _assert_contract(*case)


@fuzz_settings
@given(argv=reproduce_argv())
def test_reproduce_refuses_before_training(argv):
    _assert_contract(argv)


@settings(fuzz_settings, deadline=None)
@given(case=ALL_COMMANDS)
def test_outcome_classes(case):
    """Records the outcome class of every command (``--hypothesis-show-statistics``); asserts nothing else.

    The per-command tests above enforce the contract; this one shows the distribution: how much of
    the input space is refused (exit 2), accepted (exit 0) or breaks the contract (anything else).
    """
    argv, files = case
    run = run_cli(argv, files=files, timeout_s=HARD_TIMEOUT)
    cls = outcome_class(run)
    event(f"{argv[0]}: {cls}")
    if cls not in ("exit 0", "exit 2") or cli_problems(argv, run):
        event(f"{argv[0]}: contract broken")
