"""The Markdown report and the figure of the fine-tunability experiment (``reports/finetunability.{md,png}``).

Every sentence of the findings is computed from the numbers of the
:class:`~learned.finetunability.results.FinetunabilityReport`, so the report never
says more than they do.
"""

from __future__ import annotations

import io

import numpy as np

from learned.finetunability.config import OPTIMIZERS
from learned.finetunability.results import DIFFERENT, Curve, Difference, FinetunabilityReport

__all__ = ["LIU_TABLE1", "figure", "render_markdown"]

#: Liu, Xie, Li & Ma (ICML 2023, arXiv 2210.14199), Table 1: task-A accuracy (%) at equal pre-training loss.
LIU_TABLE1 = (("AdamW", 89.9, 3.204), ("adversarial", 83.1, 3.206), ("lookup table", 71.2, 3.196))
ARM_NAMES = ("ml", "adversarial", "oracle")
_LABELS = {"ml": "maximum likelihood", "adversarial": "adversarial", "oracle": "oracle"}


def _ms(values: tuple[float, ...], scale: float = 1.0, fmt: str = ".2e") -> str:
    a = scale * np.asarray(values, dtype=float)
    sd = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return f"{float(a.mean()):{fmt}} ± {sd:{fmt}}"


def _interval(d: Difference, scale: float = 1.0, fmt: str = ".2e") -> str:
    if d.low is None or d.high is None:
        return f"{scale * d.mean:+{fmt}} (one seed: no interval)"
    return f"{scale * d.mean:+{fmt}} [{scale * d.low:+{fmt}}, {scale * d.high:+{fmt}}]"


def _yes(flag: bool) -> str:
    return "**yes**" if flag else "no"


def _parametrisations(doc: FinetunabilityReport) -> list[str]:
    return ["original"] + [p.transformation for p in doc.proofs]


def _arm_curve(doc: FinetunabilityReport, arm: str, optimizer: str) -> tuple[Curve, list[int]]:
    """An arm's curve and its rows; the ML arm is the original's curve on the arm seeds."""
    if arm != "ml":
        return doc.curve(arm, optimizer), list(range(len(doc.curve(arm, optimizer).seeds)))
    c = doc.curve("original", optimizer)
    arm_seeds = doc.config["arm_seeds"]
    return c, [c.seeds.index(s) for s in arm_seeds]


def _pick(values: tuple[float, ...], rows: list[int]) -> tuple[float, ...]:
    return tuple(values[i] for i in rows)


def findings(doc: FinetunabilityReport) -> list[str]:
    """Sentences computed from the numbers."""
    out = []
    worst = max(p.max_logit_diff_float64 for p in doc.proofs)
    out.append(
        f"- Step 0: every transformation computes the original's function — largest float64 logit difference "
        f"{worst:.1e} over {doc.proofs[0].sequences} sequences (tolerance {doc.proofs[0].tolerance:.0e}): "
        f"{_yes(all(p.equal for p in doc.proofs))}; the random growths are rejected: "
        f"{_yes(not any(c.equal for c in doc.controls))}."
    )
    for opt in OPTIMIZERS:
        kl = [
            d for d in doc.differences if d.optimizer == opt and d.metric == "kl_per_token" and d.name not in ARM_NAMES
        ]
        div = [d.name for d in kl if d.divergent and d.name != "permute"]
        perm = next(d for d in kl if d.name == "permute")
        biggest = max((d for d in kl if d.name != "permute"), key=lambda d: abs(d.mean))
        r1 = [d for d in doc.differences if d.optimizer == opt and d.metric == "r1_after" and d.name not in ARM_NAMES]
        top = max(r1, key=lambda d: abs(d.mean))
        names = [n for n in _parametrisations(doc) if n not in ("original", "permute")]
        apart = [n for n in names if min(doc.curve(n, opt).function_kl) > DIFFERENT]
        out.append(
            f"- {opt.upper()}: fine-tuned into different functions (KL to the fine-tuned original above "
            f"{DIFFERENT:.0e} for every seed): {', '.join(apart) or 'none'} of {len(names)}; the permutation "
            f"(control) stays within {max(doc.curve('permute', opt).function_kl):.1e}. Downstream KL diverges "
            f"beyond seed noise for {', '.join(div) or 'none'}; largest mean difference {biggest.name} "
            f"{_interval(biggest)} nats/target; the permutation's downstream KL moves by at most "
            f"{max(abs(x) for x in perm.deltas):.1e} (divergent: {_yes(perm.divergent)}). Largest mean change of OOD "
            f"R1 accuracy: {top.name} {_interval(top, 100, '.1f')} points (95 % interval in brackets)."
        )
    return out


