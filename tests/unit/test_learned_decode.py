"""The compiled greedy decoder against the torch model: the same tokens, the same logits to float rounding."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from exact.core.tokens import PAD, SOS
from learned.nn.config import ModelConfig
from learned.nn.decode import greedy_decode, supports
from learned.nn.model import Transformer
from learned.rule_extrapolation.config import RunConfig
from learned.rule_extrapolation.data import prompt_set
from learned.rule_extrapolation.protocol import greedy_complete

SMALL = ModelConfig(d_model=8, n_heads=2, d_ff=16, n_layers=2, dropout=0.1, max_len=64)
CONFIGS = [
    dataclasses.replace(SMALL, norm_first=nf, mask_pad_keys=mp, n_layers=nl)
    for nf, mp, nl in itertools.product((True, False), (True, False), (1, 3))
] + [
    dataclasses.replace(SMALL, positions="none"),
    dataclasses.replace(SMALL, positions="batch-row", norm_first=False, clone_layers=True),
    dataclasses.replace(SMALL, d_model=12, n_heads=3, pe_repeat=2),
]
ATOL = 2e-5  # float32 logits of order 1–10, summed in another order than torch's kernels


def _id(c: ModelConfig) -> str:
    return f"prenorm{c.norm_first}-padmask{c.mask_pad_keys}-L{c.n_layers}-{c.positions}-d{c.d_model}"


def _prompts(rng: np.random.Generator, n: int = 7, width: int = 6) -> np.ndarray:
    x = rng.integers(0, 5, size=(n, width))
    x[:, 0] = SOS
    x[0, 3:] = PAD  # PAD keys in the prompt are masked (mask_pad_keys) while decoding too
    x[1, 0] = PAD  # ... except at position 0, which is never masked
    x[2, :] = PAD  # a row of PAD only: every query still attends to position 0
    return x


def _teacher_forced_logits(model: Transformer, prompts: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """The model's logits at each generated step, from one full forward pass over prompt + tokens."""
    S, P = model.n_models, prompts.shape[1]
    seq = np.concatenate([np.broadcast_to(prompts, (S, *prompts.shape)), tokens[:, :, :-1]], axis=2)
    with torch.no_grad():
        return model(torch.as_tensor(seq)).numpy()[:, :, P - 1 :]


def _check(model: Transformer, prompts: np.ndarray, max_new: int, chunk: int = 1024) -> None:
    tokens, logits = greedy_decode(model, prompts, max_new, chunk=chunk, return_logits=True)
    reference = greedy_complete(model, prompts, max_new, chunk=chunk, engine="torch")
    np.testing.assert_array_equal(tokens, reference)
    if model.cfg.positions != "batch-row" or chunk >= prompts.shape[0]:  # one full pass = one chunk
        np.testing.assert_allclose(logits, _teacher_forced_logits(model, prompts, tokens), rtol=0, atol=ATOL)


@pytest.mark.parametrize("cfg", CONFIGS, ids=_id)
def test_tokens_and_logits_equal_the_torch_models(cfg, rng):
    model = Transformer(cfg, seeds=(3, 4, 5)).eval()
    _check(model, _prompts(rng), 20)


def test_batch_row_positions_follow_the_chunks(rng):
    model = Transformer(dataclasses.replace(SMALL, positions="batch-row", norm_first=False), seeds=(1, 2)).eval()
    prompts = _prompts(rng, n=8)
    _check(model, prompts, 12, chunk=3)
    assert not np.array_equal(greedy_decode(model, prompts, 12, chunk=3), greedy_decode(model, prompts, 12))


