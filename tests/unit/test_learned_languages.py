"""Rule extrapolation on library languages: the training law, the arms' completions, the greedy rates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from exact.core.validate import InputError
from exact.grammar.base import words_to_array
from learned.nn.runs import deterministic
from learned.rule_extrapolation.config import LANGUAGES, DataConfig, language_overrides, preset
from learned.rule_extrapolation.languages import SetSampler, language_task, rule_rates

CASES = [  # (language, law, params, word length, prompt length)
    ("dyck2", "official", "K=3", 6, 2),
    ("ban", "pcfg", "", 8, 4),
    ("anbncn", "uniform", "n_max=4", 12, 3),
    ("not_nested", "official", "K=3", 6, 2),
]


def task_of(name: str, law: str, params: str, length: int, k: int):
    d = DataConfig(law="pcfg", language=name, language_law=law, language_params=params, word_length=length)
    return language_task(d, k)


def completions(rows: np.ndarray, prompt_width: int) -> np.ndarray:
    """What a model emitted after the prompt (the extended rows without SOS and prompt)."""
    return rows[:, prompt_width:]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
class TestLanguageTask:
    def test_the_training_law_is_the_conditioned_exact_law(self, case):
        task = task_of(*case)
        p = np.exp(task.tests.log_prob)
        assert math.isclose(p.sum(), 1.0, rel_tol=0, abs_tol=1e-12)
        dist = task.language.distribution
        strings = dist.strings(case[3])
        raw = np.exp(strings.log_probs)
        # conditioning is explicit: raw mass + truncated mass = 1, and each word is scaled by 1/(1 − m)
        assert math.isclose(raw.sum() + task.truncated_mass, 1.0, abs_tol=1e-12)
        np.testing.assert_allclose(p, raw / (1 - task.truncated_mass), rtol=1e-12)
        assert (task.truncated_mass > 0) == (case[1] == "pcfg")  # the official and uniform laws are finite here
        # framing: SOS w EOS PAD…
        v = dist.vocabulary
        assert np.all(task.tests.tokens[:, 0] == v.sos)
        assert np.all(task.tests.tokens[np.arange(len(p)), strings.lengths + 1] == v.eos)

    def test_oracle_completions_satisfy_r1_and_adversarial_ones_break_it(self, case):
        task = task_of(*case)
        width = task.ood.shape[1]
        oracle, adversarial = task.extended("oracle"), task.extended("adversarial")
        r_oracle = rule_rates(task, task.ood, completions(oracle, width))
        r_adv = rule_rates(task, task.ood, completions(adversarial, width))
        assert r_oracle["finished"] == r_adv["finished"] == 1.0
        # the oracle completes every prompt whose rule can still hold; the adversary none
        words = [[int(t) for t in row[1:] if t < task.n_terminals] for row in oracle]
        holds = task.rule.check(*words_to_array(words))
        assert r_oracle["r1_all"] == pytest.approx(holds.mean()) and holds.mean() > 0
        assert r_adv["r1_all"] == 0.0

    def test_the_greedy_rates_count_unfinished_and_malformed_completions_as_failures(self, case):
        task = task_of(*case)
        width = task.ood.shape[1]
        good = completions(task.extended("oracle"), width).copy()
        base = rule_rates(task, task.ood, good)
        no_eos = np.where(good == task.eos, 0, good)  # EOS replaced by a terminal: never finished
        assert rule_rates(task, task.ood, no_eos)["finished"] == 0.0
        assert rule_rates(task, task.ood, no_eos)["r1_all"] == 0.0
        trailing = np.concatenate([good, np.zeros((len(good), 1), dtype=good.dtype)], axis=1)
        trailing[:, -1] = 0  # a terminal after the EOS: not finished
        assert rule_rates(task, task.ood, trailing)["finished"] == 0.0
        assert base["r1_finished"] >= base["r1_all"]


class TestSetSampler:
    def test_draws_follow_the_law_one_stream_per_seed_and_resume(self):
        task = task_of(*CASES[1])
        a, b = SetSampler(task.tests, 64, (0, 1)), SetSampler(task.tests, 64, (0, 1))
        first = a.draw()
        assert first.shape == (2, 64, task.tests.tokens.shape[1])
        assert np.array_equal(first, b.draw())  # same seeds, same batches
        assert not np.array_equal(first[0], first[1])  # seeds differ
        state = a.state()
        nxt = a.draw()
        b.set_state(state)
        assert np.array_equal(b.draw(), nxt)
        # frequencies: many draws land on each word about p(w) of the time
        big = SetSampler(task.tests, 20000, (3,)).draw()[0]
        index = {row.tobytes(): i for i, row in enumerate(task.tests.tokens)}
        counts = np.bincount([index[r.tobytes()] for r in big], minlength=len(index))
        p = np.exp(task.tests.log_prob)
        assert np.abs(counts / counts.sum() - p).max() < 0.02


def test_every_language_of_the_table_has_a_valid_cpu_config():
    for name in LANGUAGES:
        cfg = preset("cpu", **language_overrides(name))
        task = language_task(cfg.data, cfg.train.prompt_length)
        assert cfg.model.vocab_size == task.language.distribution.vocab_size
        assert len(task.ood) > 0 and task.tests.tokens.shape[1] == cfg.data.width


def test_language_settings_are_validated(tmp_path):
    with pytest.raises(InputError, match="data.word_length"):
        DataConfig(law="pcfg", language="dyck1", word_length=1)
    with pytest.raises(InputError, match="data.law"):
        DataConfig(law="uniform", language="dyck1", word_length=6)
    with pytest.raises(InputError, match="data.language_params must be KEY=VALUE"):
        DataConfig(law="pcfg", language="dyck1", word_length=6, language_params="K")
    with pytest.raises(InputError, match="data.language"):
        DataConfig(language="nope")
    with pytest.raises(InputError, match="data.language"):
        DataConfig(word_length=6)  # anbn is set by n_max
    with pytest.raises(InputError, match="language"):
        language_overrides("anbn")
    with pytest.raises(InputError, match="model.vocab_size"):
        from learned.rule_extrapolation.train import train

        train(preset("tiny", **(language_overrides("dyck1") | {"model.vocab_size": 9})), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # refused before the run directory is made


def test_deterministic_switches_torch_on_for_the_block_and_restores_it():
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic(torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled()
    assert torch.are_deterministic_algorithms_enabled() == before
    with pytest.raises(RuntimeError), deterministic(torch.device("cpu")):
        raise RuntimeError("restored on error too")
    assert torch.are_deterministic_algorithms_enabled() == before
