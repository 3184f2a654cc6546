"""The report of ``nonident reproduce icl``: markdown and figure, pure functions of :class:`IclReport`.

Every sentence of the findings is computed from the numbers, so the report never says more
than they do. GINC's published curves (Xie et al. 2022, vocabulary 50, 0 and 64 shots) are
shown beside ours only where the preset has GINC's sizes and ``k`` is one they report.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from learned.icl.config import IclConfig
from learned.icl.results import Accuracy, IclReport, Interval

__all__ = ["GINC_PUBLISHED", "published_curves", "qn_per_token", "render_figure", "render_markdown"]

#: GINC's reported in-context accuracy (%) at 0 and 64 shots, by k and model (Xie et al. 2022).
GINC_PUBLISHED: dict[int, dict[str, tuple[float, float]]] = {
    3: {
        "GPT-2, 4 layers": (32.1, 41.3),
        "GPT-2, 12 layers": (36.8, 51.9),
        "GPT-2, 16 layers": (38.5, 53.7),
        "LSTM": (34.1, 45.2),
    },
    10: {
        "GPT-2, 4 layers": (56.6, 60.2),
        "GPT-2, 12 layers": (69.5, 81.2),
        "GPT-2, 16 layers": (74.6, 84.7),
        "LSTM": (91.7, 95.8),
    },
}
_GINC_SIZES = {"n_concepts": 5, "n_values": 10, "n_slots": 10, "n_symbols": 50}


def published_curves(cfg: IclConfig) -> dict[str, Any]:
    """GINC's published curves for this config's ``k`` when the mixture has GINC's sizes, else ``{}``."""
    g = cfg.ginc
    if any(getattr(g, k) != v for k, v in _GINC_SIZES.items()) or cfg.eval.k not in GINC_PUBLISHED:
        return {}
    return {
        "source": "Xie et al. 2022, GINC (unsmoothed emissions, 1000 documents of 10,240 tokens)",
        "k": cfg.eval.k,
        "shots": [0, 64],
        "accuracy_percent": {name: list(v) for name, v in GINC_PUBLISHED[cfg.eval.k].items()},
    }


def qn_per_token(doc: IclReport) -> list[float]:
    """Per shot count, ``q_n``'s certified KL bound divided by the tokens it covers (``L_n + 1``)."""
    return [r.qn_kl_upper / (r.prompt_length + 1) for r in doc.shots]


def model_prefix_kl(doc: IclReport, seed_index: int, tokens: int) -> float:
    """A conservative low value of a seed's KL to ``p`` per token over the first ``tokens`` positions:
    the mean of the per-position lower 95 % ends (below the measured mean)."""
    return float(np.mean(doc.documents[seed_index].kl_curve_low[:tokens]))


def _acc(a: Accuracy) -> str:
    return f"{100 * a.accuracy:.1f} [{100 * a.low:.1f}, {100 * a.high:.1f}]"


def _iv(v: Interval, fmt: str = ".4f") -> str:
    return f"{v.mean:{fmt}} [{v.low:{fmt}}, {v.high:{fmt}}]"


def _overlap(a: Accuracy, b: Accuracy) -> bool:
    return a.low <= b.high and b.low <= a.high


def findings(doc: IclReport) -> list[str]:
    """The findings, each a sentence computed from the numbers."""
    yes = {True: "yes", False: "**no**"}
    worst = max(d.kl_per_token.high for d in doc.documents)
    overlap = [r.n_shots for r in doc.shots if all(_overlap(m.vs_label, r.p.vs_label) for m in r.models)]
    apart = [r.n_shots for r in doc.shots if r.n_shots not in overlap]
    closer = all(m.kl_from_p.high < m.kl_from_qn.low for r in doc.shots for m in r.models)
    flipped = all(r.qn.vs_bayes.correct == 0 for r in doc.shots)
    below = [r.n_shots for r in doc.shots if r.qn.vs_label.accuracy <= doc.chance]
    per_tok = qn_per_token(doc)
    certified_closer = [
        r.n_shots
        for r, e in zip(doc.shots, per_tok, strict=True)
        if all(e < model_prefix_kl(doc, i, r.prompt_length + 1) for i in range(len(doc.documents)))
    ]
    last = doc.shots[-1]
    return [
        f"- Distance to the Bayes predictor: the largest upper 95 % end of a seed's KL per token is {worst:.4f} nats "
        f"(cross-entropy above the exact floor by the same amount, up to sampling).",
        f"- The models' ICL accuracy against GINC's label overlaps p's (Wilson intervals, every seed) at shots "
        f"{', '.join(map(str, overlap)) or 'none'}"
        + (f"; **not** at shots {', '.join(map(str, apart))}." if apart else " — every shot count."),
        f"- At the answer position every seed is closer to p than to q_n (KL intervals disjoint) at every shot count: "
        f"{yes[closer]}.",
        f"- q_n's argmax differs from the Bayes argmax on every prompt, at every shot count: {yes[flipped]}; its accuracy "
        f"against the label is at or below chance ({100 * doc.chance:.1f} %) at shots "
        f"{', '.join(map(str, below)) or 'none'} ({100 * last.qn.vs_label.accuracy:.1f} % at {last.n_shots} shots).",
        (
            f"- q_n's certified KL(p‖q_n) per token (over strings of length L_n + 1) is below every seed's measured KL "
            "per token over the same first L_n + 1 positions (the mean of its per-position lower 95 % ends) at shots "
            f"{', '.join(map(str, certified_closer))}: there q_n is closer to p than the trained models are, yet its "
            "in-context answers are wrong."
            if certified_closer
            else "- At no shot count is q_n's certified KL(p‖q_n) per token below the trained models' measured KL per "
            "token over the same first L_n + 1 positions."
        ),
    ]


