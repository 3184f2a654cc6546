"""Case study 3 on trained transformers: the same function at step 0, different models after fine-tuning.

The numbers are recomputed from the parameters that ``nonident reproduce finetunability``
saved (``finetunability-models.pt`` in the artifacts directory, ``reports`` by default),
whose SHA-256 must match the committed report (``finetunability.json``, read strictly as
a :class:`~learned.finetunability.results.FinetunabilityReport`):

* ``F3-function-preserving`` re-applies every transformation to the pretrained models and
  proves equality on every sequence (float64 logits within 1e-10); control: growths whose new
  weights are random, which the check must reject.
* ``F3-finetuning-divergence`` recomputes the exact downstream KL of the saved fine-tuned
  models, checks it against the report, and tests that the ×2 widening ends as a different
  function than the fine-tuned original (every seed, SGD and AdamW) and, under AdamW, at a
  different downstream KL beyond seed noise (paired 95 % t-interval excluding 0); control: the
  permutation of heads and units — exactly equivariant under SGD and AdamW — which the same
  check must find the same function and not divergent.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from learned.finetunability.config import OPTIMIZERS, FinetuneConfig
from learned.finetunability.equality import EqualityProof, function_distance, prove_equal
from learned.finetunability.reproduce import parametrisations
from learned.finetunability.results import DIFFERENT, FinetunabilityReport, paired_difference
from learned.finetunability.transforms import grow_randomly
from learned.nn.config import ModelConfig
from learned.nn.model import Transformer
from learned.rule_extrapolation.config import DataConfig
from learned.rule_extrapolation.data import sentence_set
from learned.rule_extrapolation.losses import exact_test_loss
from proofs_check.artifacts import load_checked
from proofs_check.registry import Check, Control, Outcome, claim

#: Recomputed downstream KL (nats/target) must match the report to this (float32 kernels round differently).
MATCH = 1e-8


def _load(artifacts: Path) -> tuple[dict[str, Any], FinetunabilityReport]:
    return load_checked(
        artifacts,
        "finetunability",
        FinetunabilityReport,
        "fine-tunability report",
        "nonident reproduce finetunability --preset cpu --out reports",
    )


def _model(entry: dict[str, Any]) -> Transformer:
    """The saved stacked model, in the precision it was saved in (float64 for the fine-tuned ones)."""
    model = Transformer(ModelConfig(**entry["model_config"]), tuple(entry["seeds"]))
    model.to(entry["state"]["embed"].dtype).load_state_dict(entry["state"])
    return model.eval()


def _equal(proof: EqualityProof) -> Check:
    return Check.numeric(
        proof.equal,
        {
            "max |logit difference|, float64": proof.max_logit_diff_float64,
            "max |logit difference|, float32": proof.max_logit_diff_float32,
            "KL, float64": proof.kl_float64,
            "sequences": proof.sequences,
            "tolerance": proof.tolerance,
        },
    )


@claim(
    id="F3-function-preserving",
    title="Trained transformers: width and depth growth, ReLU rescaling and permutations preserve the function",
    statement=(
        "For the pretrained aⁿbⁿ transformers of the fine-tunability experiment, the ×2 widening (duplicated "
        "residual stream, heads and units, LayerNorm parameters tiled, readout halved), a pre-LN block with "
        "zero residual branches, ReLU rescaling (αW₁, αb₁, W₂/α) for every α of the experiment and a "
        "permutation of heads and units compute the same function: on every token sequence of the proof's "
        "length after SOS, at every position and for every seed, the float64 logits differ by at most 1e-10 "
        "and the exact KL between the sequence distributions is at most 1e-10."
    ),
    method=(
        "the transformations re-applied to the pretrained parameters in reports/finetunability-models.pt "
        "(SHA-256 checked against reports/finetunability.json), in float64 and float32, compared on all 5^L "
        "sequences; controls: the same growths with random new weights"
    ),
    source="docs/paper.md §4.4 (F3); docs/finetunability.md",
    needs=("torch", "artifacts"),
)
def check_function_preserving(*, artifacts: Path) -> Outcome:
    models, doc = _load(artifacts)
    cfg = FinetuneConfig.from_dict(models["finetune_config"])
    ml = _model(models["pretrained"]["ml"])
    proofs = {
        name: prove_equal(ml, fn, length=cfg.proof_length, name=name, parameters=kw)
        for name, (fn, kw) in parametrisations(cfg, ml.cfg.norm_first).items()
        if name != "original"
    }
    controls = [
        Control(
            f"a {kind} growth whose new weights are random (not zero / not block-diagonal): the equality check "
            "must reject it",
            _equal(
                prove_equal(
                    ml, functools.partial(grow_randomly, kind=kind, seed=cfg.permute_seed), length=cfg.proof_length
                )
            ),
        )
        for kind in (("widen", "deepen") if ml.cfg.norm_first else ("widen",))
    ]
    same_as_report = {p.transformation: p.equal for p in doc.proofs} == {n: p.equal for n, p in proofs.items()}
    return Outcome(
        check=Check.all_of(
            {name: _equal(p) for name, p in proofs.items()}
            | {"the report lists the same transformations": Check.numeric(same_as_report, {"matches": same_as_report})}
        ),
        controls=tuple(controls),
    )


def _diverges(
    tuned: dict[str, dict[str, Transformer]], kl: dict[str, dict[str, list[float]]], name: str, length: int
) -> Check:
    """Different functions after fine-tuning under both optimisers, and beyond seed noise under AdamW."""
    parts = {}
    for opt in OPTIMIZERS:
        dist = function_distance(tuned[opt]["original"], tuned[opt][name], length=length)
        parts[f"{opt}: different functions"] = Check.numeric(
            min(dist.kl) > DIFFERENT,
            {"KL to the fine-tuned original, per seed (nats)": list(dist.kl), "threshold": DIFFERENT},
        )
    d = paired_difference(name, "adamw", "kl_per_token", kl["adamw"][name], kl["adamw"]["original"])
    lower = d.divergent and d.high is not None and d.high < 0
    parts["adamw: downstream KL lower beyond seed noise"] = Check.numeric(
        lower,
        {"per-seed difference (nats/target)": list(d.deltas), "mean": d.mean, "95 % interval": [d.low, d.high]},
    )
    return Check.all_of(parts)


@claim(
    id="F3-finetuning-divergence",
    title="Trained transformers: the same function fine-tunes to different models",
    statement=(
        "Fine-tuned on aⁿbⁿ with a longer length range (same data, steps and seeds), the ×2-widened copy of "
        "each pretrained transformer — the same function at step 0 — ends as a different function than the "
        f"fine-tuned original for every seed, under SGD and under AdamW (KL above {DIFFERENT:g} nats between "
        "their distributions of the proof's length), and under AdamW at a lower exact downstream KL beyond "
        "seed noise (the paired 95 % t-interval over seeds lies below 0 — per comparison, not corrected for "
        "the report's other comparisons — and the mean difference exceeds the report's rounding)."
    ),
    method=(
        "the fine-tuned parameters in reports/finetunability-models.pt (SHA-256 checked against "
        "reports/finetunability.json): exact KL per target over every downstream sentence (each within 1e-8 of "
        "the report), the KL between the fine-tuned models over every token sequence of the proof's length, "
        "a paired Student-t interval over the seeds; control: the permuted copies, fine-tuned alike "
        "(SGD and AdamW are equivariant under the permutation)"
    ),
    source="docs/paper.md §4.4 (F3); docs/finetunability.md",
    needs=("torch", "artifacts"),
)
def check_finetuning_divergence(*, artifacts: Path) -> Outcome:
    models, doc = _load(artifacts)
    cfg = FinetuneConfig.from_dict(models["finetune_config"])
    law = sentence_set(DataConfig(n_max=cfg.n_max))
    tuned = {opt: {name: _model(e) for name, e in models["finetuned"][opt].items()} for opt in OPTIMIZERS}
    divergent = f"widen-{cfg.widen_factor}"
    kl = {opt: {n: exact_test_loss(m, law).kl_per_token.tolist() for n, m in tuned[opt].items()} for opt in OPTIMIZERS}
    gaps = [
        abs(a - b)
        for opt in OPTIMIZERS
        for name in kl[opt]
        for a, b in zip(kl[opt][name], doc.curve(name, opt).kl_after, strict=True)
    ]
    matches = Check.numeric(max(gaps) <= MATCH, {"largest difference to the report": max(gaps), "tolerance": MATCH})
    return Outcome(
        check=Check.all_of(
            {"recomputed = report": matches, f"{divergent} diverges": _diverges(tuned, kl, divergent, cfg.proof_length)}
        ),
        controls=(
            Control(
                "the permutation of heads and units (SGD and AdamW are equivariant under it): the divergence "
                "check must find it the same function and not divergent",
                _diverges(tuned, kl, "permute", cfg.proof_length),
            ),
        ),
    )
