"""Sweeps end to end: the same run directories from every backend, resumption after a kill, the CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from learned.cli import main
from learned.sweeps.backends import run_sweep
from learned.sweeps.jobs import MARKER, is_finished
from tests.unit.test_sweeps import MICRO, assert_same_run, micro_spec, run_files

HAS_RAY = importlib.util.find_spec("ray") is not None


def _sweep_file(path: Path, runs: Path, grammars: tuple[str, ...] = ("anbn", "dyck1")) -> Path:
    path.write_text(
        f'preset = "tiny"\ngrammars = {json.dumps(list(grammars))}\narms = ["ml"]\nseeds = [0]\n'
        f"runs = {json.dumps(str(runs))}\n[overrides]\n" + "".join(f'"{k}" = {v}\n' for k, v in MICRO.items())
    )
    return path


@pytest.fixture(scope="module")
def inline_runs(tmp_path_factory):
    """The reference: the jobs run one after another in this process."""
    spec = micro_spec(tmp_path_factory.mktemp("inline"))
    assert not run_sweep(spec, log=None).failed
    return {j.name: run_files(Path(j.run_dir)) for j in spec.jobs()}


@pytest.mark.slow
def test_a_process_pool_gives_the_same_run_directories(inline_runs, tmp_path):
    spec = micro_spec(tmp_path)
    out = run_sweep(spec, workers=2, log=None)
    assert set(out.done) == set(inline_runs) and not out.failed
    for job in spec.jobs():
        assert_same_run(run_files(Path(job.run_dir)), inline_runs[job.name])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_RAY, reason="the optional extra nonident[ray] is not installed (CI installs it)")
def test_ray_gives_the_same_run_directories_as_the_local_backend(inline_runs, tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    spec = micro_spec(tmp_path)
    lines: list[str] = []
    out = run_sweep(spec, backend="ray", ray_num_cpus=2, log=lines.append)
    assert set(out.done) == set(inline_runs) and not out.failed, out.failed
    assert out.startup_seconds > 0
    for job in spec.jobs():
        assert_same_run(run_files(Path(job.run_dir)), inline_runs[job.name])
    # the negative control: a different seed is a different run, and the comparison sees it
    other = micro_spec(tmp_path / "other", seeds=(1,))
    run_sweep(other, log=None)
    with pytest.raises(AssertionError):
        assert_same_run(run_files(Path(other.jobs()[0].run_dir)), inline_runs["anbn/ml"])


def test_a_killed_sweep_resumes_without_redoing_finished_jobs(tmp_path, inline_runs):
    runs = tmp_path / "runs"
    order = ("dyck1", "anbn", "dyck2")  # a quick first job, then a slower one to be killed in
    file = _sweep_file(tmp_path / "s.toml", runs, order)
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "exact", "sweep", str(file), "--out", str(tmp_path / "rep")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    spec = micro_spec(runs, grammars=order)
    first = Path(spec.jobs()[0].run_dir)
    deadline = time.monotonic() + 120
    while not (first / MARKER).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # a crash, not a polite interrupt
    proc.communicate()
    assert (first / MARKER).exists(), "the first job never finished"
    unfinished = [j.name for j in spec.jobs() if not is_finished(j)]
    assert unfinished, "killed too late: every job had finished"
    stamps = {p.name: p.stat().st_mtime_ns for p in first.iterdir()}
    lines: list[str] = []
    out = run_sweep(spec, log=lines.append)
    assert "dyck1/ml" in out.skipped and set(out.done) == set(unfinished) and not out.failed
    assert any("dyck1/ml: finished earlier, skipped" in line for line in lines)
    assert {p.name: p.stat().st_mtime_ns for p in first.iterdir()} == stamps
    assert all(is_finished(j) for j in spec.jobs())
    # the job killed mid-way ends as if it had never been interrupted
    assert_same_run(run_files(Path(spec.jobs()[1].run_dir)), inline_runs["anbn/ml"])


@pytest.mark.slow
def test_an_interrupted_pool_stops_its_jobs_at_once(tmp_path):
    """SIGINT to the driver alone (a scheduler, `kill -INT`): the workers stop too, and the jobs resume later."""
    runs = tmp_path / "runs"
    file = tmp_path / "s.toml"
    file.write_text(f'preset = "tiny"\narms = ["adversarial", "oracle"]\nruns = {json.dumps(str(runs))}\n')
    spec = micro_spec(runs, grammars=("anbn",), arms=("adversarial", "oracle"), overrides={}, seeds=None)
    cmd = [sys.executable, "-m", "exact", "sweep", str(file), "--workers", "2", "--out", str(tmp_path / "rep")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dirs = [Path(j.run_dir) for j in spec.jobs()]
    deadline = time.monotonic() + 120
    while not all((d / "history.json").exists() for d in dirs) and time.monotonic() < deadline:
        time.sleep(0.05)  # both workers are training
    assert proc.poll() is None, "the jobs ended before the interrupt"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 5, "the driver waited for its jobs"
    assert proc.returncode == 130, err
    assert not any((d / MARKER).exists() for d in dirs)
    out = run_sweep(spec, workers=2, log=None)  # and they resume
    assert set(out.done) == {"anbn/adversarial", "anbn/oracle"}


class TestCli:
    def test_sweep_writes_the_reports_and_a_json_summary(self, tmp_path, capsys):
        file = _sweep_file(tmp_path / "s.toml", tmp_path / "runs", ("dyck1",))
        assert main(["sweep", str(file), "--out", str(tmp_path / "rep"), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["done"] == ["dyck1/ml"] and summary["failed"] == {}
        assert (tmp_path / "rep" / "rule-extrapolation-grammars.md").exists()
        assert main(["sweep", str(file), "--out", str(tmp_path / "rep"), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["skipped"] == ["dyck1/ml"]

    def test_evaluate_reads_a_library_language_run(self, tmp_path, capsys):
        spec = micro_spec(tmp_path / "runs", grammars=("dyck1",))
        run_sweep(spec, log=None)
        run = spec.jobs()[0].run_dir
        assert main(["evaluate", run, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["language"] == "dyck1" and doc["per_seed"][0]["n_ood"] == 5
        assert main(["evaluate", run]) == 0
        assert "dyck1 (official), variant ml, 1 seed(s)" in capsys.readouterr().out
        with pytest.raises(SystemExit) as err:
            raise SystemExit(main(["evaluate", run, "--which", "final"]))
        assert err.value.code == 2 and "--which final" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("argv", "flag"),
        [
            (["reproduce", "rule-extrapolation", "--grammar", "nope"], "--grammar"),
            (["reproduce", "rule-extrapolation", "--grammar", ","], "--grammar"),
            (["reproduce", "rule-extrapolation", "--grammar", "all", "--workers", "0"], "--workers"),
            (["reproduce", "rule-extrapolation", "--grammar", "all", "--cpus-per-job", "0"], "--cpus-per-job"),
            (["reproduce", "rule-extrapolation", "--grammar", "all", "--gpus-per-job", "-1"], "--gpus-per-job"),
            (["reproduce", "icl", "--grammar", "all"], "--grammar"),
            (["reproduce", "finetunability", "--workers", "2"], "--workers"),
            (["reproduce", "rule-extrapolation", "--ray-address", "h:6379"], "--ray-address"),
            (["reproduce", "rule-extrapolation", "--grammar", "all", "--gpus-per-job", "1"], "--gpus-per-job"),
            (["reproduce", "rule-extrapolation", "--backend", "ray", "--workers", "2"], "--workers"),
        ],
    )
    def test_bad_sweep_flags_are_one_line_naming_the_flag(self, argv, flag, tmp_path, capsys):
        with pytest.raises(SystemExit) as err:
            raise SystemExit(main([*argv, "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]))
        assert err.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and flag in lines[0]
        assert not (tmp_path / "runs").exists()

    def test_the_runs_flag_wins_over_the_file(self, tmp_path, capsys):
        file = _sweep_file(tmp_path / "s.toml", tmp_path / "file-runs", ("dyck1",))
        assert main(["sweep", str(file), "--runs", str(tmp_path / "flag-runs"), "--out", str(tmp_path / "rep")]) == 0
        assert (tmp_path / "flag-runs").is_dir() and not (tmp_path / "file-runs").exists()

    def test_a_malformed_sweep_file_is_one_line_naming_the_field(self, tmp_path, capsys):
        f = tmp_path / "bad.toml"
        f.write_text('grammars = ["anbn"]\nseeds = 3.5\n')
        with pytest.raises(SystemExit) as err:
            raise SystemExit(main(["sweep", str(f), "--runs", str(tmp_path / "runs")]))
        assert err.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "field 'seeds'" in lines[0] and str(f) in lines[0]

    def test_a_failed_job_exits_1_and_names_it(self, tmp_path, capsys):
        file = _sweep_file(tmp_path / "s.toml", tmp_path / "runs", ("dyck1",))
        job_dir = Path(micro_spec(tmp_path / "runs", grammars=("dyck1",)).jobs()[0].run_dir)
        job_dir.mkdir(parents=True)
        (job_dir / "checkpoint.pt").write_bytes(b"not a checkpoint")
        assert main(["sweep", str(file), "--out", str(tmp_path / "rep"), "--retries", "0"]) == 1
        err = capsys.readouterr().err
        assert "1 job(s) failed: dyck1/ml" in err and "no report written" in err
        assert not (tmp_path / "rep" / "rule-extrapolation-grammars.md").exists()
