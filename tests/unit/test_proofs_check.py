"""The claim registry, every registered claim with its negative control, and the report renderer."""

import json
from pathlib import Path

import pytest
import sympy as sp

from exact.core.artifacts import verify_report_set
from exact.core.validate import InputError
from proofs_check.catalog import REPORT_ORDER, registered, run_claims
from proofs_check.registry import (
    _REGISTRY,
    Check,
    Claim,
    ClaimRecord,
    Control,
    Figure,
    Outcome,
    claim,
    run_one,
)
from proofs_check.report import render_html, render_json, render_markdown, write_reports
from proofs_check.symbolic import identity
from proofs_check.symbols import c, d

ARTIFACTS = Path(__file__).resolve().parents[2] / "reports"


@pytest.mark.claims
@pytest.mark.parametrize("claim_id", REPORT_ORDER)
def test_every_claim_passes_and_rejects_its_control(claim_id):
    # The claim tier: `nonident check` runs the same claims (CI runs them there, once).
    (rec,) = run_claims([claim_id], artifacts=ARTIFACTS)
    assert rec.status == "pass", (rec.id, rec.error, rec.evidence)
    assert rec.evidence["held"] is True
    assert rec.negative_controls and all(ctl["rejected"] is True for ctl in rec.negative_controls), rec.id
    assert all(ctl["verdict"] == "refuted" for ctl in rec.negative_controls), rec.id


def test_a_claim_missing_from_the_report_order_is_an_error(monkeypatch):
    registered()  # registers every claim
    monkeypatch.setitem(_REGISTRY, "unlisted", Claim("unlisted", "t", "s", "m", "src", lambda: None))
    with pytest.raises(RuntimeError, match=r"not listed \['unlisted'\]"):
        registered()


def test_an_artifact_claim_gets_the_directory_it_is_given(tmp_path):
    seen = []

    def needs_files(*, artifacts):
        seen.append(artifacts)
        return Outcome(Check(True), (Control("c", Check(False, refuted=True)),))

    c = Claim("art", "t", "s", "m", "src", needs_files, ("artifacts",))
    assert run_one(c, tmp_path).status == "pass" and seen == [tmp_path]
    rec = run_one(c)  # no directory: a failure that says what is missing, never a guess
    assert rec.status == "fail" and "nonident check --artifacts" in rec.error
    with pytest.raises(ValueError, match="needs must be among"):
        claim(id="x", title="t", statement="s", method="m", source="src", needs=("gpu",))


def _claim(func):
    return Claim("X", "t", "s", "m", "src", func)


def test_a_check_that_accepts_any_control_fails():
    rec = run_one(
        _claim(
            lambda: Outcome(Check(True), (Control("wrong", Check(False, refuted=True)), Control("same", Check(True))))
        )
    )
    assert rec.status == "fail" and [c["rejected"] for c in rec.negative_controls] == [True, False]
    assert [c["verdict"] for c in rec.negative_controls] == ["refuted", "held"]


def test_an_inconclusive_control_is_not_a_rejection():
    """A control that merely failed to simplify proves nothing (it might be true)."""
    true_identity = identity(sp.sqrt(c**2 + 2 * c * d + d**2), c + d)  # true, yet not reduced by cancel
    assert not true_identity.passed and not true_identity.refuted
    rec = run_one(_claim(lambda: Outcome(Check(True), (Control("true but unsimplified", true_identity),))))
    assert rec.status == "fail" and rec.negative_controls[0]["verdict"] == "inconclusive"


def test_check_cannot_pass_and_be_refuted():
    with pytest.raises(ValueError, match="both"):
        Check(True, refuted=True)
    assert Check.numeric(False, {}).refuted and not Check.numeric(True, {}).refuted
    combined = Check.all_of({"a": Check(True), "b": Check(False, refuted=True)})
    assert not combined.passed and combined.refuted


def test_a_failing_check_fails():
    assert run_one(_claim(lambda: Outcome(Check(False), (Control("c", Check(False, refuted=True)),)))).status == "fail"


def test_an_outcome_needs_a_control():
    with pytest.raises(ValueError, match="negative control"):
        Outcome(Check(True), ())


def test_only_runs_each_claim_once():
    assert [r.id for r in run_claims(["F0", "F0"])] == ["F0"]


def test_an_exception_is_a_failure_with_its_message():
    def boom():
        raise RuntimeError("kaboom")

    rec = run_one(_claim(boom))
    assert rec.status == "fail" and "kaboom" in rec.error


def test_unknown_claim_id_is_rejected():
    with pytest.raises(ValueError, match="only names unknown claim 'nope'"):
        run_claims(["nope"])


