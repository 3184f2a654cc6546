"""The ``nonident`` command line: outputs, JSON, one-line errors with exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exact.console import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_anbn_json_gives_the_paper_counts(capsys):
    code, out, _ = run(capsys, "anbn", "--prompt-length", "8", "--json")
    doc = json.loads(out)
    assert code == 0
    assert {k: doc["prompts"][k] for k in ("id", "ood", "ood_r1_already", "ood_violating_r2", "ood_r2_more_b")} == {
        "id": 5,
        "ood": 251,
        "ood_r1_already": 69,
        "ood_violating_r2": 247,
        "ood_r2_more_b": 4,
    }
    assert round(doc["facts"]["padded_loss_floor"], 10) == 0.0188794952


def test_anbn_table(capsys):
    code, out, _ = run(capsys, "anbn", "--law", "pcfg", "--rho", "1/2", "--max-len", "8")
    assert code == 0
    assert "truncated mass" in out and "1/16" in out and "prompts of length 8: ood" in out


def test_anbn_pcfg_truncation_json(capsys):
    code, out, _ = run(capsys, "anbn", "--law", "pcfg", "--rho", "0.9", "--max-len", "20", "--json")
    t = json.loads(out)["truncation"]
    assert code == 0 and t["n_max"] == 10
    assert t["truncated_mass"] == pytest.approx(0.9**10, rel=1e-14)
    assert t["truncated_mass_exact"] == "3486784401/10000000000"


def test_ginc_json_exact_curve_and_provenance(capsys):
    code, out, _ = run(
        capsys,
        "ginc",
        "--concepts",
        "2",
        "--values",
        "2",
        "--slots",
        "3",
        "--vocab",
        "4",
        "--k",
        "2",
        "--shots",
        "2",
        "--smoothing",
        "0.05",
        "--json",
    )
    doc = json.loads(out)
    assert code == 0
    assert [p["n_shots"] for p in doc["curve"]] == [0, 1, 2]
    assert all(p["method"] == "exact" and abs(p["total_mass"] - 1) < 1e-12 for p in doc["curve"])
    assert doc["mixture"]["hidden states"] == 6 and doc["provenance"]["seed"] == 1111
    assert doc["provenance"]["config"]["n_concepts"] == 2 and "commit" in doc["provenance"]


def test_icl_json_certified_n_epsilon(capsys):
    code, out, _ = run(capsys, "icl", "--epsilon", "1e-9", "--max-shots", "3", "--prompts", "200", "--json")
    doc = json.loads(out)
    assert code == 0
    assert doc["n_epsilon"]["1e-9"] == 6
    assert doc["log10 of the certified upper bound of KL(p‖q_n) at N_epsilon"]["1e-9"] < -9
    for row in doc["rows"]:
        assert row["exact"]["flips"] == row["exact"]["n_positive"] > 0
        assert row["exact"]["kl"] <= row["bound_mass"] <= row["certified_upper"]
    assert doc["provenance"]["config"]["epsilon"] == "1e-9"


def test_icl_default_run_certifies_and_counts_the_flips_at_n_epsilon(capsys):
    code, out, _ = run(capsys, "icl", "--epsilon", "1e-9", "--prompts", "100")
    assert code == 0
    assert (
        "At N_ε = 6 for ε = 1e-9: KL(p‖q_6) < ε is certified, and the argmax flips on 1,594,323 of the 1,594,323" in out
    )


def test_icl_table_prints_epsilon_only_when_certified(capsys):
    code, out, _ = run(capsys, "icl", "--epsilon", "1e-400", "--max-shots", "2", "--prompts", "100")
    assert code == 0
    assert "ε = 1e-400   N_ε = " in out and "10^-400" in out and "← --epsilon" in out
    assert " yes " not in out  # no row n ≤ 2 is certified below 1e-400


def test_ginc_table_says_estimate(capsys):
    code, out, _ = run(capsys, "ginc", "--shots", "2", "--prompts", "50", "--smoothing", "0.01")
    assert code == 0
    assert "estimate" in out and "GINC_trans0.1_start10.0_nsymbols50" in out and "all assumptions hold" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["anbn", "--law", "pcfg"], "--rho"),
        (["anbn", "--law", "pcfg", "--rho", "1.5"], "--rho"),
        (["anbn", "--n-max", "0"], "--n-max"),
        (["anbn", "--rho", "0.5"], "--law pcfg"),
        (["anbn", "--prompt-length", "0"], "--prompt-length"),
        (["anbn", "--prompt-length", "40"], "max_bytes"),
        (["anbn", "--law", "pcfg", "--rho", "0.5", "--n-max", "3"], "--n-max"),
        (["check", "--only", "nope"], "nope"),
        (["anbn", "--law", "geometric"], "invalid choice"),
        (["ginc", "--k", "1"], "--k must be an integer ≥ 2"),
        (["ginc", "--concepts", "0"], "--concepts must be"),
        (["ginc", "--smoothing", "1.5"], "--smoothing must be"),
        (["ginc", "--shots", "-1"], "--shots"),
        (["icl", "--epsilon", "0"], "--epsilon"),
        (["icl", "--epsilon", "abc"], "--epsilon"),
        (["icl", "--smoothing", "0"], "emission smoothing"),
        (["icl", "--tie-policy", "ignore"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
        (["train", "anbn", "--set", "model.d_model=7"], "model.d_model must be divisible"),
        (["train", "anbn", "--set", "steps"], "--set expects section.key=value"),
        (["train", "anbn", "--set", "model.colour=3"], "model has no field 'colour'"),
        (["train", "anbn", "--seeds", "x"], "seeds must look like"),
        (["train", "anbn", "--device", "tpu"], "device must be"),
        (["train", "cfg"], "language must be anbn"),
        (["train", "anbn", "--variant", "nice"], "invalid choice"),
        (["evaluate", "/nonexistent/run"], "no model.pt"),
        (["reproduce", "iCL"], "experiment must be one of rule-extrapolation, icl, finetunability"),
        (["reproduce", "icl", "--preset", "paper"], "--preset must be one of cpu, ginc, tiny for icl"),
        (["reproduce", "rule-extrapolation", "--preset", "ginc"], "--preset must be one of paper, cpu, tiny for rule"),
        (["reproduce", "icl", "--set", "ginc.emission_smoothing=0"], "ginc.emission_smoothing"),
        (["reproduce", "icl", "--set", "eval.shots=0,64"], "eval.shots"),
        (["train", "anbn", "--variant", "oracle", "--set", "train.variant=ml"], "give train.variant once"),
        (["ginc", "--vocab", "100000000", "--shots", "1"], "--vocab=100000000"),
        (["ginc", "--shots", "1000000"], "--shots=1000000"),
        (["ginc", "--prompts", "100000000", "--shots", "1"], "--prompts=100000000"),
        (["ginc", "--values", "10000", "--shots", "1"], "--values=10000"),
        (["icl", "--max-shots", "12", "--max-strings", "1000000000000"], "--max-strings=1000000000000"),
        (["train", "anbn", "--set", "data.n_max=2048", "--set", "model.max_len=5000"], "data.n_max=2048"),
        (["train", "anbn", "--seeds", "0-100000", "--set", "train.steps=1"], "more than 1024 seeds"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc_info:
        raise SystemExit(main(argv))
    _, err = capsys.readouterr()
    assert exc_info.value.code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


@pytest.fixture
def two_fake_claims(monkeypatch):
    """The registry replaced by two instant claims: the CLI is tested without re-running the real ones
    (`nonident check` runs those, once per CI run)."""
    from proofs_check import catalog, registry

    def good():
        return registry.Outcome(registry.Check(True), (registry.Control("wrong", registry.Check(False, refuted=True)),))

    def reads(*, artifacts):
        assert artifacts == Path("some/dir")
        return good()

    fake = {
        "demo-a": registry.Claim("demo-a", "A", "s", "m", "src", good),
        "demo-b": registry.Claim("demo-b", "B", "s", "m", "src", reads, ("artifacts",)),
    }
    monkeypatch.setattr(registry, "_REGISTRY", fake)
    monkeypatch.setattr(catalog, "REPORT_ORDER", tuple(fake))


def test_check_writes_reports_and_lists(capsys, tmp_path, two_fake_claims):
    code, out, err = run(capsys, "check", "--out", str(tmp_path), "--artifacts", "some/dir")
    assert code == 0 and "2 of 2 claims pass" in out and "[2/2]" in err
    doc = json.loads((tmp_path / "proof-check.json").read_text())
    assert [c["id"] for c in doc["claims"]] == ["demo-a", "demo-b"]
    assert {"commit", "date", "versions", "config", "seed", "random_streams"} <= set(doc["meta"])
    assert doc["meta"]["config"]["artifacts"] == "some/dir"
    code, out, _ = run(capsys, "check", "--list")
    assert code == 0 and "demo-b" in out and "[needs artifacts]" in out


def test_check_lists_the_real_claims(capsys):
    code, out, _ = run(capsys, "check", "--list")
    assert code == 0 and "E1-rule-extrapolation" in out and "[needs torch, artifacts]" in out


@pytest.mark.parametrize(
    "bug", [ZeroDivisionError("a bug, not a usage problem"), ValueError("raised by a bug, not by input validation")]
)
def test_an_internal_error_is_a_traceback_and_exit_1(capsys, monkeypatch, bug):
    # a plain ValueError is not input validation (that raises InputError): it is a bug too
    import exact.anbn.cli

    def broken(args):
        raise bug

    monkeypatch.setattr(exact.anbn.cli, "compute", broken)
    code, _, err = run(capsys, "anbn", "--json")
    assert code == 1 and "Traceback" in err and f"{type(bug).__name__}: {bug}" in err and "internal error" in err


def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    import exact.anbn.cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(exact.anbn.cli, "compute", interrupted)
    code, _, err = run(capsys, "anbn")
    assert code == 130 and err.strip() == "nonident anbn: interrupted"


def test_version(capsys):
    with pytest.raises(SystemExit) as exc_info:
        main(["--version"])
    assert exc_info.value.code == 0 and capsys.readouterr().out.startswith("nonident ")


@pytest.mark.parametrize(
    "module",
    ["exact.anbn.cli", "exact.grammar.cli", "exact.hmm.cli", "exact.icl.cli", "learned.cli", "proofs_check.cli"],
)
def test_each_command_module_runs_alone(capsys, module):
    import importlib

    with pytest.raises(SystemExit) as exc_info:
        importlib.import_module(module).main(["--help"])
    assert exc_info.value.code == 0 and "usage:" in capsys.readouterr().out


@pytest.mark.slow
def test_exact_commands_load_neither_torch_nor_sympy():
    code = (
        "import sys; from exact.console import main; rc = main(['anbn', '--prompt-length', '8', '--json']); "
        "print(rc, sorted(m for m in ('torch', 'sympy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0 []"
    alone = subprocess.run(
        [sys.executable, "-m", "exact.anbn.cli", "--prompt-length", "8", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert alone.returncode == 0 and json.loads(alone.stdout)["prompts"]["ood"] == 251


def test_check_list_json_and_unwritable_out(capsys, tmp_path):
    code, out, _ = run(capsys, "check", "--list", "--json")
    assert code == 0 and {"F0", "F1"} <= {c["id"] for c in json.loads(out)}
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run(capsys, "check", "--out", str(blocker / "sub"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_huge_truncation_reports_float_mass(capsys):
    code, out, _ = run(capsys, "anbn", "--law", "pcfg", "--rho", "0.9", "--max-len", "1000000", "--json")
    t = json.loads(out)["truncation"]
    assert code == 0 and t["truncated_mass_exact"] is None and t["truncated_mass"] == 0.0


@pytest.mark.slow
def test_console_script_runs_without_traceback(tmp_path):
    script = Path(sys.executable).parent / "nonident"  # the installed console script of this venv
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "exact"]
    ok = subprocess.run([*cmd, "check", "--list"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "F0" in ok.stdout, ok.stderr
    bad = subprocess.run([*cmd, "anbn", "--rho", "2"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_train_evaluate_and_reproduce_on_the_tiny_preset(capsys, tmp_path):
    fast = [
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        "train.steps=6",
        "--set",
        "train.eval_every=3",
        "--set",
        "train.max_pred_length=12",
    ]
    code, out, _ = run(
        capsys, "train", "anbn", "--variant", "oracle", "--seeds", "0-1", "--out", str(tmp_path / "r"), *fast
    )
    assert code == 0 and "6 steps" in out and "nonident evaluate" in out
    # a finished run resumes to nothing; --json gives the last history.json row as written
    code, out, _ = run(
        capsys, "train", "anbn", "--variant", "oracle", "--seeds", "0-1", "--out", str(tmp_path / "r"), "--json", *fast
    )
    doc = json.loads(out)
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert (
        code == 0 and doc["steps"] == 6 and doc["last"] == history[-1] and list(doc["last"])[:2] == ["step", "lr_next"]
    )
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "r"), "--device", "cpu", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["variant"] == "oracle" and [r["seed"] for r in doc["per_seed"]] == [0, 1]
    written = json.loads((tmp_path / "r" / "evaluation.json").read_text())
    assert list(doc) == ["run_dir", "variant", "which", "n_ood", "n_id", "per_seed", "summary", "provenance"]
    assert doc == written | {"provenance": doc["provenance"]}  # the same evaluation (provenance has its own date)
    assert list(doc["per_seed"][0]) == ["seed", "selected_step", "exact", "ood", "id", "extrapolation"]
    code, out, _ = run(capsys, "evaluate", str(tmp_path / "r"), "--device", "cpu")
    assert code == 0 and "OOD R1 finished" in out
    code, out, _ = run(
        capsys,
        "reproduce",
        "rule-extrapolation",
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "rep"),
        *fast,
    )
    assert code == 0 and "| max likelihood |" in out
    for name in (
        "rule-extrapolation.md",
        "rule-extrapolation.json",
        "rule-extrapolation.png",
        "rule-extrapolation-models.pt",
    ):
        assert (tmp_path / "rep" / name).stat().st_size > 0
    md = (tmp_path / "rep" / "rule-extrapolation.md").read_text()
    assert "43.7 ± 4.5" in md and "83.0 ± 10.5" in md and "--preset tiny" in md
    report = json.loads((tmp_path / "rep" / "rule-extrapolation.json").read_text())
    assert list(report) == ["preset", "config", "device", "train_seconds", "variants", "provenance", "models_sha256"]
    assert report["variants"]["ml"]["history"] == json.loads(
        (tmp_path / "runs" / "rule-extrapolation-tiny" / "ml" / "history.json").read_text()
    )
    code, out, _ = run(
        capsys,
        "reproduce",
        "rule-extrapolation",
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "rep2"),
        "--json",
        *fast,
    )
    doc = json.loads(out)
    assert code == 0 and list(doc) == [
        "preset",
        "config",
        "device",
        "train_seconds",
        "provenance",
        "models_sha256",
        "summary",
    ]
    assert doc["summary"] == {v: a["summary"] for v, a in report["variants"].items()}


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04truncated"])
def test_a_corrupt_model_file_is_one_line_and_exit_2(capsys, tmp_path, content):
    (tmp_path / "model.pt").write_bytes(content)
    code, _, err = run(capsys, "evaluate", str(tmp_path), "--device", "cpu")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "is not a readable nonident model" in err


def test_a_diverging_run_is_one_line_and_exit_2(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "train",
        "anbn",
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--no-progress",
        "--set",
        "train.lr=1e30",
        "--set",
        "train.warmup=0",
        "--out",
        str(tmp_path / "r"),
    )
    assert code == 2 and "non-finite" in err and "Traceback" not in err
