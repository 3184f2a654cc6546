"""Limits checked before the work, strict JSON, report sets, run directories that are valid or absent.

See docs/robustness.md. Every check here has its negative control: the same call below the
limit runs, a NaN is refused, a set mixed by hand is detected, a run that did checkpoint is kept.
"""

import json
import math
import signal
import threading

import numpy as np
import pytest

import exact
from exact.core import limits
from exact.core.artifacts import dumps_strict, json_safe, write_json
from exact.core.cli import Parser, dispatch, print_json
from exact.core.limits import LimitError, check_bytes, check_work
from exact.core.validate import InputError, InputTypeError


def strict_loads(text):
    """json.loads that refuses NaN, Infinity and -Infinity (RFC 8259)."""

    def bad(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=bad)


# --- limits -----------------------------------------------------------------------------------


def test_limits_name_the_parameters_and_can_be_raised(monkeypatch):
    monkeypatch.delenv("NONIDENT_MAX_BYTES", raising=False)
    monkeypatch.delenv("NONIDENT_MAX_WORK", raising=False)
    check_bytes(limits.DEFAULT_MAX_BYTES, "x", {"n": 1})  # at the limit: allowed
    with pytest.raises(LimitError, match=r"n=3: the table needs about 8 GiB, above the memory limit 4 GiB"):
        check_bytes(8 * 2**30, "the table", {"n": 3})
    with pytest.raises(LimitError, match=r"steps=7: .* above the run-time limit 1e\+10"):
        check_work(1e12, "the sum", {"steps": 7})
    monkeypatch.setenv("NONIDENT_MAX_WORK", "1e13")
    check_work(1e12, "the sum", {"steps": 7})  # raised on purpose: runs
    monkeypatch.setenv("NONIDENT_MAX_BYTES", "lots")
    with pytest.raises(InputError, match="NONIDENT_MAX_BYTES must be a positive number, got 'lots'"):
        check_bytes(1, "x", {})
    assert issubclass(LimitError, ValueError)


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda: exact.kl_chain_rule(P8, P8, 10**6), "sequence_length=1000000"),
        (lambda: exact.GincConfig(n_symbols=10**8), "n_symbols=100000000"),
        (lambda: exact.GincConfig(n_values=10**4), "n_values=10000"),
        (lambda: exact.icl_accuracy(exact.generate_ginc(n_concepts=2), 3, [10**6], n_prompts=1000), "shots=1000000"),
        (lambda: exact.generate_ginc(n_concepts=2).mixture.sample(10**6, 10**4, np.random.default_rng(0)), "length"),
    ],
)
def test_large_inputs_are_refused_before_the_work(call, needle):
    with pytest.raises(LimitError, match=needle):
        call()


P8 = exact.AnbnDistribution(exact.UniformLength(8))


def test_below_the_limits_the_same_calls_run():
    assert exact.kl_chain_rule(P8, P8, 30).value == 0.0
    assert exact.GincConfig(n_symbols=10**4).n_symbols == 10**4


def test_hmm_forward_in_chunks_equals_one_call(monkeypatch):
    import exact.hmm.mixture as mixture_module

    mix = exact.generate_ginc(n_concepts=3, emission_smoothing=0.01).mixture
    batch, _, _ = mix.sample(40, 30, np.random.default_rng(1))
    whole = mix.forward(batch, predictive=True)
    monkeypatch.setattr(mixture_module, "_CHUNK_OPS", 1e4)  # dozens of kernel calls
    parts = mix.forward(batch, predictive=True)
    np.testing.assert_array_equal(parts.loglik, whole.loglik)
    np.testing.assert_array_equal(parts.predictive, whole.predictive)


def test_swap_sum_in_chunks_equals_one_call_and_brute_force(monkeypatch):
    import exact.icl.swap_kl as swap_module

    p = exact.generate_ginc(exact.DEMO_CONFIG).mixture
    t = exact.PromptTemplate(k=2, n_shots=2)
    whole = exact.swap_identity(p, t)
    monkeypatch.setattr(swap_module, "_SUBTREE_LEAVES", 3)
    monkeypatch.setattr(swap_module, "_CHUNK_LEAVES", 5)  # one or two subtrees per call
    parts = exact.swap_identity(p, t)
    assert parts.flips == whole.flips == 243 and parts.n_positive == whole.n_positive
    assert (parts.c_min, parts.max_cost) == (whole.c_min, whole.max_cost)
    assert math.isclose(parts.kl, whole.kl, rel_tol=1e-13)
    q = exact.SwapModel(p, t)
    assert math.isclose(parts.kl, exact.kl_by_sequences(p, q, t.length + 1), rel_tol=1e-10)


