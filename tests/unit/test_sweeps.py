"""Sweeps: the sweep file, its jobs, the local backend (skip, retry, report) and the grammar table."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from exact.core.validate import InputError
from learned.nn.runs import read_run_file
from learned.rule_extrapolation.config import LANGUAGES, RunConfig
from learned.rule_extrapolation.train import train
from learned.sweeps.backends import run_sweep
from learned.sweeps.grammar_table import FOLLOW_UP_R1, GrammarTable, grammar_table, render_markdown
from learned.sweeps.jobs import MARKER, is_finished
from learned.sweeps.reproduce import sweep_and_report
from learned.sweeps.spec import ANBN_ARMS, GRAMMARS, LANGUAGE_ARMS, SweepSpec, read_sweep

#: Jobs of about a second each (shared with the integration tests of the sweep).
MICRO = {
    "model.d_model": "8",
    "model.d_ff": "16",
    "model.n_layers": "1",
    "data.n_max": "8",
    "train.steps": "8",
    "train.eval_every": "4",
    "train.checkpoint_every": "4",
    "train.max_pred_length": "12",
}


def micro_spec(runs: Path, **over: object) -> SweepSpec:
    fields: dict[str, object] = {
        "preset": "tiny",
        "grammars": ("anbn", "dyck1"),
        "arms": ("ml",),
        "seeds": (0,),
        "runs": str(runs),
        "retries": 1,
        "overrides": dict(MICRO),
    }
    return SweepSpec(**(fields | over))  # type: ignore[arg-type]


def run_files(job_dir: Path) -> dict[str, object]:
    """What must not depend on who ran a job: parameters, history, evaluation, the resolved config."""
    model = read_run_file(job_dir / "model.pt", "model")
    return {
        "config": json.loads((job_dir / "config.json").read_text())["config"],
        "history": json.loads((job_dir / "history.json").read_text()),
        "evaluation": {  # less where and when it ran
            k: v
            for k, v in json.loads((job_dir / "evaluation.json").read_text()).items()
            if k not in ("provenance", "run_dir") and "seconds" not in k
        },
        "best_state": {k: v.clone() for k, v in model["best_state"].items()},
        "final_state": {k: v.clone() for k, v in model["final_state"].items()},
    }


def assert_same_run(a: dict[str, object], b: dict[str, object]) -> None:
    for key in ("config", "history", "evaluation"):
        assert a[key] == b[key], key
    for key in ("best_state", "final_state"):
        sa, sb = a[key], b[key]
        assert isinstance(sa, dict) and isinstance(sb, dict) and sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), key


class TestSpec:
    def test_all_grammars_list_every_arm_of_each_in_table_order(self, tmp_path):
        spec = SweepSpec(preset="cpu", grammars=("all",), runs=str(tmp_path))
        jobs = spec.jobs()
        assert spec.grammars == GRAMMARS and GRAMMARS[0] == "anbn"
        assert len(jobs) == len(ANBN_ARMS) + len(LANGUAGES) * len(LANGUAGE_ARMS) == 26
        assert [j.name for j in jobs[:5]] == [f"anbn/{a}" for a in ANBN_ARMS]
        root = tmp_path / "rule-extrapolation-cpu"
        assert jobs[0].run_dir == str(root / "ml")  # the layout of nonident reproduce: shared runs
        assert jobs[5].run_dir == str(root / "anbncn" / "ml")
        for job in jobs:
            cfg = RunConfig.from_dict(job.config)
            assert cfg.data.language == job.grammar
            assert (cfg.train.variant, cfg.train.completion_loss) == {**ANBN_ARMS, **LANGUAGE_ARMS}[job.arm]

    def test_arms_seeds_and_overrides_reach_every_job(self, tmp_path):
        spec = micro_spec(tmp_path, arms=("ml", "oracle-corrected"), seeds=(3, 4))
        jobs = spec.jobs()
        assert [j.name for j in jobs] == ["anbn/ml", "anbn/oracle-corrected", "dyck1/ml", "dyck1/oracle-corrected"]
        for job in jobs:
            cfg = RunConfig.from_dict(job.config)
            assert cfg.train.seeds == (3, 4) and cfg.train.steps == 8 and cfg.model.d_model == 8

    def test_the_official_loss_arms_exist_for_anbn_only(self, tmp_path):
        with pytest.raises(InputError, match="selects no arm"):
            micro_spec(tmp_path, grammars=("dyck1",), arms=("oracle",))

    def test_a_file_reads_to_the_same_spec(self, tmp_path):
        f = tmp_path / "s.toml"
        f.write_text(
            'preset = "tiny"\ngrammars = ["anbn", "dyck1"]\narms = ["ml"]\nseeds = [0]\nretries = 1\n'
            f"runs = {json.dumps(str(tmp_path))}\n[overrides]\n" + "".join(f'"{k}" = {v}\n' for k, v in MICRO.items())
        )
        assert read_sweep(f) == micro_spec(tmp_path)
        assert read_sweep(f, runs="elsewhere").runs == str(tmp_path)  # the file wins over a default

    @pytest.mark.parametrize(
        ("text", "field"),
        [
            ("grammars = [anbn\n", "not valid TOML"),
            ('grammar = ["anbn"]\n', "unknown field 'grammar'"),
            ("seeds = 3.5\n", "field 'seeds'"),
            ('seeds = "2-0"\n', "seeds"),
            ('grammars = ["anbn", "nope"]\n', "field 'grammars'"),
            ('grammars = "anbn"\narms = ["nope"]\n', "field 'arms'"),
            ("arms = [1]\n", "field 'arms'"),
            ('retries = "x"\n', "field 'retries'"),
            ("retries = 11\n", "field 'retries'"),
            ('preset = "huge"\n', "field 'preset'"),
            ('experiment = "icl"\n', "field 'experiment'"),
            ("runs = 3\n", "field 'runs'"),
            ("overrides = 3\n", "field 'overrides'"),
            ('[overrides]\n"train.nope" = 1\n', "train.nope"),
            ('[overrides]\n"train.steps" = -3\n', "train.steps"),
        ],
    )
    def test_a_malformed_file_gets_one_line_naming_the_field(self, tmp_path, text, field):
        f = tmp_path / "bad.toml"
        f.write_text(text)
        with pytest.raises(InputError) as err:
            read_sweep(f)
        msg = str(err.value)
        assert field in msg and str(f) in msg and "\n" not in msg
        assert "sweep file" in msg and "sweep field" not in msg  # said once, not twice

    @pytest.mark.parametrize("key", ["train.variant", "train.completion_loss", "train.seeds", "data.language"])
    def test_an_override_may_not_relabel_a_job(self, tmp_path, key):
        with pytest.raises(InputError, match=f"may not set '{key}'"):
            micro_spec(tmp_path, overrides=MICRO | {key: "oracle"})

    def test_every_named_grammar_needs_an_arm_and_lists_may_not_be_empty(self, tmp_path):
        with pytest.raises(InputError, match="no arm of grammar 'dyck1'"):
            micro_spec(tmp_path, arms=("adversarial",))  # an aⁿbⁿ-only arm would silently drop dyck1
        for text in ("grammars = []\n", "arms = []\n", "seeds = []\n"):
            f = tmp_path / "empty.toml"
            f.write_text(text)
            with pytest.raises(InputError, match="field '(grammars|arms|seeds)'"):
                read_sweep(f)

    def test_override_values_keep_their_toml_types(self, tmp_path):
        f = tmp_path / "typed.toml"
        f.write_text('[overrides]\ntrain.steps = 5\n"model.norm_first" = false\n"train.lr" = 0.02\n')
        spec = read_sweep(f)  # the unquoted dotted key arrives as a nested table and is flattened
        assert spec.overrides == {"train.steps": "5", "model.norm_first": "false", "train.lr": "0.02"}
        cfg = RunConfig.from_dict(spec.jobs()[0].config)
        assert (cfg.train.steps, cfg.model.norm_first, cfg.train.lr) == (5, False, 0.02)
        f.write_text('[overrides]\n"train.lr" = [0.1]\n')
        with pytest.raises(InputError, match="train.lr"):
            read_sweep(f)

    def test_a_missing_file_is_named(self, tmp_path):
        with pytest.raises(InputError, match="cannot be read"):
            read_sweep(tmp_path / "absent.toml")


class TestLocalBackend:
    def test_jobs_run_then_a_rerun_skips_them_without_touching_their_files(self, tmp_path):
        spec = micro_spec(tmp_path)
        lines: list[str] = []
        out = run_sweep(spec, log=lines.append)
        assert out.done == ("anbn/ml", "dyck1/ml") and not out.failed and not out.skipped
        assert sum("submitted" in line for line in lines) == 2 and sum(": done in" in line for line in lines) == 2
        for job in spec.jobs():
            run = Path(job.run_dir)
            assert is_finished(job)
            assert {"config.json", "history.json", "checkpoint.pt", "model.pt", "evaluation.json", MARKER} <= {
                p.name for p in run.iterdir()
            }
        stamps = {p: p.stat().st_mtime_ns for j in spec.jobs() for p in Path(j.run_dir).iterdir()}
        again = run_sweep(spec, log=None)
        assert again.skipped == ("anbn/ml", "dyck1/ml") and not again.done
        assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    def test_a_changed_config_is_not_taken_for_finished(self, tmp_path):
        spec = micro_spec(tmp_path, grammars=("dyck1",))
        run_sweep(spec, log=None)
        changed = replace(spec, overrides=MICRO | {"train.steps": "4"})
        assert not is_finished(changed.jobs()[0])  # the marker records the config (negative control)
        assert is_finished(spec.jobs()[0])

    def test_a_failing_job_is_retried_then_reported_while_the_others_finish(self, tmp_path):
        spec = micro_spec(tmp_path, retries=2)
        anbn = spec.jobs()[0]
        # The aⁿbⁿ run directory already holds a checkpoint of another config: every attempt refuses it.
        other = RunConfig.from_dict(anbn.config)
        train(replace(other, train=replace(other.train, lr=0.5)), anbn.run_dir, progress=False, stop_after=4)
        lines: list[str] = []
        reports = sweep_and_report(spec, reports=tmp_path / "rep", log=lines.append)
        out = reports.outcome
        assert out.done == ("dyck1/ml",) and is_finished(spec.jobs()[1])
        assert list(out.failed) == ["anbn/ml"] and "another config" in out.failed["anbn/ml"]
        assert out.attempts["anbn/ml"] == 3
        assert sum("anbn/ml: failed" in line and "retrying" in line for line in lines) == 2
        assert any("anbn/ml: FAILED after 3 attempt(s)" in line for line in lines)
        rep = tmp_path / "rep"
        assert not reports.written and (not rep.exists() or not any(rep.iterdir()))

    def test_a_finished_job_keeps_its_marker_when_another_config_is_refused(self, tmp_path):
        spec = micro_spec(tmp_path, grammars=("dyck1",))
        run_sweep(spec, log=None)
        changed = replace(spec, overrides=MICRO | {"train.steps": "6"})
        out = run_sweep(changed, log=None)
        assert "another config" in out.failed["dyck1/ml"]
        assert is_finished(spec.jobs()[0])  # the refused attempt changed nothing
        assert run_sweep(spec, log=None).skipped == ("dyck1/ml",)

    def test_a_job_evaluated_at_its_final_checkpoint_is_not_finished(self, tmp_path):
        from learned.rule_extrapolation.evaluate import evaluate_run

        spec = micro_spec(tmp_path, grammars=("anbn",))
        run_sweep(spec, log=None)
        job = spec.jobs()[0]
        evaluate_run(job.run_dir, which="final")  # what `nonident evaluate --which final` writes
        assert not is_finished(job)
        assert run_sweep(spec, log=None).done == ("anbn/ml",)  # evaluated again at the best checkpoint
        assert json.loads((Path(job.run_dir) / "evaluation.json").read_text())["which"] == "best"

    def test_bad_backend_arguments_name_the_parameter(self, tmp_path):
        spec = micro_spec(tmp_path)
        for kwargs, name, error in (
            ({"backend": "slurm"}, "backend", InputError),
            ({"workers": 0}, "workers", InputError),
            ({"workers": 1.5}, "workers", TypeError),
            ({"cpus_per_job": True}, "cpus_per_job", TypeError),
            ({"gpus_per_job": -1}, "gpus_per_job", InputError),
            ({"gpus_per_job": "1"}, "gpus_per_job", TypeError),
        ):
            with pytest.raises(error, match=name):
                run_sweep(spec, log=None, **kwargs)  # type: ignore[arg-type]
        assert not tmp_path.joinpath("rule-extrapolation-tiny").exists()  # refused before anything ran


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A two-language sweep with its reports (run once for the grammar-table tests)."""
    runs = tmp_path_factory.mktemp("grammar-table")
    spec = micro_spec(runs, grammars=("dyck2", "anbncn"), arms=("ml", "oracle-corrected"))
    return spec, sweep_and_report(spec, reports=runs / "rep", log=None)


