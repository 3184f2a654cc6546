"""Specific bad inputs, each refused with one line (exit 2) or a ValueError/TypeError naming it, within seconds.

A table of the inputs that once crashed, hung, allocated many GiB, printed a traceback, left files
behind or answered wrongly (found by hand and by the fuzzers in ``tests/property/test_fuzz_*.py``).
Each command runs in-process in a fresh empty working directory (:func:`tests.strategies.run_cli`)
under the same guards as the fuzzers: an alarm, a soft RLIMIT_DATA, and a sentinel in place of the
model so that an input that should be refused can never start training.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest

from exact import (
    AnbnDistribution,
    GeometricLength,
    PromptTemplate,
    UniformLength,
    decode,
    encode,
    enumerate_strings,
    generate_ginc,
    kl_chain_rule,
    sample_prompts,
)
from exact.core.validate import InputError, InputTypeError
from tests.strategies import cli_problems, guarded, memory_guard, run_cli, strict_json

#: A bad input must be refused within this many seconds (after the warm-up), on a 2-core machine whose
#: other core is busy (CI runs `nonident check` beside the tests; idle, every refusal takes < 3 s).
BAD_INPUT_SECONDS = 10.0
#: The alarm that turns a hang into a failure.
HARD_TIMEOUT = 20.0


class ReachedTraining(BaseException):  # a sentinel, not an error of the code under test
    """The model of a run was about to be built."""


def _no_model(*args, **kwargs):
    raise ReachedTraining("the model was about to be built: this input should have been refused before training")


@pytest.fixture(scope="module", autouse=True)
def guards():
    for argv in (
        ["anbn"],
        ["grammar", "anbn"],
        ["ginc", "--shots", "1", "--concepts", "2"],
        ["icl", "--max-shots", "1"],
    ):
        run_cli(argv, timeout_s=300)
    run_cli(["train", "anbn", "--set", "bogus=1"], timeout_s=300)  # imports torch
    import learned.rule_extrapolation.train as train_module

    with pytest.MonkeyPatch.context() as mp, memory_guard():
        mp.setattr(train_module, "Transformer", _no_model)
        yield


#: (argv, what the one-line error must name).
CLI_REFUSALS = [
    (["ginc", "--shots", "1000000"], "--shots"),
    (["ginc", "--vocab", "100000000", "--shots", "1"], "--vocab"),
    (["ginc", "--prompts", "100000000", "--shots", "1"], "--prompts"),
    (["ginc", "--values", "10000", "--shots", "1"], "--values"),
    (["ginc", "--concepts", "1000000", "--shots", "1"], "--concepts"),
    (["ginc", "--shots=--"], "--shots"),
    (["icl", "--max-shots", "12", "--max-strings", "1000000000000"], "--max-s"),
    (["icl", "--max-shots=--"], "--max-shots"),
    (["train", "anbn", "--set", "data.n_max=2048", "--set", "model.max_len=5000"], "data.n_max"),
    (["train", "anbn", "--seeds", "0-100000", "--set", "train.steps=1"], "seeds"),
    (["train", "anbn", "--out", "/proc/x/y", "--preset", "tiny", "--set", "train.steps=1"], "--out"),
    (["reproduce", "rule-extrapolation", "--out", "/proc/x"], "/proc/x"),
    (["reproduce", "rule-extrapolation", "--runs", "/proc/x"], "/proc/x"),
    (["evaluate", "nowhere"], "nowhere"),
    (["check", "--only", "nope"], "nope"),
    (["anbn", "--law", "pcfg", "--rho", "1e-100000000"], "--rho"),
    (["anbn", "--law", "pcfg", "--rho", "1/2", "--max-len=--"], "--max-len"),
    (["anbn", "--n-max", "20000000"], "--n-max"),
    (["anbn", "--law", "pcfg", "--rho", "1/2", "--max-len", "100000000"], "--max-len"),
    (["grammar", "ban", "--max-len", "64"], "--max-len"),
    (["grammar", "anbn", "--set", "n_max=4096"], "n_max"),
    (["grammar", "bban", "--law", "official", "--set", "M=1024"], "M="),
    (["grammar", "anbn", "--set", "n_max=²"], "n_max"),
    (["grammar", "anbn", "--set", "law=uniform"], "law"),
    (["grammar", "anbn", "--max-len=--"], "--max-len"),
    (["grammar", "anbn", "--prompt-length", "1000000"], "prompt"),
    (["grammar", "dyck1", "--prompt-length", "1000000"], "prompt"),
    (["grammar", "dyck1", "--set", "p_open=1e-100000000"], "p_open"),
]


@pytest.mark.parametrize(("argv", "names"), CLI_REFUSALS, ids=[" ".join(a)[:60] for a, _ in CLI_REFUSALS])
def test_cli_refuses_quickly_in_one_line(argv, names):
    run = run_cli(argv, timeout_s=HARD_TIMEOUT)
    err = str(run["err"])
    assert "ReachedTraining" not in str(run["code"]), f"{argv} reached training"
    assert run["code"] == 2, f"{argv} -> {run['code']} (wanted exit 2); stderr: {err[-1500:]!r}"
    assert cli_problems(argv, run) == [], f"{argv}: {cli_problems(argv, run)}; stderr: {err!r}"
    assert names in err, f"{argv}: the error does not name {names!r}: {err!r}"
    assert run["seconds"] < BAD_INPUT_SECONDS, f"{argv} took {run['seconds']:.1f} s to refuse"


def _to_stderr(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def test_evaluate_of_a_garbage_run_is_one_line():
    # a pickle of protocol 4: torch warns (UserWarning) before failing. Warnings are errors in this suite,
    # so the console's default filter is restored: the warning must not reach stderr as a second line.
    files = {"run/model.pt": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94."}
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _to_stderr  # as the console shows it (pytest records warnings instead)
        run = run_cli(["evaluate", "run"], files=files, timeout_s=HARD_TIMEOUT)
    assert run["code"] == 2 and cli_problems(["evaluate", "run"], run) == [], run


def test_ginc_json_is_strict():
    run = run_cli(["ginc", "--json"], timeout_s=HARD_TIMEOUT)
    assert run["code"] == 0, run["err"]
    strict_json(str(run["out"]))  # raises on NaN / Infinity / -Infinity
    assert run["created"] == []


P8 = AnbnDistribution(UniformLength(8))


def _small_ginc():
    return generate_ginc(n_concepts=2, n_values=2, n_slots=3, n_symbols=4, emission_smoothing=0.05)


#: (id, call, the parameter its error must name).
API_REFUSALS = [
    ("decode([0, 1, 99])", lambda: decode([0, 1, 99]), "tokens"),
    ("decode([0, -1])", lambda: decode([0, -1]), "tokens"),
    ("decode([2**63])", lambda: decode([2**63]), "tokens"),
    ("decode([0.5])", lambda: decode([0.5]), "tokens"),
    ("decode({0: 1})", lambda: decode({0: 1}), "tokens"),
    ("encode(None)", lambda: encode(None), "text"),
    ("next_token_probs_exact('x')", lambda: P8.next_token_probs_exact("x"), "prefix"),
    ("prefix_prob_exact([7, 9])", lambda: P8.prefix_prob_exact([7, 9]), "prefix"),
    ("prefix_prob_exact([2, 2**63])", lambda: P8.prefix_prob_exact([2, 2**63]), "prefix"),
    ("next_token_probs([[2, 0]])", lambda: P8.next_token_probs([[2, 0]]), "batch"),
    ("kl_chain_rule(p, p, 10**6)", lambda: kl_chain_rule(P8, P8, 10**6), "sequence_length"),
    ("kl_chain_rule(None, p, 5)", lambda: kl_chain_rule(None, P8, 5), "p"),
    ("kl_chain_rule(p, None, 5)", lambda: kl_chain_rule(P8, None, 5), "q"),
    ("enumerate_strings('p', 3)", lambda: enumerate_strings("p", 3), "dist"),
    ("UniformLength(2**63)", lambda: UniformLength(2**63), "n_max"),
    ("GeometricLength('1e-100000000')", lambda: GeometricLength("1e-100000000"), "rho"),
    ("generate_ginc(transition_temp=5e-324)", lambda: generate_ginc(transition_temp=5e-324), "transition_temp"),
    (
        "sample_prompts(g, PromptTemplate(10**6, 0), 1)",
        lambda: sample_prompts(_small_ginc(), PromptTemplate(10**6, 0), 1, np.random.default_rng(0)),
        "k",
    ),
]


@pytest.mark.parametrize(("call", "names"), [r[1:] for r in API_REFUSALS], ids=[r[0] for r in API_REFUSALS])
def test_api_refuses_quickly_naming_the_parameter(call, names, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (kind, value), seconds = guarded(call, timeout_s=HARD_TIMEOUT)
    assert kind != "hung", f"no answer after {HARD_TIMEOUT} s"
    assert kind == "raised", f"returned {value!r} instead of refusing"
    assert isinstance(value, (ValueError, TypeError)), f"{type(value).__name__}: {value}"
    assert isinstance(value, (InputError, InputTypeError)), f"a plain {type(value).__name__}: {value}"
    assert names in str(value), f"the error does not name {names!r}: {value}"
    assert seconds < BAD_INPUT_SECONDS, f"took {seconds:.1f} s to refuse"
    assert os.listdir(tmp_path) == []