@settings(max_examples=12, deadline=None)
@given(
    heads=st.sampled_from([1, 2, 4]),
    head_dim=st.sampled_from([2, 4]),
    d_ff=st.integers(1, 24),
    n_layers=st.integers(1, 3),
    norm_first=st.booleans(),
    mask_pad=st.booleans(),
    positions=st.sampled_from(["sinusoidal", "none", "batch-row"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_any_small_model_decodes_as_the_torch_model(
    heads, head_dim, d_ff, n_layers, norm_first, mask_pad, positions, seed
):
    cfg = ModelConfig(
        d_model=heads * head_dim, n_heads=heads, d_ff=d_ff, n_layers=n_layers, dropout=0.0, max_len=40,
        norm_first=norm_first, mask_pad_keys=mask_pad, positions=positions,
    )  # fmt: skip
    model = Transformer(cfg, seeds=(seed, seed + 1)).eval()
    _check(model, _prompts(np.random.default_rng(seed), n=5, width=4), 16)


def test_the_logit_check_rejects_a_perturbed_model(rng):
    """The negative control: one weight moved by 1e-2 puts the logits far outside the tolerance."""
    model = Transformer(SMALL, seeds=(0, 1)).eval()
    prompts = _prompts(rng)
    tokens, logits = greedy_decode(model, prompts, 10, return_logits=True)
    with torch.no_grad():
        model.blocks[0].mlp.w_in[0, 0, 0] += 1e-2
    moved = np.abs(logits - _teacher_forced_logits(model, prompts, tokens)).max()
    assert moved > 10 * ATOL


def test_ties_go_to_the_lowest_id_and_nan_to_the_first_nan():
    """``torch.argmax``'s rules, on the kernel's own argmax (its Python body)."""
    from learned.nn import _decode

    def pick(values: list[float]) -> int:
        return int(_decode._argmax.py_func(np.array(values, dtype=np.float32)))

    for values in ([1.0, 3.0, 3.0], [1.0, np.nan, 5.0, np.nan], [np.inf, np.inf], [-np.inf, -np.inf, 0.0]):
        assert pick(values) == int(torch.argmax(torch.tensor(values))), values
    assert pick([1.0, 3.0, 3.0]) == 1 and pick([1.0, np.nan, 5.0, np.nan]) == 1


def test_greedy_complete_uses_torch_when_a_hook_is_attached(rng):
    model = Transformer(SMALL, seeds=(0,)).eval()
    prompts = _prompts(rng, n=3)
    seen: list[str] = []
    with model.hooks([("hook_logits", lambda x, *, hook: seen.append(hook.name))]):
        assert not supports(model)
        greedy_complete(model, prompts, 4)
        with pytest.raises(ValueError, match="without hooks"):
            greedy_decode(model, prompts, 4)
    assert len(seen) == 4  # every step went through the torch model
    assert supports(model)


def test_bad_input(rng):
    model = Transformer(SMALL, seeds=(0,)).eval()
    prompts = _prompts(rng, n=3)
    with pytest.raises(TypeError, match="Transformer"):
        greedy_decode("model", prompts, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="prompts"):
        greedy_decode(model, prompts.astype(float), 3)
    with pytest.raises(ValueError, match="shape"):
        greedy_decode(model, prompts[0], 3)
    with pytest.raises(ValueError, match="max_new"):
        greedy_decode(model, prompts, 0)
    with pytest.raises(TypeError, match="max_new"):
        greedy_decode(model, prompts, 3.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunk"):
        greedy_decode(model, prompts, 3, chunk=0)
    with pytest.raises(TypeError, match="engine"):
        greedy_complete(model, prompts, 3, engine=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="float64"):
        greedy_decode(Transformer(SMALL, seeds=(0,)).double(), prompts, 3)
    assert greedy_decode(model, prompts, np.int64(3)).shape == (1, 3, 3)  # numpy integers are integers
    with pytest.raises(ValueError, match="max_len=64"):
        greedy_decode(model, prompts, 60)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        greedy_decode(model, np.full((2, 3), 7), 3)
    with pytest.raises(ValueError, match="engine"):
        greedy_complete(model, prompts, 3, engine="jax")
    assert greedy_decode(model, prompts[:0], 3).shape == (1, 0, 3)


@pytest.mark.slow
def test_the_committed_models_decode_identically_with_both_engines():
    """The 15 trained ``cpu``-preset models of the committed report: every token of all 251 OOD completions.

    Trained models finish their completions with EOS and PAD, so the kernel's PAD-key skipping
    is exercised over 290 positions beyond the training lengths.
    """
    path = Path(__file__).parents[2] / "reports" / "rule-extrapolation-models.pt"
    models = torch.load(path, weights_only=True)
    for arm, entry in models.items():
        cfg = RunConfig.from_dict(entry["config"])
        model = Transformer(cfg.model, cfg.train.seeds)
        model.load_state_dict(entry["best_state"])
        model.eval()
        ps = prompt_set(cfg.data.n_max, cfg.train.prompt_length)
        ood = ps.tokens[ps.ood]
        fast = greedy_complete(model, ood, cfg.train.max_pred_length, engine="numba")
        slow = greedy_complete(model, ood, cfg.train.max_pred_length, engine="torch")
        assert (fast == PAD).mean() > 0.5, arm  # mostly PAD after EOS: the skipped keys matter
        np.testing.assert_array_equal(fast, slow, err_msg=arm)