class TestGrammarTable:
    def test_every_job_is_a_row_and_the_report_is_a_function_of_the_json(self, swept):
        spec, result = swept
        table = result.grammars
        assert isinstance(table, GrammarTable) and result.anbn is None  # no aⁿbⁿ arm: no aⁿbⁿ report
        assert [(r.grammar, r.arm) for r in table.rows] == [(j.grammar, j.arm) for j in spec.jobs()]
        out = Path(spec.runs) / "rep"
        doc = json.loads((out / "rule-extrapolation-grammars.json").read_text())
        again = GrammarTable.from_dict(doc)
        assert (out / "rule-extrapolation-grammars.md").read_text() == render_markdown(again)
        assert grammar_table(spec).rows == table.rows  # gathered again from the run directories

    def test_rows_hold_the_runs_evaluations(self, swept):
        spec, result = swept
        for row, job in zip(result.grammars.rows, spec.jobs(), strict=True):
            ev = json.loads((Path(job.run_dir) / "evaluation.json").read_text())
            seed = ev["per_seed"][0]
            assert row.kl_per_token.mean == seed["exact"]["kl_per_token"] > 0
            assert row.ood_r1_finished.mean == seed["ood_r1_finished"]
            assert row.r1_probability_lower.mean == seed["r1_lower"] <= seed["r1_upper"]
            assert row.n_ood == seed["n_ood"]

    def test_the_follow_up_numbers_stand_beside_the_ml_rows_only(self, swept):
        _, result = swept
        md = render_markdown(result.grammars)
        ref = FOLLOW_UP_R1["dyck2"]
        line = next(x for x in md.splitlines() if x.startswith("| dyck2") and "| ml |" in x)
        assert f"{ref[0]:.1f} ± {ref[1]:.1f}" in line
        oracle = next(x for x in md.splitlines() if x.startswith("| dyck2") and "| oracle-corrected |" in x)
        assert f"{ref[0]:.1f} ± {ref[1]:.1f}" not in oracle
        assert "restricted to" in md  # a sweep narrower than --grammar all says so

    def test_a_missing_evaluation_is_an_error_not_a_blank_row(self, swept, tmp_path):
        spec, _ = swept
        with pytest.raises(InputError):
            grammar_table(replace(spec, runs=str(tmp_path)))


