"""Case study 3: function-preserving transformations, their proof, equivariance, fine-tuning and the probe."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from exact.core.kl import kl_terms
from exact.core.tokens import SOS
from exact.core.validate import InputError
from learned.finetunability.config import FinetuneConfig, finetune_preset
from learned.finetunability.equality import TOLERANCE, EqualityProof, apply_transform, function_distance, prove_equal
from learned.finetunability.finetune import finetune, stack
from learned.finetunability.probe import linear_probe, probe_data
from learned.finetunability.results import ROUNDING, paired_difference
from learned.finetunability.transforms import deepen, grow_randomly, permutations, permute, rescale_relu, widen
from learned.nn.config import ModelConfig
from learned.nn.model import Block, Transformer
from learned.rule_extrapolation.config import DataConfig
from learned.rule_extrapolation.data import sentence_set
from learned.rule_extrapolation.losses import lm_loss

SMALL = ModelConfig(d_model=8, n_heads=2, d_ff=16, n_layers=2, dropout=0.0, max_len=64)


def _transforms(norm_first: bool, alpha: float, seed: int) -> dict:
    out = {
        "widen": lambda m: widen(m, 2),
        "widen3": lambda m: widen(m, 3),
        "rescale": lambda m: rescale_relu(m, alpha),
        "rescale per layer": lambda m: rescale_relu(
            m, [alpha, 1 / alpha][: m.cfg.n_layers] + [2.0] * (m.cfg.n_layers - 2)
        ),
        "permute": lambda m: permute(m, seed),
    }
    if norm_first:
        out["deepen"] = lambda m: deepen(m, 2, at=seed % 2, seed=seed)
    return out


@pytest.fixture(scope="module")
def trained() -> Transformer:
    """A small pre-LN model after 40 AdamW steps on aⁿbⁿ (so its weights are no longer at initialisation)."""
    torch.manual_seed(0)
    model = Transformer(SMALL, seeds=(0, 1))
    batch = torch.as_tensor(sentence_set(DataConfig(n_max=8)).tokens)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = lm_loss(model(batch[..., :-1]), batch, ignore_pad=False).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


class TestEquality:
    @settings(max_examples=12, deadline=None)
    @given(
        heads=st.sampled_from([1, 2]),
        head_dim=st.sampled_from([2, 4]),
        d_ff=st.integers(1, 12),
        n_layers=st.integers(1, 3),
        norm_first=st.booleans(),
        positions=st.sampled_from(["sinusoidal", "none", "batch-row"]),
        alpha=st.floats(0.05, 20.0),
        seed=st.integers(0, 2**16),
    )
    def test_every_transformation_of_a_random_model_is_the_same_function(
        self, heads, head_dim, d_ff, n_layers, norm_first, positions, alpha, seed
    ):
        cfg = ModelConfig(
            d_model=heads * head_dim,
            n_heads=heads,
            d_ff=d_ff,
            n_layers=n_layers,
            dropout=0.0,
            max_len=64,
            norm_first=norm_first,
            positions=positions,
        )
        model = Transformer(cfg, seeds=(seed, seed + 1))
        for name, fn in _transforms(norm_first, alpha, seed).items():
            proof = prove_equal(model, fn, length=3, name=name)
            assert proof.equal, (name, proof)
            assert proof.max_logit_diff_float32 < 1e-4, (name, proof)

    def test_trained_models_too_and_the_proof_reports_every_figure(self, trained):
        for name, fn in _transforms(True, 0.3, 1).items():
            p = prove_equal(trained, fn, length=4, name=name, parameters={"x": 1})
            assert p.equal and p.sequences == 5**4 and p.length == 4 and p.tolerance == TOLERANCE
            assert 0 <= p.kl_float64 <= TOLERANCE and p.kl_float32 >= 0 and p.parameters == {"x": 1}

    def test_powers_of_two_and_growth_by_zero_blocks_are_bit_identical_in_float32(self, trained):
        for fn in (lambda m: rescale_relu(m, 4.0), lambda m: rescale_relu(m, 0.125), lambda m: deepen(m, 1)):
            p = prove_equal(trained, fn, length=3)
            assert p.max_logit_diff_float32 == 0.0 and p.kl_float32 == 0.0

    def test_random_growth_is_rejected(self, trained):
        for kind in ("widen", "deepen"):
            p = prove_equal(trained, lambda m, k=kind: grow_randomly(m, k, seed=3), length=3)
            assert not p.equal and p.max_logit_diff_float64 > 1e-3 and p.kl_float64 > 1e-8

    def test_an_arbitrary_perturbation_is_rejected(self, trained):
        def nudge(m):
            out = copy.deepcopy(m)
            with torch.no_grad():
                cast_block = out.blocks[0]
                assert isinstance(cast_block, Block)
                cast_block.mlp.b_out[:, 0] += 1e-6  # one coordinate: LayerNorm would undo a uniform shift
            return out

        p = prove_equal(trained, nudge, length=3)
        assert not p.equal and p.max_logit_diff_float64 > TOLERANCE

    @pytest.mark.parametrize(("dtype", "rel"), [(torch.float64, 1e-12), (torch.float32, 1e-6)])
    def test_the_chain_rule_kl_equals_the_brute_force_sum(self, trained, dtype, rel):
        # float32: the same prefix at another row of a batch may round differently in the last bit
        # (matrix kernels block rows), so the enumerated joint sums to 1 only within ~1e-10.
        L = 4
        model = copy.deepcopy(trained).to(dtype)
        proof = prove_equal(model, lambda m: grow_randomly(m, "widen", seed=5, scale=0.3), length=L)
        other = grow_randomly(model, "widen", seed=5, scale=0.3)
        seqs = np.array([[SOS, *w] for w in itertools.product(range(5), repeat=L)])
        x = torch.as_tensor(seqs)

        def joint(m):
            with torch.no_grad():
                lp = torch.log_softmax(m(x)[:, :, :-1].double(), -1)
            return lp.gather(-1, x[None, :, 1:, None].expand(lp.shape[0], -1, -1, 1))[..., 0].sum(-1).numpy()

        a, b = joint(model), joint(other)
        brute = max(math.fsum(kl_terms(a[i], b[i])) for i in range(a.shape[0]))
        assert proof.kl_float32 == pytest.approx(brute, rel=rel) and brute > 1e-3

    def test_layer_norm_of_copies_is_copies_of_layer_norm_with_eps(self):
        h = torch.randn(7, 6, dtype=torch.float64)
        for eps in (0.0, 6e-3, 1.0):
            two = F.layer_norm(h.repeat(1, 2), (12,), eps=eps)
            assert torch.allclose(two, F.layer_norm(h, (6,), eps=eps).repeat(1, 2), atol=1e-14, rtol=0)

    def test_apply_transform_returns_the_model_and_its_proof(self, trained):
        wide, proof = apply_transform(trained, "widen", factor=2, length=2)
        assert wide.cfg.d_model == 16 and wide.cfg.n_heads == 4 and wide.cfg.d_ff == 32 and wide.cfg.pe_repeat == 2
        assert proof.equal and proof.transformation == "widen" and proof.parameters == {"factor": 2}
        with pytest.raises(InputError, match="name must be one of"):
            apply_transform(trained, "shrink")


class TestRefusals:
    def test_post_ln_depth_growth_is_refused_with_the_reason(self):
        post = Transformer(dataclasses.replace(SMALL, norm_first=False))
        with pytest.raises(InputError, match="pre-LN.*LayerNorm is not the identity"):
            deepen(post)
        with pytest.raises(InputError, match="pre-LN"):
            grow_randomly(post, "deepen")

    @pytest.mark.parametrize(
        ("call", "match"),
        [
            (lambda m: rescale_relu(m, 0.0), "alpha must be finite and > 0"),
            (lambda m: rescale_relu(m, -2.0), "alpha must be finite and > 0"),
            (lambda m: rescale_relu(m, float("nan")), "alpha must be finite"),
            (lambda m: rescale_relu(m, [2.0]), "one value per layer"),
            (lambda m: widen(m, 1), "factor must be an integer ≥ 2"),
            (lambda m: deepen(m, 0), "blocks must be an integer ≥ 1"),
            (lambda m: deepen(m, 1, at=5), "at=5 is above the limit 2"),
            (lambda m: permute(m, -1), "seed must be an integer ≥ 0"),
            (lambda m: grow_randomly(m, "shrink"), "kind must be"),
            (lambda m: grow_randomly(m, "widen", scale=0.0), "scale must be finite and > 0"),
            (lambda m: rescale_relu(m, 1e-46), "outside \\[2\\^-20, 2\\^20\\]"),
            (lambda m: rescale_relu(m, 1e39), "would overflow or underflow"),
            (lambda m: deepen(m, 1, seed=-1), "seed must be an integer ≥ 0"),
            (lambda m: function_distance(m, stack([m, m])), "as many members"),
        ],
    )
    def test_bad_parameters(self, call, match):
        with pytest.raises(InputError, match=match):
            call(Transformer(SMALL))

    def test_a_non_finite_float32_model_is_never_equal(self):
        kw = dict(transformation="t", parameters={}, length=1, sequences=5, max_logit_diff_float64=0.0, kl_float64=0.0)
        assert EqualityProof(**kw, max_logit_diff_float32=0.0, kl_float32=0.0, tolerance=TOLERANCE).equal
        assert not EqualityProof(**kw, max_logit_diff_float32=math.nan, kl_float32=0.0, tolerance=TOLERANCE).equal
        assert not EqualityProof(**kw, max_logit_diff_float32=0.0, kl_float32=math.inf, tolerance=TOLERANCE).equal

    def test_bad_types(self):
        with pytest.raises(TypeError, match="model must be a learned Transformer"):
            widen("model")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="alpha must be a number"):
            rescale_relu(Transformer(SMALL), "2")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="factor"):
            widen(Transformer(SMALL), 2.0)  # type: ignore[arg-type]
        m = Transformer(SMALL)
        for bad in (None, True, "x"):
            with pytest.raises(TypeError, match="alpha must be a number"):
                rescale_relu(m, bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="seed must be an integer"):
            deepen(m, 1, seed=1.7)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="transform must be a callable"):
            prove_equal(m, "widen")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="transform must return a learned Transformer"):
            prove_equal(m, lambda _: None)  # type: ignore[arg-type,return-value]
        with pytest.raises(TypeError, match="original must be a learned Transformer"):
            prove_equal("m", widen)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="model must be a learned Transformer"):
            permutations(None, 0)  # type: ignore[arg-type]


def _grads(model: Transformer, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    lm_loss(model(batch[..., :-1]), batch, ignore_pad=False).sum().backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


class TestOptimisers:
    def test_rescaled_gradients_are_the_transformed_gradients(self, trained):
        # F3-gradients-sgd: ∂L/∂(αW₁) = (1/α) ∂L/∂W₁ and ∂L/∂(W₂/α) = α ∂L/∂W₂.
        m = copy.deepcopy(trained).double()
        batch = torch.as_tensor(sentence_set(DataConfig(n_max=6)).tokens)
        alpha = 3.0
        g, gr = _grads(m, batch), _grads(rescale_relu(m, alpha), batch)
        for i in range(SMALL.n_layers):
            k = f"blocks.{i}.mlp."
            assert torch.allclose(gr[k + "w_in"], g[k + "w_in"] / alpha, rtol=1e-9, atol=1e-14)
            assert torch.allclose(gr[k + "b_in"], g[k + "b_in"] / alpha, rtol=1e-9, atol=1e-14)
            assert torch.allclose(gr[k + "w_out"], g[k + "w_out"] * alpha, rtol=1e-9, atol=1e-14)
        # so one SGD step moves the two differently: they are no longer the same function after it
        r = rescale_relu(m, alpha)
        for model in (m, r):
            _grads(model, batch)
            with torch.no_grad():
                for q in model.parameters():
                    q -= 0.1 * q.grad
        assert not prove_equal(m, lambda _: r, length=3).equal

    @pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
    def test_one_optimiser_step_is_permutation_equivariant(self, trained, optimizer):
        m = copy.deepcopy(trained).double()
        p = permute(m, 7)
        batch = torch.as_tensor(sentence_set(DataConfig(n_max=6)).tokens)
        for model in (m, p):
            opt = (
                torch.optim.SGD(model.parameters(), lr=0.1)
                if optimizer == "sgd"
                else torch.optim.AdamW(model.parameters(), lr=0.01)
            )
            for _ in range(3):
                _grads(model, batch)
                opt.step()
        stepped_then_permuted = permute(m, 7)
        d = SMALL.d_model
        for (k, a), (_, b) in zip(stepped_then_permuted.named_parameters(), p.named_parameters(), strict=True):
            if k.endswith("attn.b_qkv"):
                # The key bias has an exactly zero gradient in real arithmetic (it shifts every score of a
                # query equally); Adam turns its rounding noise into ±lr steps, which no function sees.
                a, b = torch.cat([a[:, :d], a[:, 2 * d :]], 1), torch.cat([b[:, :d], b[:, 2 * d :]], 1)
            assert torch.allclose(a, b, rtol=0, atol=1e-12), k
        assert prove_equal(stepped_then_permuted, lambda _: p, length=3).equal

    def test_the_control_of_equivariance_widening_is_not_equivariant(self, trained):
        # One SGD step on the widened model is not the widening of one step on the original.
        m = copy.deepcopy(trained).double()
        w = widen(m, 2)
        batch = torch.as_tensor(sentence_set(DataConfig(n_max=6)).tokens)
        for model in (m, w):
            _grads(model, batch)
            with torch.no_grad():
                for q in model.parameters():
                    q -= 0.1 * q.grad
        proof = prove_equal(m, lambda _: w, length=3)
        assert not proof.equal and proof.max_logit_diff_float64 > 1e-4

    def test_permutations_are_permutations(self):
        for heads, units in permutations(Transformer(SMALL), 3):
            assert sorted(heads) == list(range(2)) and sorted(units) == list(range(16))


class TestFinetuning:
    CFG = finetune_preset("tiny", {"n_max": 6, "steps": 6, "eval_every": 3, "max_pred_length": 8, "probe_steps": 5})

    def test_stacking_keeps_every_model(self, trained):
        both = stack([trained, permute(trained, 1)])
        assert both.n_models == 4 and both.seeds == (0, 1, 0, 1)
        for i, (src, j) in enumerate([(trained, 0), (trained, 1)]):
            one = both.member(i)
            assert all(torch.equal(a, b[j : j + 1]) for a, b in zip(one.parameters(), src.parameters(), strict=True))
        with pytest.raises(InputError, match="one config"):
            stack([trained, widen(trained)])
        with pytest.raises(InputError, match="at least one"):
            stack([])

    def test_permuted_models_fine_tune_alike_and_widened_ones_do_not(self, trained):
        probe = probe_data(4, 0)
        for optimizer in ("sgd", "adamw"):
            tr = finetune(stack([trained, permute(trained, 2)]), self.CFG, optimizer, probe)
            assert tr.steps == (0, 3, 6) and tr.kl_per_token.shape == (3, 4)
            assert np.allclose(tr.kl_per_token[:, :2], tr.kl_per_token[:, 2:], rtol=1e-4, atol=1e-7)
            assert np.all(tr.kl_per_token[-1] < tr.kl_per_token[0])  # it learns the longer language
            wide = finetune(widen(trained), self.CFG, optimizer, probe)
            assert np.allclose(wide.kl_per_token[0], tr.kl_per_token[0, :2], rtol=1e-5)  # equal at step 0
            assert np.max(np.abs(wide.kl_per_token[-1] - tr.kl_per_token[-1, :2])) > 1e-5  # not after

    def test_fine_tuning_does_not_touch_its_input(self, trained):
        before = copy.deepcopy(trained.state_dict())
        finetune(trained, self.CFG, "adamw", probe_data(3, 0))
        assert all(torch.equal(v, trained.state_dict()[k]) for k, v in before.items())

    def test_a_bad_optimizer_is_refused(self, trained):
        with pytest.raises(InputError, match="optimizer must be"):
            finetune(trained, self.CFG, "adam", probe_data(3, 0))


class TestProbe:
    def test_the_data_are_every_string_with_its_exact_label(self):
        d = probe_data(5, 0)
        assert len(d.labels) == 2**6 - 2 and d.train.sum() == len(d.labels) // 2
        for row, last, label in zip(d.tokens, d.last, d.labels, strict=True):
            w = row[1 : last + 1]
            assert row[0] == SOS and label == (np.sum(w == 0) > np.sum(w == 1))
        assert not np.array_equal(probe_data(5, 1).train, d.train)

    def test_identical_features_give_identical_probes_and_it_learns(self, trained):
        d = probe_data(6, 0)
        res = linear_probe(stack([trained, rescale_relu(trained, 4.0)]), d, optimizer="adamw", lr=0.05, steps=100,
                           weight_decay=0.0)  # fmt: skip
        assert np.array_equal(res.accuracy[:2], res.accuracy[2:]) and np.all(res.accuracy > 0.5)
        assert np.all(np.isfinite(res.cross_entropy))


class TestStatistics:
    def test_the_paired_interval(self):
        d = paired_difference("x", "sgd", "kl", [1.5, 2.0, 3.25], [0.5, 0.9, 2.0])
        deltas = np.array([1.0, 1.1, 1.25])
        half = 4.302652729911275 * deltas.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 degrees of freedom)
        assert d.deltas == pytest.approx((1.0, 1.1, 1.25)) and d.mean == pytest.approx(deltas.mean())
        assert (d.low, d.high) == pytest.approx((deltas.mean() - half, deltas.mean() + half)) and d.divergent
        assert paired_difference("x", "sgd", "kl", [0.5, 0.9, 2.0], [1.5, 2.0, 3.25]).divergent  # either sign

    def test_tiny_or_noisy_differences_are_not_divergent(self):
        assert not paired_difference("p", "sgd", "kl", [ROUNDING / 2] * 3, [0.0] * 3).divergent  # rounding
        assert not paired_difference("p", "sgd", "kl", [1.0, -1.0, 0.5], [0.0] * 3).divergent  # noise
        one = paired_difference("p", "sgd", "kl", [1.0], [0.0])
        assert one.low is None and one.high is None and not one.divergent
        with pytest.raises(InputError, match="equally many values and references, got 2 and 3"):
            paired_difference("p", "sgd", "kl", [1.0, 2.0], [0.0, 1.0, 2.0])
        with pytest.raises(InputError, match="not finite"):
            paired_difference("p", "sgd", "kl", [1.0, math.nan], [0.0, 1.0])


class TestConfig:
    def test_presets_and_overrides(self):
        cfg = finetune_preset("cpu", {"alphas": "0.5,2", "seeds": "0-3", "steps": "10"})
        assert cfg.alphas == (0.5, 2.0) and cfg.seeds == (0, 1, 2, 3) and cfg.steps == 10
        assert FinetuneConfig.from_dict(cfg.to_dict()) == cfg

    @pytest.mark.parametrize(
        ("over", "match"),
        [
            ({"nope": 1}, "no such field"),
            ({"alphas": (1.0,)}, "α ≠ 1"),
            ({"alphas": (-1.0,)}, "finetune.alphas"),
            ({"arm_seeds": (9,)}, "subset of finetune.seeds"),
            ({"seeds": (0, 0)}, "distinct"),
            ({"steps": 0}, "finetune.steps"),
            ({"sgd_lr": float("inf")}, "finetune.sgd_lr"),
            ({"pretrain_preset": "huge"}, "finetune.pretrain_preset"),
            ({"steps": "ten"}, "finetune.steps expects a int"),
        ],
    )
    def test_bad_overrides_name_the_field(self, over, match):
        with pytest.raises((InputError, TypeError), match=match):
            finetune_preset("cpu", over)
        with pytest.raises(InputError, match="preset must be one of"):
            finetune_preset("paper")

    def test_the_tiled_position_table(self):
        cfg = dataclasses.replace(SMALL, d_model=16, n_heads=4, pe_repeat=2)
        pe = Transformer(cfg).pe_table
        assert torch.equal(pe[:, :8], pe[:, 8:]) and torch.equal(pe[:, :8], Transformer(SMALL).pe_table)
        with pytest.raises(InputError, match="even multiple of pe_repeat=3"):
            dataclasses.replace(SMALL, pe_repeat=3)
