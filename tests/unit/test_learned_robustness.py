"""Run directories are valid or absent; limits before allocation; one-line errors (docs/robustness.md)."""

from __future__ import annotations

import json

import pytest
import torch

import learned.rule_extrapolation.train as train_module
from exact.core.limits import LimitError
from exact.core.validate import InputError
from learned.rule_extrapolation.config import MAX_SEEDS, parse_seeds, preset
from learned.rule_extrapolation.reproduce import reproduce_rule_extrapolation
from learned.rule_extrapolation.train import DivergedError, estimate_step_bytes, load_model, train
from tests.unit.test_learned_training import micro


def test_a_start_that_fails_before_any_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("a bug in the first evaluation")

    monkeypatch.setattr(train_module, "_evaluate_point", boom)
    with pytest.raises(RuntimeError, match="a bug"):
        train(micro(), tmp_path / "runs" / "new", progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the run directory nor the runs/ it created


def test_ctrl_c_before_any_checkpoint_leaves_nothing_but_an_existing_folder(tmp_path, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_evaluate_point", interrupt)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("kept")
    with pytest.raises(KeyboardInterrupt):
        train(micro(), tmp_path / "mine", progress=False)
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]  # only what we wrote is removed


def test_a_run_that_diverges_after_a_checkpoint_keeps_it_and_says_so(tmp_path, monkeypatch):
    cfg = micro()
    real = train_module.lm_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):  # finite for 6 steps (checkpoint at step 4), then NaN
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 6 else loss

    monkeypatch.setattr(train_module, "lm_loss", poisoned)
    with pytest.raises(DivergedError, match=r"keeps the last good state \(step 4\)"):
        train(cfg, tmp_path / "r", progress=False)
    run = tmp_path / "r"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.json", "history.json"]
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert json.loads((run / "history.json").read_text()) == ck["history"]  # the history of the kept state
    monkeypatch.setattr(train_module, "lm_loss", real)
    assert train(cfg, run, progress=False).steps == 12  # and it resumes from there


def test_a_diverged_run_with_no_checkpoint_leaves_nothing(tmp_path):
    with pytest.raises(DivergedError, match="non-finite"):
        train(micro(**{"train.lr": 1e30, "train.warmup": 0}), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


def test_memory_is_estimated_before_anything_is_allocated(tmp_path):
    big = preset("cpu", **{"data.n_max": 2048, "model.max_len": 5000})
    assert estimate_step_bytes(big) > 100 * 2**30
    with pytest.raises(LimitError, match=r"data.n_max=2048.*one training step needs at least"):
        train(big, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
    assert estimate_step_bytes(preset("cpu")) < 2**30  # the control: the presets fit


def test_seed_ranges_are_bounded_before_they_are_expanded():
    assert len(parse_seeds(f"0-{MAX_SEEDS - 1}")) == MAX_SEEDS
    with pytest.raises(InputError, match="more than 1024 seeds"):
        parse_seeds("0-1000000000000")


def test_reproduce_checks_its_output_folder_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="reports .* is not a writable directory"):
        reproduce_rule_extrapolation("tiny", runs=tmp_path / "runs", reports=blocker / "out", progress=False)
    assert not (tmp_path / "runs").exists()  # nothing trained


def test_a_mismatched_model_file_is_one_line(tmp_path):
    cfg = micro(**{"train.steps": 2, "train.eval_every": 2, "train.checkpoint_every": 2})
    train(cfg, tmp_path / "r", progress=False)
    ck = torch.load(tmp_path / "r" / "model.pt", weights_only=True)
    ck["best_state"] = {k: v[:1] for k, v in ck["best_state"].items()}  # one seed where the config has two
    torch.save(ck, tmp_path / "r" / "model.pt")
    with pytest.raises(InputError) as info:
        load_model(tmp_path / "r")
    message = str(info.value)
    assert "\n" not in message and "mis-shaped tensors" in message and "seed count" in message