def test_the_committed_grammar_table_is_its_json_rendered():
    """reports/rule-extrapolation-grammars.md is generated from its JSON, never edited (a changed row fails)."""
    reports = Path(__file__).resolve().parents[2] / "reports"
    doc = json.loads((reports / "rule-extrapolation-grammars.json").read_text())
    table = GrammarTable.from_dict(doc)
    assert (reports / "rule-extrapolation-grammars.md").read_text() == render_markdown(table)
    assert {r.grammar for r in table.rows} == set(GRAMMARS) and len(table.rows) == 26
    changed = replace(table, rows=(replace(table.rows[0], arm="oracle"), *table.rows[1:]))
    assert render_markdown(changed) != render_markdown(table)  # the comparison sees a change


def test_every_table_row_has_as_many_cells_as_the_header(swept):
    """A `|` inside a cell (P(|w| > L)) must be escaped, or the row gains columns."""
    _, result = swept
    truncated = replace(result.grammars.rows[0], truncated_mass=0.25)
    md = render_markdown(replace(result.grammars, rows=(truncated, *result.grammars.rows[1:])))
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    cells = {len(re.split(r"(?<!\\)\|", line)) for line in rows}
    assert len(cells) == 1, cells
    assert "P(\\|w\\| > L) = 0.250" in md