def render_markdown(doc: IclReport) -> str:
    """The report: a pure function of the JSON document (read back with :meth:`IclReport.from_dict`)."""
    cfg = doc.config
    g, m, t, e = cfg["ginc"], cfg["model"], cfg["train"], cfg["eval"]
    prov = doc.provenance
    lines = [
        "# In-context learning: trained transformers against the exact Bayes predictor and q_n",
        "",
        f"Generated by `nonident reproduce icl --preset {doc.preset}` — do not edit. "
        f"Commit `{prov.get('commit')}`{' (dirty)' if prov.get('dirty') else ''}, {prov.get('date')}, "
        f"torch {prov['versions'].get('torch')}, device {doc.device}; training {doc.train_seconds:.0f} s, "
        f"exact evaluation {doc.eval_seconds:.0f} s.",
        "",
        f"Mixture (GINC structure, arXiv 2405.01964 §4.2 and Appendix C): {g['n_concepts']} concepts, "
        f"{g['n_values']} values × {g['n_slots']} slots, {g['n_symbols']} symbols (delimiter 0), transition "
        f"temperature {g['transition_temp']}, emission smoothing {g['emission_smoothing']}, seed {g['seed']}. "
        f"Model: pre-LN transformer, width {m['d_model']}, {m['n_heads']} heads, feed-forward {m['d_ff']}, "
        f"{m['n_layers']} layers, dropout {m['dropout']}; vocabulary = symbols + BOS. Training: AdamW lr {t['lr']} "
        f"(warm-up {t['warmup']}, cosine), {t['steps']} steps of {t['batch_size']} fresh documents of "
        f"{t['doc_length']} tokens per seed, seeds {', '.join(map(str, t['seeds']))}. Evaluation: "
        f"{e['n_docs']} held-out documents; {e['n_prompts']} GINC prompts with k = {e['k']} per shot count.",
        "",
        "## Distance to the Bayes predictor (held-out documents, nats per token, 95 % intervals over documents)",
        "",
        "| seed | KL(p ‖ model) per token | model cross-entropy | exact floor (Bayes log-loss) | excess |",
        "|---|---|---|---|---|",
    ]
    for d in doc.documents:
        lines.append(
            f"| {d.seed} | {_iv(d.kl_per_token)} | {_iv(d.model_ce)} | {_iv(d.floor_ce)} | {_iv(d.excess_ce)} |"
        )
    lines += [
        "",
        "## In-context accuracy (%, 95 % Wilson intervals) and KL at the answer position",
        "",
        "| shots | p vs label | q_n vs label | q_n vs Bayes argmax | certified KL(p‖q_n) ≤ (per token) |"
        + "".join(
            f" seed {d.seed} vs label | seed {d.seed} vs Bayes | seed {d.seed} KL from p / from q_n |"
            for d in doc.documents
        ),
        "|---|---|---|---|---|" + "---|---|---|" * len(doc.documents),
    ]
    for r, per in zip(doc.shots, qn_per_token(doc), strict=True):
        row = (
            f"| {r.n_shots} | {_acc(r.p.vs_label)} | {_acc(r.qn.vs_label)} | {_acc(r.qn.vs_bayes)} "
            f"| {r.qn_kl_upper_text} ({per:.2e}) |"
        )
        for s in r.models:
            row += f" {_acc(s.vs_label)} | {_acc(s.vs_bayes)} | {s.kl_from_p.mean:.3f} / {s.kl_from_qn.mean:.3f} |"
        lines.append(row)
    lines += ["", "## Findings", "", *findings(doc), ""]
    lines += [
        f"![ICL accuracy and KL to the Bayes predictive]({'icl'}.png)",
        "",
        "*Figure.* (a) Accuracy against GINC's label by shot count: each seed, p (the Bayes predictor) and q_n, "
        f"with Wilson intervals; dotted: chance (uniform over the {g['n_symbols'] - 1} non-delimiter symbols)"
        + ("; hollow markers: GINC's published numbers." if doc.published else ".")
        + " (b) KL(p ‖ model) at each position of the held-out documents (log scale, mean and 95 % band). "
        "(c) Exact KL per token on the validation documents along training.",
        "",
        "Definitions. KL per token: the mean over positions of Σ_y p(y | x_<t) log(p(y | x_<t) / model(y | x_<t)), "
        "with p the exact Bayes predictive of the mixture (forward algorithm per concept, posterior over concepts) "
        "and the model's full softmax in float64. Exact floor: −(1/T) log p(x) of each document. "
        "q_n swaps the two most likely answers of p on every n-shot prompt (ties kept); its certified bound is "
        "P_p(S_n) · ln(1/β) in ball arithmetic (β the smallest emission probability), a bound on KL over strings of "
        "length L_n + 1 (per token: divided by L_n + 1), compared with each seed's measured KL over the first "
        "L_n + 1 positions of the documents (the mean of its per-position lower 95 % ends). Chance = 1/(symbols − 1).",
    ]
    if doc.published:
        pub = doc.published
        lines += [
            "",
            f"## GINC's published numbers (k = {pub['k']}, {pub['source']})",
            "",
            "| model | 0 shots % | 64 shots % |",
            "|---|---|---|",
            *[f"| {name} | {v[0]} | {v[1]} |" for name, v in pub["accuracy_percent"].items()],
        ]
    return "\n".join(lines) + "\n"