def _ten_points(doc: FinetunabilityReport) -> str:
    """The seed summary's "≈ 10 points better", against this experiment's R1 differences."""
    r1 = [d for d in doc.differences if d.metric == "r1_after" and d.name not in ARM_NAMES and d.name != "permute"]
    top = max(r1, key=lambda d: abs(d.mean))
    sig = [d for d in r1 if d.divergent]
    head = (
        "The paper's seed summary speaks of a function-preservingly embedded model doing about 10 points better "
        "downstream. Here the largest mean change of OOD R1 accuracy is "
        f"{top.name} ({top.optimizer}) {_interval(top, 100, '.1f')} points"
    )
    if not sig:
        return head + f"; no R1 difference is beyond seed noise at {len(top.deltas)} seeds."
    return (
        head + "; beyond seed noise: " + ", ".join(f"{d.name} ({d.optimizer}) {100 * d.mean:+.1f}" for d in sig) + "."
    )


def render_markdown(doc: FinetunabilityReport) -> str:
    cfg = doc.config
    prov = doc.provenance
    lines = [
        "# Case study 3: the same function, different fine-tuning",
        "",
        "Parameter non-identifiability (arXiv 2405.01964 §4.4; docs/finetunability.md): transformers that compute "
        "*exactly* the same function — proved on every token sequence of the proof's length — are fine-tuned on a downstream language "
        "whose ground truth is exact, with the same data, steps and seeds.",
        "",
        f"Generated by `nonident reproduce finetunability --preset {doc.preset}` on {doc.device} in "
        f"{doc.seconds:.0f} s (pretraining {doc.pretrain_seconds:.0f} s, summed over sessions); commit "
        f"`{prov.get('commit')}`{' (uncommitted changes)' if prov.get('dirty') else ''}, {prov.get('date')}. Pretrained: maximum likelihood on aⁿbⁿ "
        f"(n ≤ {doc.pretrain_config['data']['n_max']}), seeds {', '.join(map(str, cfg['seeds']))}. Downstream: "
        f"aⁿbⁿ with n ≤ {cfg['n_max']}, full batch, {cfg['steps']} steps, SGD lr {cfg['sgd_lr']:g} / AdamW lr "
        f"{cfg['adamw_lr']:g} (weight decay {cfg['weight_decay']:g}), per-model gradient clipping at "
        f"{cfg['clip_norm']:g}, in {cfg['dtype']}.",
        "",
        "## Step 0: exact equality",
        "",
        f"Every sequence `SOS x₁…x_{cfg['proof_length']}` over the 5 tokens, every position, every seed.",
        "",
        "| transformation | parameters | max abs logit diff, float64 | float32 | KL, float64 | KL, float32 | equal |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for p in doc.proofs + doc.controls:
        kw = ", ".join(f"{k}={v}" for k, v in p.parameters.items())
        lines.append(
            f"| {p.transformation} | {kw} | {p.max_logit_diff_float64:.1e} | {p.max_logit_diff_float32:.1e} | "
            f"{p.kl_float64:.1e} | {p.kl_float32:.1e} | {_yes(p.equal)} |"
        )
    lines += ["", "(random-*: growths whose new weights are random — the negative controls, which must differ.)", ""]
    for opt in OPTIMIZERS:
        lines += [
            f"## Fine-tuning with {opt.upper()}",
            "",
            "Exact KL per target to the downstream language after fine-tuning (mean ± sd over seeds); the paired "
            "difference to the original with its 95 % t-interval (*diverges*: the interval excludes 0, beyond "
            "seed noise; per comparison, not corrected for the table's several comparisons); the KL (nats) between the fine-tuned model and the fine-tuned original over every "
            f"sequence of {doc.config['proof_length']} tokens after SOS (*different functions* above {DIFFERENT:.0e}); "
            "OOD R1 accuracy of greedy completions (finished ones, %); the linear probe's held-out accuracy (%) on "
            "frozen features before and after.",
            "",
            "| parametrisation | KL after | Δ KL vs original [95 % CI] | diverges | KL to fine-tuned original, "
            "min … max | R1 after % | probe before % | probe after % |",
            "|---|---:|---:|---|---:|---:|---:|---:|",
        ]
        for name in _parametrisations(doc):
            c = doc.curve(name, opt)
            d = "—" if name == "original" else _interval(doc.difference(name, opt, "kl_per_token"))
            div = "—" if name == "original" else _yes(doc.difference(name, opt, "kl_per_token").divergent)
            far = "—" if name == "original" else f"{min(c.function_kl):.1e} … {max(c.function_kl):.1e}"
            lines.append(
                f"| {name} | {_ms(c.kl_after)} | {d} | {div} | {far} | {_ms(c.r1_after, 100, '.1f')} | "
                f"{_ms(c.probe_before, 100, '.1f')} | {_ms(c.probe_after, 100, '.1f')} |"
            )
        lines.append("")
    lines += [
        "## Near-equal pretraining loss, different downstream (the analogue of Liu et al.'s Table 1)",
        "",
        "The rule-extrapolation arms (seeds "
        + ", ".join(map(str, cfg["arm_seeds"]))
        + "), all within "
        + f"{max(max(v) for v in doc.pretrain_kl.values()):.1e}"
        + " nats/target of the exact pretraining floor, fine-tuned alike. Liu, Xie, Li & Ma (ICML 2023, arXiv 2210.14199), Table 1: task-A "
        "accuracy "
        + " / ".join(f"{n} {a}" for n, a, _ in LIU_TABLE1)
        + " % at pre-training losses "
        + " / ".join(f"{loss}" for _, _, loss in LIU_TABLE1)
        + ".",
        "",
        "| arm | pretraining KL | optimiser | KL after | R1 after % | probe after % |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for arm in ARM_NAMES:
        for opt in OPTIMIZERS:
            c, rows = _arm_curve(doc, arm, opt)
            lines.append(
                f"| {_LABELS[arm]} | {_ms(doc.pretrain_kl[arm])} | {opt} | {_ms(_pick(c.kl_after, rows))} | "
                f"{_ms(_pick(c.r1_after, rows), 100, '.1f')} | {_ms(_pick(c.probe_after, rows), 100, '.1f')} |"
            )
    lines += [
        "",
        "## Findings",
        "",
        *findings(doc),
        "",
        _ten_points(doc),
        "",
        f"![fine-tuning curves]({'finetunability.png'})",
        "",
    ]
    return "\n".join(lines)


def figure(doc: FinetunabilityReport) -> bytes:
    """Exact downstream KL against fine-tuning steps, one curve per parametrisation, one panel per optimiser."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(OPTIMIZERS), sharey=True)
    names = _parametrisations(doc)
    colours = {n: f"C{i}" for i, n in enumerate(names)}
    for ax, opt in zip(axes, OPTIMIZERS, strict=True):
        for n in names:
            c = doc.curve(n, opt)
            y = np.asarray(c.kl_per_token).mean(axis=1)
            ax.plot(c.steps, y, ":" if n == "permute" else "-", color=colours[n], label=n, lw=1.3)
        ax.set_yscale("log")
        ax.set_xlabel("fine-tuning step")
        ax.set_title(f"{opt.upper()} (mean over seeds)")
    axes[0].set_ylabel("exact KL per target to the downstream language")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()