# --- tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tokens", [[0, 1, 99], [0, -1], [7, 9]])
def test_token_ids_outside_the_vocabulary_are_refused(tokens):
    with pytest.raises(InputError, match="unknown token id"):
        exact.decode(tokens)
    with pytest.raises(InputError, match="prefix contains unknown token id"):
        P8.prefix_prob_exact(tokens)


def test_text_where_ids_are_expected_is_a_type_error():
    with pytest.raises(InputTypeError, match="got the string 'x'"):
        P8.next_token_probs_exact("x")
    with pytest.raises(InputTypeError, match=r"prefix\[1\] must be an integer"):
        P8.prefix_prob_exact([2, 0.5])
    assert exact.decode(np.array([2, 0, 1, 3])) == "SOS a b EOS"  # valid ids still decode


# --- strict JSON ----------------------------------------------------------------------------------


def test_json_has_no_infinity_tokens_and_refuses_nan(tmp_path, capsys):
    doc = {"log p": -math.inf, "rate": math.inf, "x": np.float64(0.5), "n": np.int64(3), "list": [1.0, -math.inf]}
    assert json_safe(doc) == {"log p": "-inf", "rate": "inf", "x": 0.5, "n": 3, "list": [1.0, "-inf"]}
    print_json(doc)
    assert strict_loads(capsys.readouterr().out)["log p"] == "-inf"
    assert strict_loads(write_json(tmp_path / "d.json", doc).read_text())["rate"] == "inf"
    with pytest.raises(ValueError, match=r"NaN at \$.a\[1\]"):
        dumps_strict({"a": [0.0, math.nan]})
    with pytest.raises(ValueError, match="Infinity"):  # the control: the strict parser rejects what json.dumps writes
        strict_loads(json.dumps({"x": math.inf}))


def test_ginc_json_parses_strictly(capsys):
    from exact.console import main

    code = main(["ginc", "--concepts", "2", "--values", "2", "--slots", "3", "--vocab", "4", "--shots", "2", "--json"])
    doc = strict_loads(capsys.readouterr().out)
    assert code == 0 and any(p["log_prob_prompt_set"] == "-inf" or p["undefined"] >= 0 for p in doc["curve"])


# --- the command line -------------------------------------------------------------------------------


def _parser(run, **defaults):
    parser = Parser(prog="nonident")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("demo")
    p.set_defaults(run=run, **defaults)
    return parser


def test_errors_name_the_flag_the_user_typed(capsys):
    def run(args):
        raise InputError("n_symbols=100000000, n_values=3: too big; n_symbols_extra stays")

    code = dispatch(_parser(run, flag_names={"n_symbols": "--vocab"}), ["demo"])
    err = capsys.readouterr().err
    assert code == 2 and err == "nonident demo: error: --vocab=100000000, n_values=3: too big; n_symbols_extra stays\n"


def test_interrupt_says_what_can_be_resumed(capsys):
    def run(args):
        args.on_interrupt = lambda: "the run can be resumed with the same command"
        raise KeyboardInterrupt

    assert dispatch(_parser(run), ["demo"]) == 130
    assert capsys.readouterr().err == "nonident demo: interrupted; the run can be resumed with the same command\n"


def test_sigterm_unwinds_like_ctrl_c_and_restores_the_handler(capsys):
    cleaned = []

    def run(args):
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            cleaned.append(True)
        return 0

    before = signal.getsignal(signal.SIGTERM)
    assert threading.current_thread() is threading.main_thread()
    assert dispatch(_parser(run), ["demo"]) == 130 and cleaned == [True]
    assert signal.getsignal(signal.SIGTERM) is before
    assert capsys.readouterr().err == "nonident demo: interrupted\n"