_SEED_COLOURS = ("#1A85FF", "#FF8C00", "#8E44AD", "#16A085", "#7F8C8D")


def render_figure(doc: IclReport) -> bytes:
    """The PNG: (a) accuracy against shots, (b) KL against position, (c) KL along training."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 4.2))
    FigureCanvasAgg(fig)
    ax, bx, cx = fig.subplots(1, 3)
    shots = np.array([r.n_shots for r in doc.shots])
    x = np.arange(len(shots))

    def curve(accs: list[Accuracy], label: str, colour: str, style: str, offset: float) -> None:
        y = np.array([100 * a.accuracy for a in accs])
        err = np.array([[100 * (a.accuracy - a.low) for a in accs], [100 * (a.high - a.accuracy) for a in accs]])
        ax.errorbar(x + offset, y, yerr=err, fmt=style, color=colour, label=label, capsize=3, lw=1.2, ms=4)

    curve([r.p.vs_label for r in doc.shots], "p (Bayes)", "k", "-o", 0.0)
    curve([r.qn.vs_label for r in doc.shots], "q_n", "#D0021B", "-s", 0.04)
    for i, d in enumerate(doc.documents):
        colour = _SEED_COLOURS[i % len(_SEED_COLOURS)]
        curve([r.models[i].vs_label for r in doc.shots], f"model seed {d.seed}", colour, "--^", -0.04 * (i + 1))
    ax.axhline(100 * doc.chance, color="grey", ls=":", lw=1, label="chance")
    if doc.published:
        pub = doc.published
        for name, (y0, y1) in pub["accuracy_percent"].items():
            where = [x[list(shots).index(s)] for s in pub["shots"] if s in shots]
            if len(where) == 2:
                ax.plot(where, [y0, y1], ":", marker="o", mfc="none", lw=0.8, label=f"GINC {name}")
    ax.set_xticks(x, [str(s) for s in shots])
    ax.set_xlabel("shots n")
    ax.set_ylabel("accuracy vs GINC label [%]")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    ax.set_title(f"(a) in-context accuracy, k = {doc.config['eval']['k']}")
    for i, d in enumerate(doc.documents):
        colour = _SEED_COLOURS[i % len(_SEED_COLOURS)]
        t = np.arange(1, len(d.kl_curve) + 1)
        bx.plot(t, d.kl_curve, color=colour, lw=1.2, label=f"seed {d.seed}")
        bx.fill_between(t, np.maximum(d.kl_curve_low, 1e-12), d.kl_curve_high, color=colour, alpha=0.2)
    bx.set_yscale("log")
    bx.set_xlabel("position t")
    bx.set_ylabel("KL(p(·|x<t) ‖ model(·|x<t)) [nats]")
    bx.legend(fontsize=8)
    bx.set_title("(b) distance to the Bayes predictive")
    steps = [h.step for h in doc.history]
    for i, d in enumerate(doc.documents):
        cx.plot(
            steps,
            [h.kl_per_token[i] for h in doc.history],
            "-o",
            ms=3,
            color=_SEED_COLOURS[i % len(_SEED_COLOURS)],
            label=f"seed {d.seed}",
        )
    cx.set_yscale("log")
    cx.set_xlabel("step")
    cx.set_ylabel("KL per token, validation documents [nats]")
    cx.legend(fontsize=8)
    cx.set_title("(c) along training")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()
