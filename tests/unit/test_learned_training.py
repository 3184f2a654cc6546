"""Configs, data, losses, the official protocol and seed-batched training (determinism, resume)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from exact import AnbnDistribution, UniformLength, check_rules, is_sentence
from exact.anbn.witnesses import OODPolicyModel
from exact.core.tokens import EOS, PAD, SOS, A, B, TokenBatch, encode
from learned.nn.config import ModelConfig
from learned.nn.model import Transformer
from learned.nn.predictor import TransformerPredictor
from learned.rule_extrapolation.config import DataConfig, RunConfig, TrainConfig, apply_overrides, parse_seeds, preset
from learned.rule_extrapolation.data import PcfgSampler, extended_prompts, prompt_set, sentence_set
from learned.rule_extrapolation.evaluate import evaluate_run
from learned.rule_extrapolation.losses import completion_loss, lm_loss
from learned.rule_extrapolation.protocol import grammar_metrics, greedy_complete, greedy_complete_predictor
from learned.rule_extrapolation.results import (
    ArmResult,
    GrammarMetrics,
    HistoryPoint,
    MeanStd,
    ReproductionReport,
    RunEvaluation,
    RunSummary,
    SeedEvaluation,
)
from learned.rule_extrapolation.train import load_model, train

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def micro(**over: object) -> RunConfig:
    """A config that trains in well under a second per step."""
    base = {
        "model.d_model": 8,
        "model.d_ff": 16,
        "model.n_layers": 1,
        "data.n_max": 8,
        "train.steps": 12,
        "train.eval_every": 6,
        "train.checkpoint_every": 4,
        "train.max_pred_length": 12,
        "train.seeds": (0, 1),
    }
    return preset("tiny", **(base | over))


class TestConfig:
    def test_inverse_sqrt_schedule_matches_the_official_values(self):
        tc = TrainConfig()  # lr 2e-3, warm-up 1000 (docs/paper.md §5.3)
        assert tc.lr_factor(0) == 0.0
        assert tc.lr * tc.lr_factor(500) == pytest.approx(1e-3)
        assert tc.lr * tc.lr_factor(35_000) == pytest.approx(3.38e-4, abs=5e-7)
        assert tc.lr * tc.lr_factor(50_000) == pytest.approx(2.83e-4, abs=5e-7)
        assert TrainConfig(optimizer="sgd").lr_factor(0) == 1.0
        no_warmup = TrainConfig(warmup=0)  # HF: timescale 10,000, shifted; never a frozen lr
        assert no_warmup.lr_factor(0) == 1.0 and no_warmup.lr_factor(30_000) == pytest.approx(0.5)

    def test_weight_decay_defaults_follow_pytorch(self):
        assert TrainConfig().decay == 0.01 and TrainConfig(optimizer="sgd").decay == 0.0
        assert TrainConfig(optimizer="sgd", weight_decay=0.1).decay == 0.1
        assert apply_overrides(preset("cpu"), {"train.weight_decay": "0.5"}).train.decay == 0.5

    def test_overrides_name_real_fields_and_parse_their_types(self):
        cfg = apply_overrides(preset("cpu"), {"model.norm_first": "false", "train.lr": "0.5", "train.seeds": "3-5"})
        assert cfg.model.norm_first is False and cfg.train.lr == 0.5 and cfg.train.seeds == (3, 4, 5)
        with pytest.raises(ValueError, match="model has no field 'width'"):
            apply_overrides(cfg, {"model.width": "3"})
        with pytest.raises(ValueError, match="train.steps expects a int"):
            apply_overrides(cfg, {"train.steps": "many"})
        with pytest.raises(ValueError, match="must look like model.KEY"):
            apply_overrides(cfg, {"steps": "3"})
        with pytest.raises(ValueError, match="preset must be one of"):
            preset("huge")

    def test_config_round_trips_through_json(self):
        cfg = preset("cpu", **{"train.variant": "oracle"})
        assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg
        with pytest.raises(ValueError, match="not a nonident run config"):
            RunConfig.from_dict({"model": {}})

    @pytest.mark.parametrize(("text", "seeds"), [("0-2", (0, 1, 2)), ("1,5,7", (1, 5, 7)), ("3", (3,))])
    def test_parse_seeds(self, text, seeds):
        assert parse_seeds(text) == seeds

    @pytest.mark.parametrize("text", ["", "a", "2,2", "-1"])
    def test_parse_seeds_rejects(self, text):
        with pytest.raises(ValueError, match="seeds must"):
            parse_seeds(text)

    def test_bad_values_name_the_field(self):
        with pytest.raises(ValueError, match="train.variant must be one of"):
            TrainConfig(variant="nice")
        with pytest.raises(ValueError, match="data.pad_targets"):
            DataConfig(pad_targets="maybe")
        with pytest.raises(ValueError, match="model.max_len"):
            preset("cpu", **{"train.max_pred_length": 600})
        with pytest.raises(ValueError, match="train.lr must be finite"):
            TrainConfig(lr=float("inf"))
        # a wrong type is a TypeError, a bad value a ValueError; both name the field
        with pytest.raises(TypeError, match="train.seeds must be a sequence of integers, got int 3"):
            TrainConfig(seeds=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="model.d_model must be an integer, got str"):
            ModelConfig(d_model="16")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="model.d_model expects a int, got 'x'"):
            preset("cpu", **{"model.d_model": "x"})  # strings are parsed, as from --set
        with pytest.raises(TypeError, match="data.rho must be a number, got str"):
            DataConfig(rho="0.5")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="train.seeds"):
            TrainConfig(seeds=(2**64,))
        with pytest.raises(ValueError, match="model.vocab_size must be 5 for aⁿbⁿ"):
            preset("cpu", **{"model.vocab_size": 7, "model.mask_pad_keys": False})
        with pytest.raises(ValueError, match="model.positions must be one of"):
            preset("cpu", **{"model.positions": "rotary"})


class TestData:
    def test_sentence_set_is_every_sentence_with_its_exact_probability(self):
        s = sentence_set(DataConfig(n_max=16))
        assert is_sentence(TokenBatch(s.tokens, np.full(16, s.tokens.shape[1]))).all()
        np.testing.assert_allclose(s.log_prob, -np.log(16))
        assert s.padded_floor == pytest.approx(np.log(16) / 33)
        assert s.tokens.shape == (16, 34) and np.all(s.tokens[np.arange(16), s.eos_at] == EOS)

    @pytest.mark.parametrize(("variant", "width", "r1"), [("oracle", 18, True), ("adversarial", 19, False)])
    def test_extended_prompts(self, variant, width, r1):
        ext = extended_prompts(variant, 128, 8)
        assert ext.shape == (251, width)
        checks = check_rules(TokenBatch(ext, np.full(251, width)))
        assert np.all(checks.r1 == r1) and checks.has_eos.all()
        assert np.all(np.abs(checks.n_a - checks.n_b) == (0 if r1 else 1))

    def test_prompt_set_has_5_id_and_251_ood_prompts(self):
        ps = prompt_set(16, 8)
        assert ps.tokens.shape == (256, 9) and int(ps.ood.sum()) == 251
        assert sorted(w for w, o in zip(ps.words, ps.ood, strict=True) if not o) == sorted(
            ["aaaaaaaa", "aaaaaaab", "aaaaaabb", "aaaaabbb", "aaaabbbb"]
        )

    def test_pcfg_batches_are_per_seed_and_follow_the_law(self):
        cfg = DataConfig(law="pcfg", n_max=16, rho=0.5, batch_size=4000)
        alone, pair = PcfgSampler(cfg, (3,)).draw(), PcfgSampler(cfg, (9, 3)).draw()
        assert np.array_equal(alone[0], pair[1]) and not np.array_equal(pair[0], pair[1])
        n = (alone[0] == A).sum(axis=1)
        freq = np.bincount(n, minlength=17)[1:] / n.size
        expected = 0.5 ** np.arange(1, 17) / (1 - 0.5**16)
        assert np.abs(freq - expected).max() < 0.03
        assert is_sentence(TokenBatch(alone[0], np.full(4000, alone.shape[2]))).all()


class TestLosses:
    def test_the_official_completion_loss_skips_the_first_completion_token(self):
        ext = torch.as_tensor(extended_prompts("oracle", 16, 8))
        logits = torch.zeros(1, ext.shape[0], ext.shape[1] - 1, 5)
        base_off = completion_loss(logits, ext, prompt_length=8, official=True, ignore_pad=False)
        base_cor = completion_loss(logits, ext, prompt_length=8, official=False, ignore_pad=False)
        logits[0, :, 8, :] = torch.tensor([9.0, -9, -9, -9, -9])  # the prediction of the first completion token
        assert completion_loss(logits, ext, prompt_length=8, official=True, ignore_pad=False) == base_off
        assert completion_loss(logits, ext, prompt_length=8, official=False, ignore_pad=False) != base_cor
        before = completion_loss(logits, ext, prompt_length=8, official=False, ignore_pad=False)
        logits[0, :, 7, :] = torch.tensor([9.0, -9, -9, -9, -9])  # predicts the last prompt token: never scored
        assert completion_loss(logits, ext, prompt_length=8, official=False, ignore_pad=False) == before
        logits[0, :, 9, :] = torch.tensor([9.0, -9, -9, -9, -9])  # the second completion token: scored by both
        assert completion_loss(logits, ext, prompt_length=8, official=True, ignore_pad=False) != base_off

    def test_pad_targets_included_or_ignored(self):
        tokens = torch.as_tensor(encode("ab")).tolist() + [EOS, PAD, PAD]
        x = torch.tensor([tokens])
        logits = torch.zeros(1, 1, 5, 5)
        logits[0, 0, 3:, PAD] = 50.0  # PAD targets predicted perfectly, the rest uniform
        inc = lm_loss(logits, x, ignore_pad=False)
        ign = lm_loss(logits, x, ignore_pad=True)
        assert ign.item() == pytest.approx(np.log(5))
        assert inc.item() == pytest.approx(3 * np.log(5) / 5, rel=1e-6)


class TestOfficialProtocol:
    def test_grammar_metrics_on_hand_built_completions(self):
        prompts = np.array([[SOS, A, B], [SOS, A, A], [SOS, A, A], [SOS, B, A], [SOS, A, A]])
        comps = np.array(
            [
                [EOS, PAD, PAD],  # finished; R1, R2
                [B, B, EOS],  # finished; R1, R2
                [B, EOS, A],  # a after EOS: unfinished; whole sequence 3 a / 1 b: not R1
                [A, B, B],  # no EOS: unfinished; 2 a / 3 b: not R1; R2 fails (a after b)
                [EOS, B, B],  # b after EOS: unfinished; R1 holds over the whole sequence (2 a / 2 b), not up to EOS
            ]
        )
        m = grammar_metrics(prompts, comps)
        assert m["finished"]["n"] == 2 and m["all"]["finished"] == 0.4
        assert m["finished"]["r1"] == 1.0 and m["finished_over_all"]["r1"] == 0.4
        assert m["all"]["r1"] == 0.6  # rows 0, 1 and 4: R1 is counted over every token, as officially
        assert m["all"]["r2"] == 0.6 and m["all"]["r2_completion"] == 0.8
        with pytest.raises(ValueError, match="one completion per prompt"):
            grammar_metrics(prompts, comps[:2])

    @pytest.mark.parametrize(("policy", "r1"), [("extrapolate", 1.0), ("never", 0.0)])
    def test_the_exact_witnesses_score_one_and_zero(self, policy, r1):
        ps = prompt_set(128, 8)
        ood = ps.tokens[ps.ood]
        model = OODPolicyModel(AnbnDistribution(UniformLength(128)), policy)
        m = grammar_metrics(ood, greedy_complete_predictor(model, ood, 300))
        assert m["all"]["finished"] == 1.0
        assert m["finished"]["r1"] == r1 and m["finished_over_all"]["r1"] == r1

    @pytest.mark.parametrize("engine", ["torch", "numba"])
    def test_cached_greedy_decoding_equals_the_predictor_path(self, engine):
        model = Transformer(micro().model, seeds=(0, 1))
        prompts = prompt_set(8, 8).tokens[::7]
        fast = greedy_complete(model, prompts, 15, engine=engine)
        for i in range(2):
            np.testing.assert_array_equal(
                fast[i], greedy_complete_predictor(TransformerPredictor(model, i), prompts, 15)
            )


class TestTraining:
    def test_same_seed_same_result_and_batched_equals_alone(self, tmp_path):
        cfg = micro(**{"model.dropout": 0.1, "train.variant": "adversarial"})
        a = train(cfg, tmp_path / "a", progress=False)
        b = train(cfg, tmp_path / "b", progress=False)
        assert a.history == b.history
        _, ma, _ = load_model(tmp_path / "a", which="final")
        _, mb, _ = load_model(tmp_path / "b", which="final")
        assert all(torch.equal(x, y) for x, y in zip(ma.state_dict().values(), mb.state_dict().values(), strict=True))
        train(
            micro(**{"model.dropout": 0.1, "train.variant": "adversarial", "train.seeds": (1,)}),
            tmp_path / "c",
            progress=False,
        )
        _, mc, _ = load_model(tmp_path / "c", which="final")
        # Seed 1 stacked = seed 1 alone, as functions (the key bias has a zero gradient in exact
        # arithmetic, so Adam turns its rounding noise into ±lr steps that change no output).
        x = torch.tensor(sentence_set(micro().data).tokens)
        with torch.no_grad():
            torch.testing.assert_close(ma(x)[1], mc(x)[0], rtol=1e-4, atol=1e-4)
        assert not torch.allclose(ma.embed[0], ma.embed[1])
        # the schedule is wired: the first step has lr 0, then lr·s/warmup (warm-up 20 in the tiny preset)
        assert a.history[0].lr_next == 0.0 and a.history[1].lr_next == pytest.approx(1e-2 * 6 / 20)

    def test_an_interrupted_run_resumes_to_the_same_result(self, tmp_path):
        cfg = micro(**{"model.dropout": 0.1, "data.law": "pcfg", "data.batch_size": 8, "train.variant": "oracle"})
        full = train(cfg, tmp_path / "full", progress=False)
        part = train(cfg, tmp_path / "part", progress=False, stop_after=5)
        assert part.steps == 5 and not (tmp_path / "part" / "model.pt").exists()
        done = train(cfg, tmp_path / "part", progress=False)
        assert done.steps == 12 and done.history == full.history
        _, m1, ck1 = load_model(tmp_path / "full")
        _, m2, ck2 = load_model(tmp_path / "part")
        assert ck1["best_step"] == ck2["best_step"]
        assert all(torch.equal(x, y) for x, y in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True))
        with pytest.raises(ValueError, match="different config"):
            train(
                micro(
                    **{
                        "train.lr": 0.5,
                        "data.law": "pcfg",
                        "data.batch_size": 8,
                        "model.dropout": 0.1,
                        "train.variant": "oracle",
                    }
                ),
                tmp_path / "part",
                progress=False,
            )

    def test_sgd_and_pad_ignoring_runs_record_provenance(self, tmp_path):
        cfg = micro(
            **{"train.optimizer": "sgd", "train.lr": 0.05, "data.pad_targets": "ignore", "model.norm_first": False}
        )
        assert cfg.train.decay == 0.0  # plain SGD, as officially
        res = train(cfg, tmp_path / "r", progress=False)
        assert res.history[-1].kl_per_token[0] < res.history[0].kl_per_token[0]
        ck = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
        assert "momentum" in ck["optimizer"]["param_groups"][0] and "betas" not in ck["optimizer"]["param_groups"][0]
        # with PAD targets ignored, each seed is selected at its minimal sentence KL
        for i in range(2):
            assert ck["best_loss"][i] == min(h.kl_sequence[i] for h in res.history)
        doc = json.loads((tmp_path / "r" / "config.json").read_text())
        assert RunConfig.from_dict(doc["config"]) == cfg and "commit" in doc and doc["versions"]["torch"]

    def test_the_completion_loss_setting_reaches_training(self, tmp_path):
        official = train(micro(**{"train.variant": "oracle"}), tmp_path / "o", progress=False)
        corrected = train(
            micro(**{"train.variant": "oracle", "train.completion_loss": "corrected"}), tmp_path / "c", progress=False
        )
        assert official.history[0] == corrected.history[0]  # same initialisation
        assert official.history[-1].kl_per_token != corrected.history[-1].kl_per_token

    def test_a_fresh_start_removes_the_artifacts_of_an_earlier_run(self, tmp_path):
        train(micro(), tmp_path / "r", progress=False)
        assert (tmp_path / "r" / "model.pt").exists()
        train(micro(), tmp_path / "r", progress=False, resume=False, stop_after=2)
        assert not (tmp_path / "r" / "model.pt").exists()

    def test_evaluation_document(self, tmp_path):
        res = train(micro(), tmp_path / "r", progress=False)
        result = evaluate_run(tmp_path / "r", extrapolation={"prune_below": 1e-2})
        assert result.n_ood == 251 and result.n_id == 5 and [r.seed for r in result.per_seed] == [0, 1]
        for r in result.per_seed:
            assert r.exact.kl_per_token > 0 and r.selected_step in {h.step for h in res.history}
            assert 0 <= r.extrapolation.r1_lower <= r.extrapolation.r1_upper <= 1
            assert r.extrapolation.settings["prune_below"] == 1e-2
        assert result.summary.ood_r1_finished.values == tuple(r.ood.finished.r1 for r in result.per_seed)
        # the files hold exactly as_dict(), in its key order, and read back into equal values
        text = (tmp_path / "r" / "evaluation.json").read_text()
        assert text == json.dumps(result.as_dict(), indent=2, default=str)
        loaded = RunEvaluation.from_dict(json.loads(text))  # provenance went through JSON (tuples became lists)
        assert loaded.as_dict() == json.loads(text) and replace(result, provenance=loaded.provenance) == loaded
        history = json.loads((tmp_path / "r" / "history.json").read_text())
        assert history == [h.as_dict() for h in res.history]
        assert tuple(HistoryPoint.from_dict(h) for h in history) == res.history
        with pytest.raises(ValueError, match="no model.pt"):
            load_model(tmp_path)


@pytest.mark.slow
def test_the_tiny_preset_learns_anbn_in_a_few_hundred_steps(tmp_path):
    res = train(preset("tiny"), tmp_path / "tiny", progress=False)
    first, last = res.history[0].kl_per_token[0], res.history[-1].kl_per_token[0]
    assert first > 0.5  # the untrained model is far from the floor ...
    assert last < 1e-2  # ... 300 steps later it is close
    _, model, _ = load_model(tmp_path / "tiny")
    ps = prompt_set(8, 8)
    comps = greedy_complete(model, ps.tokens[~ps.ood], 40)[0]
    assert grammar_metrics(ps.tokens[~ps.ood], comps)["finished_over_all"]["grammatical"] == 1.0


def test_the_committed_report_is_rendered_from_its_json():
    from learned.rule_extrapolation.reproduce import render_markdown

    doc = json.loads((REPORTS / "rule-extrapolation.json").read_text())
    assert (REPORTS / "rule-extrapolation.md").read_text() == render_markdown(ReproductionReport.from_dict(doc))


def test_batch_row_positions_shuffle_the_training_set_and_resume_exactly(tmp_path):
    cfg = micro(**{"model.positions": "batch-row", "model.clone_layers": True, "model.n_layers": 2})
    full = train(cfg, tmp_path / "full", progress=False)
    train(cfg, tmp_path / "part", progress=False, stop_after=5)
    assert train(cfg, tmp_path / "part", progress=False).history == full.history
    independent = train(micro(**{"model.positions": "batch-row", "model.n_layers": 2}), tmp_path / "x", progress=False)
    assert independent.history != full.history  # cloned initial layers change the run: the option is live


@pytest.fixture
def report():
    """The committed reports/rule-extrapolation.json, as plain JSON."""
    return json.loads((REPORTS / "rule-extrapolation.json").read_text())


class TestTypedResults:
    """The result types of learned.rule_extrapolation.results read and write the committed JSON unchanged."""

    def test_the_committed_per_seed_rows_parse_and_reserialise_unchanged(self, report):
        for arm in report["variants"].values():
            for row in arm["per_seed"]:
                parsed = SeedEvaluation.from_dict(row)
                assert parsed.as_dict() == row and list(parsed.as_dict()) == list(row)
                assert SeedEvaluation.from_dict(parsed.as_dict()) == parsed
                assert parsed.ood.finished.r1 == row["ood"]["finished"]["r1"]
                assert parsed.extrapolation.r1_lower == row["extrapolation"]["r1_lower"]
            summary = RunSummary.from_dict(arm["summary"])
            assert summary.as_dict() == arm["summary"]
            # the summary is a function of the rows
            assert RunSummary.of([SeedEvaluation.from_dict(r) for r in arm["per_seed"]]) == summary
            history = tuple(HistoryPoint.from_dict(h) for h in arm["history"])
            assert [h.as_dict() for h in history] == arm["history"]
            parsed_arm = ArmResult.from_dict(arm)
            assert ArmResult.from_dict(parsed_arm.as_dict()) == parsed_arm and parsed_arm.history == history

    def test_the_committed_report_round_trips_byte_for_byte(self, report):
        parsed = ReproductionReport.from_dict(report)
        assert ReproductionReport.from_dict(parsed.as_dict()) == parsed
        text = (REPORTS / "rule-extrapolation.json").read_text()
        assert json.dumps(parsed.as_dict(), indent=1, default=str) == text

    def test_grammar_metrics_round_trip(self):
        prompts = np.array([[SOS, A, B], [SOS, A, A]])
        doc = grammar_metrics(prompts, np.array([[EOS, PAD], [B, B]]))
        m = GrammarMetrics.from_dict(doc)
        assert m.as_dict() == doc and GrammarMetrics.from_dict(m.as_dict()) == m
        assert m.all.n == 2 and m.finished.n == 1 and m.finished_over_all.r1 == 0.5

    def test_mean_std_over_seeds(self):
        s = MeanStd.of([1.0, 2.0, 4.0])
        assert s.mean == pytest.approx(7 / 3) and s.std == pytest.approx(np.std([1, 2, 4], ddof=1))
        assert MeanStd.of([3.0]).std == 0.0 and MeanStd.from_dict(s.as_dict()) == s
        with pytest.raises(ValueError, match="at least one value"):
            MeanStd.of([])

    def test_a_renamed_key_is_an_error_naming_it(self, report):
        row = json.loads(json.dumps(report["variants"]["ml"]["per_seed"][0]))
        row["exact"]["kl_token"] = row["exact"].pop("kl_per_token")
        needle = "per_seed[0].exact: missing key 'kl_per_token', unexpected key 'kl_token'"
        with pytest.raises(ValueError, match=re.escape(needle)):
            SeedEvaluation.from_dict(row, at="per_seed[0]")
        doc = json.loads(json.dumps(report))
        finished = doc["variants"]["oracle"]["per_seed"][1]["ood"]["finished"]
        finished["R1"] = finished.pop("r1")
        needle = "report.variants.oracle.per_seed[1].ood.finished: missing key 'r1', unexpected key 'R1'"
        with pytest.raises(ValueError, match=re.escape(needle)):
            ReproductionReport.from_dict(doc)
        arm = dict(report["variants"]["ml"])
        del arm["history"]
        with pytest.raises(ValueError, match="missing key 'history'"):
            ArmResult.from_dict(arm)

    def test_a_value_of_the_wrong_kind_is_an_error_naming_it(self, report):
        row = json.loads(json.dumps(report["variants"]["ml"]["per_seed"][0]))
        row["ood"]["all"]["n"] = "251"
        with pytest.raises(ValueError, match="ood.all.n must be an integer"):
            SeedEvaluation.from_dict(row)
        row = json.loads(json.dumps(report["variants"]["ml"]["per_seed"][0]))
        row["extrapolation"]["r1_lower"] = None
        with pytest.raises(ValueError, match="extrapolation.r1_lower must be a number"):
            SeedEvaluation.from_dict(row)


class TestModelVocabulary:
    """The network takes any vocabulary (e.g. a GINC mixture's symbols); aⁿbⁿ runs keep the five ids."""

    def test_a_larger_vocabulary_trains_and_answers_on_every_token(self):
        import torch

        from learned.nn.model import Transformer

        cfg = ModelConfig(d_model=8, n_heads=2, d_ff=16, n_layers=1, vocab_size=12, mask_pad_keys=False)
        model = Transformer(cfg, seeds=(0, 1))
        x = torch.tensor([[0, 4, 11, 7], [4, 4, 4, 4]])  # id 4 is an ordinary token here
        logits = model(x)
        assert logits.shape == (2, 2, 4, 12)
        assert torch.isfinite(logits).all()
        # id 4 is not masked as a key: position 2 reads position 1 only through attention, so
        # editing id 4's embedding changes position 2's logits (a masked key would leave them equal)
        x = torch.tensor([[7, 4, 9]])
        before = model(x)[:, 0, 2]
        with torch.no_grad():
            model.embed[:, 4] += torch.linspace(-1.0, 1.0, 8)  # non-uniform: LayerNorm removes a uniform shift
        assert not torch.allclose(model(x)[:, 0, 2], before)

    def test_pad_masking_and_vocabulary_errors_name_the_field(self):
        with pytest.raises(ValueError, match="model.mask_pad_keys must be False unless vocab_size = 5"):
            ModelConfig(vocab_size=12)
        with pytest.raises(ValueError, match="model.vocab_size must be at least 2"):
            ModelConfig(vocab_size=1, mask_pad_keys=False)
        with pytest.raises(TypeError, match="model.vocab_size must be an integer"):
            ModelConfig(vocab_size=12.0, mask_pad_keys=False)  # type: ignore[arg-type]
