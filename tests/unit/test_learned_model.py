"""The stacked transformer: causality, KV cache, seed stacking, hooks, parameter counts, predictor."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch

from exact import AnbnDistribution, TokenBatch, UniformLength, kl_brute_force, kl_chain_rule
from exact.core.tokens import PAD, SOS
from learned.nn.config import ModelConfig
from learned.nn.model import KVCache, Transformer, init_generators
from learned.nn.predictor import TransformerPredictor
from learned.rule_extrapolation.config import DataConfig, preset
from learned.rule_extrapolation.data import sentence_set
from learned.rule_extrapolation.losses import exact_test_loss

SMALL = ModelConfig(d_model=8, n_heads=2, d_ff=16, n_layers=2, dropout=0.1, max_len=64)
CONFIGS = [
    dataclasses.replace(SMALL, norm_first=nf, mask_pad_keys=mp, n_layers=nl)
    for nf, mp, nl in itertools.product((True, False), (True, False), (1, 2))
] + [dataclasses.replace(SMALL, positions=pos, clone_layers=True) for pos in ("none", "batch-row")]


def _tokens(rng: np.random.Generator, batch: int = 5, width: int = 12) -> torch.Tensor:
    x = rng.integers(0, 5, size=(batch, width))
    x[:, 0] = SOS
    return torch.as_tensor(x)


def _id(c: ModelConfig) -> str:
    return f"prenorm{c.norm_first}-padmask{c.mask_pad_keys}-L{c.n_layers}-{c.positions}"


@pytest.mark.parametrize("cfg", CONFIGS, ids=_id)
@pytest.mark.parametrize("train_mode", [False, True], ids=["eval", "dropout"])
def test_changing_a_later_token_never_changes_earlier_logits(cfg, train_mode, rng):
    model = Transformer(cfg, seeds=(3, 4))
    x = _tokens(rng)
    for t in range(1, x.shape[1]):
        y = x.clone()
        y[:, t] = (y[:, t] + 1 + torch.as_tensor(rng.integers(0, 4, size=x.shape[0]))) % 5  # always a change
        gens_a = init_generators((10, 11)) if train_mode else None
        gens_b = init_generators((10, 11)) if train_mode else None
        with torch.no_grad():
            la, lb = model(x, dropout=gens_a), model(y, dropout=gens_b)
        assert torch.equal(la[:, :, :t], lb[:, :, :t]), t
        if not train_mode:
            assert not torch.equal(la[:, :, t:], lb[:, :, t:])  # the control: the change is seen from t on


@pytest.mark.parametrize("cfg", CONFIGS[:4] + CONFIGS[-2:], ids=_id)
def test_kv_cache_decoding_equals_the_full_forward(cfg, rng):
    model = Transformer(cfg, seeds=(0, 1, 2))
    x = _tokens(rng, width=15)
    x[:, 9:] = PAD  # PAD keys arriving through the cache are masked as in the full pass
    with torch.no_grad():
        full = model(x)
        cache = KVCache()
        parts = [model(x[:, :6], cache=cache)] + [model(x[:, t : t + 1], cache=cache) for t in range(6, 15)]
    torch.testing.assert_close(torch.cat(parts, dim=2), full, rtol=1e-5, atol=1e-5)
    assert cache.length == 15
    with torch.no_grad():  # a preallocated cache reads the same keys and values
        fixed = KVCache(capacity=15)
        same = [model(x[:, :6], cache=fixed)] + [model(x[:, t : t + 1], cache=fixed) for t in range(6, 15)]
    assert all(torch.equal(a, b) for a, b in zip(parts, same, strict=True))
    assert fixed.keys[0].shape[3] == 15


def test_a_full_kv_cache_is_refused(rng):
    model = Transformer(SMALL, seeds=(0,))
    x = _tokens(rng, width=6)
    cache = KVCache(capacity=6)
    with torch.no_grad():
        model(x, cache=cache)
        with pytest.raises(ValueError, match="capacity=6"):
            model(x[:, :1], cache=cache)


@pytest.mark.parametrize(("positions", "row_dependent"), [("sinusoidal", False), ("none", False), ("batch-row", True)])
def test_only_the_official_batch_row_positions_make_outputs_depend_on_the_row(positions, row_dependent, rng):
    model = Transformer(dataclasses.replace(SMALL, positions=positions))
    x = _tokens(rng)
    with torch.no_grad():
        out, flipped = model(x), model(x.flip(0)).flip(1)
    assert torch.allclose(out, flipped, atol=1e-6) != row_dependent


def test_cloned_layers_start_identical():
    model = Transformer(dataclasses.replace(SMALL, clone_layers=True), seeds=(0, 1))
    b0, b1 = model.blocks[0].state_dict(), model.blocks[1].state_dict()
    assert all(torch.equal(b0[k], b1[k]) for k in b0)
    plain = Transformer(SMALL, seeds=(0, 1))
    assert not torch.equal(plain.blocks[0].mlp.w_in, plain.blocks[1].mlp.w_in)


def test_a_seed_is_the_same_model_alone_or_stacked(rng):
    stacked = Transformer(SMALL, seeds=(5, 7, 9))
    alone = Transformer(SMALL, seeds=(7,))
    x = _tokens(rng)
    with torch.no_grad():
        torch.testing.assert_close(stacked(x)[1], alone(x)[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(stacked.member(1)(x)[0], stacked(x)[1], rtol=0, atol=1e-6)
        assert not torch.allclose(stacked(x)[0], stacked(x)[1])  # different seeds differ


def test_per_model_tokens_are_accepted(rng):
    model = Transformer(SMALL, seeds=(0, 1))
    x = _tokens(rng)
    both = torch.stack([x, x.flip(0)])
    with torch.no_grad():
        out = model(both)
        torch.testing.assert_close(out[0], model(x)[0])
        torch.testing.assert_close(out[1], model(x.flip(0))[1])


class TestParameterCountsAgainstOfficialModel:
    """docs/paper.md §5.2: 110,075 (10/5/1024/5) and 53,293 (8/4/1024/3) for the post-LN official model."""

    @pytest.mark.parametrize(("d", "h", "L", "expected"), [(10, 5, 5, 110_075), (8, 4, 3, 53_293), (8, 4, 4, 71_029)])
    def test_post_ln(self, d, h, L, expected):
        cfg = ModelConfig(d_model=d, n_heads=h, d_ff=1024, n_layers=L, norm_first=False)
        assert cfg.n_parameters() == expected
        assert sum(p.numel() for p in Transformer(cfg).parameters()) == expected

    def test_paper_preset_is_the_official_post_ln_model(self):
        cfg = preset("paper").model
        assert (cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.n_layers, cfg.norm_first) == (10, 5, 1024, 5, False)
        pre = dataclasses.replace(cfg, norm_first=True)
        assert sum(p.numel() for p in Transformer(pre).parameters()) == 110_075 + 2 * 10  # + final LayerNorm


class TestHooks:
    def test_every_hook_point_is_named(self):
        model = Transformer(SMALL)
        names = set(model.hook_dict)
        assert {
            "hook_embed",
            "hook_pos",
            "hook_logits",
            "blocks.0.attn.hook_pattern",
            "blocks.1.mlp.hook_post",
            "blocks.1.hook_resid_post",
        } <= names

    def test_observing_hooks_leave_logits_bit_identical_and_are_removed(self, rng):
        model = Transformer(SMALL, seeds=(0, 1))
        x = _tokens(rng)
        with torch.no_grad():
            base = model(x)
            logits, cache = model.run_with_cache(x)
        assert torch.equal(base, logits)
        assert cache["blocks.0.attn.hook_pattern"].shape == (2, 5, 2, 12, 12)
        torch.testing.assert_close(cache["blocks.0.attn.hook_pattern"].sum(-1), torch.ones(2, 5, 2, 12))
        assert all(hp.active == 0 for hp in model.hook_dict.values())

    def test_a_replacing_hook_changes_the_output_and_is_removed_on_error(self, rng):
        model = Transformer(SMALL)
        x = _tokens(rng)
        with torch.no_grad():
            base = model(x)
            with model.hooks([("blocks.1.hook_attn_out", lambda a, *, hook: torch.zeros_like(a))]):
                ablated = model(x)
            assert not torch.equal(base, ablated)
            with pytest.raises(RuntimeError), model.hooks([(lambda n: n.endswith("hook_q"), lambda a, *, hook: None)]):
                raise RuntimeError("boom")
        assert all(hp.active == 0 for hp in model.hook_dict.values())

    def test_a_pattern_hook_takes_effect_on_the_fused_attention_path(self, rng):
        model = Transformer(dataclasses.replace(SMALL, dropout=0.0))
        x = _tokens(rng)

        def first_token_only(p, *, hook):
            out = torch.zeros_like(p)
            out[..., 0] = 1.0
            return out

        with torch.no_grad():
            base = model(x)
            with model.hooks([("blocks.0.attn.hook_pattern", first_token_only)]):
                hooked = model(x)
        assert not torch.allclose(base, hooked)

    def test_nested_blocks_remove_only_their_own_hooks(self, rng):
        model = Transformer(SMALL)
        seen: list[str] = []
        obs = lambda a, *, hook: seen.append(hook.name)  # noqa: E731
        with model.hooks([("hook_logits", obs)]):
            with model.hooks([("hook_embed", obs)]):
                pass
            assert model.hook_dict["hook_logits"].active == 1
            model(_tokens(rng))
        assert seen == ["hook_logits"]

    def test_bad_hooks_are_rejected(self, rng):
        model = Transformer(SMALL)
        with (
            pytest.raises(ValueError, match="no hook point named 'nope'"),
            model.hooks([("nope", lambda a, *, hook: None)]),
        ):
            pass
        with (
            pytest.raises(ValueError, match="must return None or a tensor of shape"),
            model.hooks([("hook_embed", lambda a, *, hook: a[..., :2])]),
        ):
            model(_tokens(rng))


class TestBadInput:
    def test_shapes_and_lengths(self):
        model = Transformer(SMALL, seeds=(0, 1))
        with pytest.raises(ValueError, match="tokens must have shape"):
            model(torch.zeros(3, dtype=torch.long))
        with pytest.raises(ValueError, match="exceed model.max_len=64"):
            model(torch.zeros(1, 65, dtype=torch.long))
        with pytest.raises(ValueError, match=r"tokens must lie in \[0, 5\)"):
            model(torch.tensor([[2, -1]]))
        with pytest.raises(ValueError, match="one generator per model"):
            model(torch.zeros(1, 3, dtype=torch.long), dropout=init_generators((1,)))
        with pytest.raises(ValueError, match="member index"):
            model.member(2)

    @pytest.mark.parametrize(
        ("field", "value", "match"),
        [
            ("d_model", 7, "model.d_model must be divisible"),
            ("dropout", 1.0, "model.dropout"),
            ("n_layers", 0, "model.n_layers"),
            ("ln_eps", -1.0, "model.ln_eps"),
        ],
    )
    def test_config(self, field, value, match):
        with pytest.raises(ValueError, match=match):
            dataclasses.replace(SMALL, **{field: value})


class TestPredictorInterface:
    """The exact metrics of exact/ apply to a transformer unchanged, and agree with the teacher-forced KL."""

    def test_rows_are_distributions_matching_the_logits(self, rng):
        model = Transformer(SMALL, seeds=(0, 1))
        pred = TransformerPredictor(model, member=1)
        x = _tokens(rng).numpy()
        lengths = np.array([1, 3, 12, 7, 5])
        out = pred.next_token_probs(TokenBatch(x, lengths))
        np.testing.assert_allclose(out.probs.sum(1), 1.0, atol=1e-12)
        with torch.no_grad():
            logits = model(torch.tensor(x))[1]
        for i, n in enumerate(lengths):
            np.testing.assert_allclose(out.probs[i], torch.softmax(logits[i, n - 1].double(), -1).numpy(), atol=1e-7)

    def test_chain_rule_and_brute_force_kl_equal_the_exact_test_loss_kl(self):
        data = DataConfig(n_max=4)
        model = Transformer(dataclasses.replace(SMALL, dropout=0.0), seeds=(0, 1))
        loss = exact_test_loss(model, sentence_set(data))
        p = AnbnDistribution(UniformLength(4))
        T = data.width  # 10 tokens: the padded sequences
        for i in range(2):
            pred = TransformerPredictor(model, member=i)
            chain = kl_chain_rule(p, pred, T).value
            brute = kl_brute_force(p, pred, T).value
            per_seq = loss.kl_per_token[i] * loss.targets_per_sequence
            assert chain == pytest.approx(per_seq, rel=1e-6)
            assert brute == pytest.approx(per_seq, rel=1e-6)
            assert loss.test_loss[i] - loss.floor == pytest.approx(loss.kl_per_token[i], rel=1e-9)
        assert np.all(loss.kl_per_token > 0.01)  # an untrained model is far from the floor

    def test_bad_input(self):
        model = Transformer(SMALL)
        with pytest.raises(ValueError, match="member must be"):
            TransformerPredictor(model, member=1)
        with pytest.raises(ValueError, match="at least one token"):
            TransformerPredictor(model).next_token_probs(TokenBatch(np.zeros((1, 2), dtype=np.int64), np.array([0])))