def _fixed_records():
    ok = ClaimRecord(
        "A1",
        "first",
        "stmt",
        "meth",
        "src",
        "pass",
        {"held": True, "x": 0.5},
        [{"description": "c", "rejected": True, "evidence": {"x": 1.0}}],
        0.01,
    )
    bad = ClaimRecord(
        "B2",
        "second",
        "stmt",
        "meth",
        "src",
        "fail",
        {"held": False},
        [{"description": "c", "rejected": False, "evidence": {}}],
        0.02,
        "ValueError: no",
    )
    return [ok, bad]


META = {
    "commit": "abc123",
    "dirty": False,
    "date": "2026-01-01T00:00:00+00:00",
    "versions": {"numpy": "2"},
    "platform": "x",
    "config": {"only": None},
}


def test_markdown_structure():
    md = render_markdown(_fixed_records(), META)
    assert md.startswith("# nonident proof-check report")
    assert "1 of 2 claims pass" in md and "`abc123`" in md and "numpy 2" in md
    table = [line for line in md.splitlines() if line.startswith("| [")]
    assert len(table) == 2 and "**PASS**" in table[0] and "**FAIL**" in table[1]
    assert md.count("\n## ") == 2
    assert "NOT rejected" in md and "ValueError: no" in md


def test_json_structure_and_no_nan():
    doc = json.loads(render_json(_fixed_records(), META))
    assert doc["summary"] == {"claims": 2, "passed": 1, "failed": 1}
    assert doc["meta"]["commit"] == "abc123"
    assert [c["id"] for c in doc["claims"]] == ["A1", "B2"]
    nan = ClaimRecord("N", "t", "s", "m", "src", "pass", {"v": float("nan")}, [], 0.0)
    with pytest.raises(ValueError, match="NaN"):
        render_json([nan], META)


def test_html_is_standalone_and_complete():
    page = render_html(_fixed_records(), META)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "http" not in page and "<script" not in page and "<link" not in page  # works offline
    assert page.count("<section") == 2 and "1 of 2 claims pass" in page
    assert "NOT rejected" in page and "ValueError: no" in page and "abc123" in page


def test_figures_are_written_and_embedded(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16
    rec = ClaimRecord(
        "F", "t", "s", "m", "src", "pass", {"held": True}, [], 0.0, None, [Figure("demo-fig", "a caption", png)]
    )
    paths = write_reports([rec], META, tmp_path)
    assert (tmp_path / "proof-check-demo-fig.png").read_bytes() == png
    assert "![a caption](proof-check-demo-fig.png)" in (tmp_path / "proof-check.md").read_text()
    assert "data:image/png;base64," in (tmp_path / "proof-check.html").read_text() and len(paths) == 5
    assert paths[-1].name == "proof-check.manifest.json"  # the set with its manifest, written last
    assert (
        json.loads((tmp_path / "proof-check.json").read_text())["claims"][0]["figures"][0]["file"]
        == "proof-check-demo-fig.png"
    )
    with pytest.raises(ValueError, match="not a PNG"):
        Figure("x", "c", b"GIF89a")
    with pytest.raises(ValueError, match="figure name"):
        Figure("Bad Name", "c", png)


def test_write_reports_is_one_set_with_a_manifest(tmp_path):
    paths = write_reports(_fixed_records(), META, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "proof-check.html",
        "proof-check.json",
        "proof-check.manifest.json",
        "proof-check.md",
    ]  # no staging folder left behind
    assert all(p.stat().st_size > 0 for p in paths)
    manifest = verify_report_set(tmp_path / "out", "proof-check")
    assert set(manifest["files"]) == {"proof-check.html", "proof-check.json", "proof-check.md"}
    assert "commit" in manifest and "date" in manifest


def test_a_report_set_mixed_by_an_interrupted_write_is_detected(tmp_path):
    write_reports(_fixed_records(), META, tmp_path / "a")
    write_reports(_fixed_records(), {**META, "commit": "another"}, tmp_path / "b")
    (tmp_path / "a" / "proof-check.md").write_bytes((tmp_path / "b" / "proof-check.md").read_bytes())
    with pytest.raises(InputError, match="does not belong to the report set"):
        verify_report_set(tmp_path / "a", "proof-check")
    verify_report_set(tmp_path / "b", "proof-check")  # the untouched set verifies


def test_a_failed_render_leaves_the_previous_set_untouched(tmp_path, monkeypatch):
    write_reports(_fixed_records(), META, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    import proofs_check.report as report

    monkeypatch.setattr(report, "render_html", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        write_reports(_fixed_records(), {**META, "commit": "other"}, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_report_order_lists_every_claim_once():
    assert len(set(REPORT_ORDER)) == len(REPORT_ORDER)
    assert list(registered()) == list(REPORT_ORDER)  # a new claim must be placed in the order
    assert registered()["E1-rule-extrapolation"].needs == ("torch", "artifacts")
