"""``nonident reproduce icl``: the report set on the tiny preset, the claim on it, reuse of the run."""

import json

import pytest

from exact.console import main
from exact.core.artifacts import verify_report_set
from learned.icl.report import render_markdown
from learned.icl.results import IclReport
from proofs_check.catalog import run_claims


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_the_tiny_reproduction_writes_a_report_set_the_claim_recomputes(capsys, tmp_path):
    runs, rep = tmp_path / "runs", tmp_path / "rep"
    code, out, err = run(
        capsys, "reproduce", "icl", "--preset", "tiny", "--runs", str(runs), "--out", str(rep), "--no-progress"
    )
    assert code == 0, err
    assert "## Distance to the Bayes predictor" in out and "| 4 |" in out
    assert {p.name for p in rep.iterdir()} == {"icl.md", "icl.json", "icl.png", "icl-models.pt", "icl.manifest.json"}
    verify_report_set(rep, "icl")
    doc = IclReport.from_dict(json.loads((rep / "icl.json").read_text()))
    assert doc.preset == "tiny" and [r.n_shots for r in doc.shots] == [0, 1, 2, 4] and len(doc.documents) == 2
    assert (rep / "icl.md").read_text() == render_markdown(doc) and doc.published == {}
    assert all(r.p.vs_bayes.accuracy == 1.0 and r.qn.vs_bayes.correct == 0 for r in doc.shots)
    # The claim recomputes every number from the saved parameters; a 12-step model is far from p, so the
    # statement fails (the check can fail), while the recomputation matches the report.
    (rec,) = run_claims(["E2-icl-learned"], artifacts=rep)
    assert rec.error is None and rec.status == "fail"
    assert rec.evidence["recomputed = report"]["largest difference to the report"] <= 1e-9
    assert rec.evidence["the statement"]["near p per token"]["limit"] == 0.1
    # A second run reuses the finished run (its checkpoint is not rewritten) and prints JSON.
    before = (runs / "icl-tiny" / "checkpoint.pt").stat().st_mtime_ns
    code, out, _ = run(
        capsys,
        "reproduce",
        "icl",
        "--preset",
        "tiny",
        "--runs",
        str(runs),
        "--out",
        str(rep),
        "--json",
        "--no-progress",
    )
    assert code == 0 and "documents" not in json.loads(out) and json.loads(out)["shots"]
    assert (runs / "icl-tiny" / "checkpoint.pt").stat().st_mtime_ns == before  # no step was trained again
    # A tampered models file is refused by the claim, not silently recomputed.
    (rep / "icl-models.pt").write_bytes(b"junk")
    (rec,) = run_claims(["E2-icl-learned"], artifacts=rep)
    assert rec.status == "fail" and "SHA-256" in (rec.error or "")
