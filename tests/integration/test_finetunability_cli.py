"""``nonident reproduce finetunability``: the report set on the tiny preset, reuse of the pretraining, errors."""

import json

import pytest

from exact.console import main
from exact.core.artifacts import verify_report_set
from learned.finetunability.results import FinetunabilityReport
from proofs_check.catalog import run_claims


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


FAST = ["--preset", "tiny", "--no-progress", "--set", "finetune.steps=6", "--set", "finetune.eval_every=3"]


@pytest.mark.slow
def test_the_tiny_reproduction_writes_a_checked_report_set(capsys, tmp_path):
    runs, rep = tmp_path / "runs", tmp_path / "rep"
    code, out, err = run(capsys, "reproduce", "finetunability", "--runs", str(runs), "--out", str(rep), *FAST)
    assert code == 0, err
    assert "## Step 0: exact equality" in out and "| widen-2 | factor=2 |" in out and "| random-widen |" in out
    names = {p.name for p in rep.iterdir()}
    assert names == {
        "finetunability.md",
        "finetunability.json",
        "finetunability.png",
        "finetunability-models.pt",
        "finetunability.manifest.json",
    }
    verify_report_set(rep, "finetunability")
    doc = FinetunabilityReport.from_dict(json.loads((rep / "finetunability.json").read_text()))
    assert doc.preset == "tiny" and all(p.equal for p in doc.proofs) and not any(c.equal for c in doc.controls)
    assert {c.name for c in doc.curves} >= {"original", "widen-2", "deepen-1", "relu-4", "permute", "oracle"}
    assert all(len(c.function_kl) == 2 for c in doc.curves if c.name not in ("original", "adversarial", "oracle"))
    # At step 0 every parametrisation is the original's function, so its greedy completions are the original's.
    for opt in ("sgd", "adamw"):
        ref = doc.curve("original", opt)
        assert all(c.r1_before == ref.r1_before for c in doc.curves if c.optimizer == opt and c.seeds == ref.seeds)
        assert doc.curve("original", opt).r1_before == doc.curve("original", "sgd").r1_before
    assert max(doc.curve("permute", "adamw").function_kl) < 1e-8 < min(doc.curve("widen-2", "adamw").function_kl)
    assert doc.provenance["config"] == doc.config and doc.config["steps"] == 6
    # The equality claim recomputes the proofs from the saved pretrained models and passes.
    (rec,) = run_claims(["F3-function-preserving"], artifacts=rep)
    assert rec.status == "pass", rec.error
    assert all(c["rejected"] for c in rec.negative_controls)
    # A second run reuses the finished pretraining (its runs are unchanged) and can print JSON.
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("model.pt")}
    code, out, _ = run(capsys, "reproduce", "finetunability", "--runs", str(runs), "--out", str(rep), "--json", *FAST)
    assert code == 0 and "curves" not in json.loads(out) and len(before) == 3
    assert all(p.stat().st_mtime_ns >= t for p, t in before.items())


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--preset", "paper"], "--preset must be one of cpu, tiny for finetunability"),
        (["--set", "finetune.alphas=-1"], "finetune.alphas"),
        (["--set", "finetune.nope=1"], "finetune.nope"),
        (["--set", "finetune.seeds=0-2000"], "more than 1024 seeds"),
        (["--set", "model.d_model=7"], "model.d_model"),
        (["--set", "finetune.n_max=200", "--set", "finetune.seeds=0-300"], "above the memory limit"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(capsys, tmp_path, argv, flag):
    code, _, err = run(
        capsys, "reproduce", "finetunability", "--runs", str(tmp_path / "r"), "--out", str(tmp_path / "o"), *argv
    )
    assert code == 2 and flag in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()
