"""Case study 2 on trained transformers: configs, streamed data, the exact evaluation, training, report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from exact.core.tokens import TokenBatch
from exact.hmm.ginc import generate_ginc
from exact.hmm.positions import bayes_per_position
from exact.icl.swap_kl import swap_identity
from learned.icl.config import IclConfig, icl_preset
from learned.icl.data import heldout_documents, model_inputs, training_batch
from learned.icl.evaluate import (
    certified_qn_kl,
    chance_accuracy,
    document_metrics,
    exact_scores,
    icl_prompts,
    model_log_probs,
    score_answers,
    shot_rows,
)
from learned.icl.report import published_curves, render_markdown
from learned.icl.results import IclReport
from learned.icl.train import clip_per_seed, lm_loss, load_model, train
from learned.nn.model import Transformer
from tests.strategies import hmm_mixtures

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def micro(**over: object) -> IclConfig:
    """The tiny preset, shorter still."""
    return icl_preset("tiny", {"train.steps": 8, "train.eval_every": 4, "train.checkpoint_every": 4} | over)


@pytest.fixture(scope="module")
def tiny() -> IclConfig:
    return icl_preset("tiny")


@pytest.fixture(scope="module")
def mixture(tiny):
    return generate_ginc(tiny.ginc).mixture


@pytest.fixture(scope="module")
def prompt_sets(tiny, mixture):
    return icl_prompts(tiny, mixture)


# --- the exact per-position Bayes predictive ------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(mix=hmm_mixtures(full_support_emissions=True), data=st.data())
def test_per_position_predictive_equals_the_bayes_predictive_of_every_prefix(mix, data):
    rows = data.draw(
        st.lists(st.lists(st.integers(0, mix.vocab_size - 1), min_size=4, max_size=4), min_size=1, max_size=3)
    )
    batch = TokenBatch(np.array(rows, dtype=np.int64), np.full(len(rows), 4), mix.vocab_size)
    got = bayes_per_position(mix, batch)
    for t in range(4):
        prefix = TokenBatch(batch.tokens[:, :t], np.full(len(rows), t), mix.vocab_size)
        np.testing.assert_allclose(got.probs[:, t], mix.next_token_probs(prefix).probs, rtol=1e-10, atol=1e-14)
    # the per-position log-losses add up to the sequence's log-probability
    np.testing.assert_allclose(-got.log_loss.sum(axis=1), mix.log_prob(batch), rtol=1e-10, atol=1e-12)


def test_prefixes_impossible_under_every_concept_stay_undefined_without_warnings():
    from exact.hmm.categorical import CategoricalHMM
    from exact.hmm.mixture import HMMMixture

    mix = HMMMixture.from_hmms(
        [CategoricalHMM([1.0], [[1.0]], [[1.0, 0.0]]), CategoricalHMM([1.0], [[1.0]], [[0.5, 0.5]])]
    )
    batch = TokenBatch(np.array([[1, 0, 0], [0, 1, 0]]), np.array([3, 3]), 2)
    with np.errstate(all="raise"):
        got = bayes_per_position(mix, batch)
    assert got.defined.tolist() == [[True, True, True], [True, True, True]]
    # row 0 rules out concept 0 at its first token: the predictive is concept 1's from then on
    np.testing.assert_allclose(got.probs[0, 1:], 0.5)
    impossible = HMMMixture.from_hmms([CategoricalHMM([1.0], [[1.0]], [[1.0, 0.0]])])
    out = bayes_per_position(impossible, TokenBatch(np.array([[0, 1, 0]]), np.array([3]), 2))
    assert out.defined.tolist() == [[True, True, False]] and out.log_loss[0, 1] == np.inf
    assert not np.isnan(out.probs).any() and not np.isnan(out.log_loss).any()


# --- configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"ginc.emission_smoothing": "0"}, "ginc.emission_smoothing"),
        ({"model.vocab_size": "12"}, "model.vocab_size"),
        ({"eval.shots": "0,1,8"}, "eval.shots"),
        ({"train.lr": "-1"}, "train.lr"),
        ({"train.n_val_docs": "99"}, "train.n_val_docs"),
        ({"model.max_len": "16"}, "model.max_len"),
        ({"train.seeds": "0,0"}, "train.seeds"),
        ({"eval.shots": "4,0,1"}, "eval.shots"),
    ],
)
def test_invalid_configs_are_refused_naming_the_field(over, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        icl_preset("tiny", over)


def test_presets_resolve_and_round_trip():
    for name in ("cpu", "ginc", "tiny"):
        cfg = icl_preset(name)
        assert IclConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
        assert cfg.model.vocab_size == cfg.ginc.n_symbols + 1 and cfg.bos == cfg.ginc.n_symbols
    g = icl_preset("ginc")
    assert (g.ginc.n_concepts, g.ginc.n_values, g.ginc.n_slots, g.ginc.n_symbols) == (5, 10, 10, 50)
    assert max(g.eval.shots) == 64 and published_curves(g)["k"] == 3
    assert published_curves(icl_preset("cpu")) == {}  # not GINC's setting: nothing to put beside it
    assert icl_preset("cpu", {"ginc.n_symbols": "12"}).model.vocab_size == 13
    with pytest.raises(ValueError, match="preset"):
        icl_preset("paper")
    with pytest.raises(ValueError, match="no field"):
        icl_preset("cpu", {"train.momentum": "1"})


# --- streamed data ------------------------------------------------------------------------------------


def test_training_batches_are_a_pure_function_of_seed_and_step(mixture):
    a = training_batch(mixture, (0, 1), 3, 4, 12)
    assert a.shape == (2, 4, 12) and a.min() >= 0 and a.max() < mixture.vocab_size
    np.testing.assert_array_equal(a, training_batch(mixture, (0, 1), 3, 4, 12))
    np.testing.assert_array_equal(a[1], training_batch(mixture, (1,), 3, 4, 12)[0])  # seeds are independent
    assert not np.array_equal(a, training_batch(mixture, (0, 1), 4, 4, 12))
    assert not np.array_equal(a[0], a[1])
    held, _ = heldout_documents(mixture, 0, 4, 12)
    assert not any(np.array_equal(held.tokens, a[i]) for i in range(2))
    assert model_inputs(a, 10)[..., 0].tolist() == [[10] * 4] * 2


# --- the exact evaluation ----------------------------------------------------------------------------


def test_p_scores_kl_zero_and_the_bayes_accuracy(prompt_sets):
    for ps in prompt_sets:
        p, q = exact_scores(ps)
        assert p.vs_bayes.accuracy == 1.0 and p.kl_from_p.mean == 0.0
        assert p.vs_label.correct == int((ps.p.argmax(axis=1) == ps.labels).sum())
        assert q.kl_from_qn.mean == 0.0 and q.kl_from_p.mean > 0 and math.isclose(p.kl_from_qn.mean, q.kl_from_p.mean)


def test_qn_is_flipped_on_every_prompt(prompt_sets):
    for ps in prompt_sets:
        _, q = exact_scores(ps)
        assert q.vs_bayes.correct == 0 and q.vs_bayes.n == len(ps.labels)
        # q_n's answer is p's runner-up, prompt by prompt
        runner_up = np.argsort(-ps.p, axis=1, kind="stable")[:, 1]
        np.testing.assert_array_equal(ps.qn.argmax(axis=1), runner_up)


def test_a_perturbed_predictor_is_rejected(prompt_sets):
    """Negative control of the scoring: a predictor off p has KL > 0 and loses Bayes agreement."""
    rng = np.random.default_rng(0)
    ps = prompt_sets[-1]
    noisy = ps.p * np.exp(rng.normal(0, 1.0, ps.p.shape))
    noisy /= noisy.sum(axis=1, keepdims=True)
    s = score_answers(ps, np.log(noisy))
    assert s.kl_from_p.low > 0 and s.vs_bayes.accuracy < 1.0


def test_certified_bound_contains_the_exact_kl(tiny, mixture):
    bounds = certified_qn_kl(mixture, tiny.eval.k, (0, 1))
    for n in (0, 1):
        exact = swap_identity(mixture, tiny.eval.template(n), tie_policy="keep", max_strings=200_000)
        assert exact.kl <= bounds[n][0] and float(bounds[n][1]) >= bounds[n][0]
    assert bounds[1][0] < bounds[0][0]  # P_p(S_n) falls with n
    assert chance_accuracy(mixture) == 1 / 9


def test_document_metrics_of_a_transformer(tiny, mixture):
    model = Transformer(tiny.model, (0, 1))
    docs, _ = heldout_documents(mixture, 0, 8, 10)
    out = document_metrics(model, mixture, docs, tiny.bos)
    assert [d.seed for d in out] == [0, 1] and len(out[0].kl_curve) == 10
    log_q = model_log_probs(model, docs.tokens, tiny.bos)
    for i, d in enumerate(out):
        assert d.kl_per_token.mean > 0 and all(k >= 0 for k in d.kl_curve)
        # the model's cross-entropy from its softmax read off at the observed tokens
        ce = -np.take_along_axis(log_q[i], docs.tokens[..., None], axis=-1)[..., 0].mean(axis=1)
        assert d.model_ce.mean == pytest.approx(ce.mean(), rel=1e-12)
        # KL against the Bayes predictive computed independently, one prefix at a time
        kl = np.zeros((8, 10))
        for t in range(10):
            p_t = mixture.next_token_probs(TokenBatch(docs.tokens[:, :t], np.full(8, t), docs.vocab_size)).probs
            kl[:, t] = (p_t * (np.log(p_t) - log_q[i][:, t])).sum(axis=-1)
        assert d.kl_per_token.mean == pytest.approx(kl.mean(), rel=1e-10)
        np.testing.assert_allclose(d.kl_curve, kl.mean(axis=0), rtol=1e-10)
    assert out[0].floor_ce.mean == pytest.approx(-mixture.log_prob(docs).mean() / 10, rel=1e-12)


def test_model_answers_read_the_last_position(tiny, mixture, prompt_sets):
    model = Transformer(tiny.model, (0,))
    (rows,) = shot_rows(tiny, mixture, [model])
    ps = prompt_sets[1]
    x = torch.as_tensor(model_inputs(np.concatenate([ps.tokens.tokens, ps.tokens.tokens[:, :1]], axis=1), tiny.bos))
    with torch.no_grad():
        direct = torch.log_softmax(model(x).double(), dim=-1)[0, :, -1, : tiny.bos].numpy()
    assert rows[1].models[0] == score_answers(ps, direct)
    assert [r.n_shots for r in rows] == list(tiny.eval.shots)


def test_evaluation_inputs_are_checked(tiny, mixture, prompt_sets):
    model = Transformer(tiny.model, (0,))
    with pytest.raises(ValueError, match="bos"):
        model_log_probs(model, np.zeros((2, 3), dtype=np.int64), tiny.bos - 1)
    with pytest.raises(ValueError, match="chunk"):
        model_log_probs(model, np.zeros((2, 3), dtype=np.int64), tiny.bos, chunk=0)
    with pytest.raises(ValueError, match="log_answer"):
        score_answers(prompt_sets[0], np.zeros((3, 4)))
    for shots in ((), (-1,)):
        with pytest.raises(ValueError, match="shots"):
            certified_qn_kl(mixture, 3, shots)
    with pytest.raises(ValueError, match="step"):
        training_batch(mixture, (0,), -1, 4, 12)


# --- training ------------------------------------------------------------------------------------------


def test_per_seed_clipping_leaves_the_other_seeds_alone(tiny, mixture):
    model = Transformer(tiny.model, (0, 1))
    docs = torch.as_tensor(training_batch(mixture, (0, 1), 0, 4, 12))
    loss = lm_loss(model, docs, tiny.bos, None)
    (loss[0] * 1e4 + loss[1]).backward()
    before = [p.grad.clone() for p in model.parameters()]
    norms = clip_per_seed(model, 0.0)  # 0: only measure
    assert all(torch.equal(b, p.grad) for b, p in zip(before, model.parameters(), strict=True))
    limit = 2 * float(norms[1])
    assert norms[0] > limit  # seed 0's gradient is 10^4 times larger
    clip_per_seed(model, limit)
    assert all(torch.equal(b[1], p.grad[1]) for b, p in zip(before, model.parameters(), strict=True))
    clipped = torch.stack([p.grad[0].pow(2).sum() for p in model.parameters()]).sum().sqrt()
    assert float(clipped) == pytest.approx(limit, rel=1e-4)


@pytest.mark.slow
def test_the_tiny_preset_trains_and_resumes_bit_identically(tmp_path):
    cfg = micro()
    full = train(cfg, tmp_path / "full", progress=False)
    assert full.steps == 8 and [h.step for h in full.history] == [0, 4, 8]
    assert full.history[-1].kl_per_token[0] < full.history[0].kl_per_token[0]
    part = train(cfg, tmp_path / "part", progress=False, stop_after=3)
    assert part.steps == 3 and not (tmp_path / "part" / "model.pt").exists()
    done = train(cfg, tmp_path / "part", progress=False)
    assert done.history == full.history
    _, m1, _ = load_model(tmp_path / "full")
    _, m2, _ = load_model(tmp_path / "part")
    assert all(torch.equal(x, y) for x, y in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True))
    with pytest.raises(ValueError, match="different config"):
        train(micro(**{"train.lr": "0.01"}), tmp_path / "part", progress=False)
    doc = json.loads((tmp_path / "full" / "config.json").read_text())
    assert (
        IclConfig.from_dict(doc["config"]) == cfg and doc["versions"]["torch"] and "icl-data" in doc["random_streams"]
    )


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    import learned.icl.train as icl_train

    def crash(*args: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(icl_train, "training_batch", crash)
    with pytest.raises(RuntimeError, match="killed"):
        train(micro(), tmp_path / "a" / "b", progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="no model.pt"):
        load_model(tmp_path)


# --- the report ----------------------------------------------------------------------------------------


def test_the_committed_report_is_rendered_from_its_json():
    doc = json.loads((REPORTS / "icl.json").read_text())
    assert (REPORTS / "icl.md").read_text() == render_markdown(IclReport.from_dict(doc))
