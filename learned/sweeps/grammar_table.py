"""The rule-extrapolation table across the grammar library: one row per grammar and arm.

Gathered from the run directories of a sweep (each job's ``evaluation.json``) and written as
``reports/rule-extrapolation-grammars.{md,json}`` (:func:`write_grammar_table`); the markdown is a
pure function of the JSON. Per grammar and arm, mean ± sample std over seeds of:

* the exact KL per padded target between the training law and the model (test loss − floor);
* greedy OOD R1 accuracy over finished completions (the follow-up study's headline number) and
  over all prompts (unfinished ones count as failures);
* the certified interval of the model's exact probability of completing an OOD prompt with R1;

beside the follow-up study's transformers (Mészáros et al. 2024; OOD R1 over finished
completions, mean ± std over its committed runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exact.core.artifacts import dumps_strict, provenance, read_json, write_report_set
from exact.core.records import Record
from learned.rule_extrapolation.results import LanguageRunEvaluation, MeanStd, RunEvaluation
from learned.sweeps.spec import GRAMMARS, Job, SweepSpec

__all__ = ["FOLLOW_UP_R1", "GrammarRow", "GrammarTable", "grammar_table", "render_markdown", "write_grammar_table"]

STEM = "rule-extrapolation-grammars"
#: The follow-up study's transformers: OOD R1 over finished completions, mean ± std (runs), its result files.
FOLLOW_UP_R1: dict[str, tuple[float, float, int, str]] = {
    "anbn": (65.7, 16.2, 268, "aNbN"),
    "anbncn": (18.7, 8.5, 10, "aNbNcN"),
    "dyck2": (98.0, 9.0, 46, "Dyck"),
    "not_nested": (98.0, 4.5, 5, "cs-Dyck"),
}


@dataclass(frozen=True)
class GrammarRow(Record, at="grammar row"):
    """One grammar and arm, over its seeds (see the module docstring)."""

    grammar: str
    law: str
    arm: str
    seeds: tuple[int, ...]
    n_ood: int
    truncated_mass: float
    floor: float
    kl_per_token: MeanStd
    ood_r1_finished: MeanStd
    ood_r1_all: MeanStd
    ood_finished: MeanStd
    r1_probability_lower: MeanStd
    r1_probability_upper: MeanStd
    run_dir: str


@dataclass(frozen=True)
class GrammarTable(Record, at="grammar table"):
    """``reports/rule-extrapolation-grammars.json``."""

    preset: str
    sweep: dict[str, Any]
    rows: tuple[GrammarRow, ...]
    provenance: dict[str, Any]


def _row(job: Job) -> GrammarRow:
    doc = read_json(Path(job.run_dir) / "evaluation.json", "run evaluation")
    if job.grammar == "anbn":
        ev = RunEvaluation.from_dict(doc, at=f"{job.run_dir}/evaluation.json")
        seeds = tuple(r.seed for r in ev.per_seed)
        per = [
            (
                r.exact.kl_per_token,
                r.ood.finished.r1,
                r.ood.finished_over_all.r1,
                r.ood.all.finished,
                r.extrapolation.r1_lower,
                r.extrapolation.r1_upper,
            )
            for r in ev.per_seed
        ]
        law, n_ood, mass, floor = job.config["data"]["law"], ev.n_ood, 0.0, ev.per_seed[0].exact.floor
    else:
        lv = LanguageRunEvaluation.from_dict(doc, at=f"{job.run_dir}/evaluation.json")
        seeds = tuple(r.seed for r in lv.per_seed)
        per = [
            (r.exact.kl_per_token, r.ood_r1_finished, r.ood_r1_all, r.ood_finished, r.r1_lower, r.r1_upper)
            for r in lv.per_seed
        ]
        first = lv.per_seed[0]
        law, n_ood, mass, floor = lv.law, first.n_ood, first.truncated_mass, first.exact.floor
    kl, r1f, r1a, fin, lo, hi = (MeanStd.of([p[i] for p in per]) for i in range(6))
    return GrammarRow(
        grammar=job.grammar,
        law=law,
        arm=job.arm,
        seeds=seeds,
        n_ood=n_ood,
        truncated_mass=mass,
        floor=floor,
        kl_per_token=kl,
        ood_r1_finished=r1f,
        ood_r1_all=r1a,
        ood_finished=fin,
        r1_probability_lower=lo,
        r1_probability_upper=hi,
        run_dir=job.run_dir,
    )


def grammar_table(spec: SweepSpec) -> GrammarTable:
    """The table of the finished jobs of ``spec`` (every job must have its ``evaluation.json``)."""
    rows = tuple(_row(j) for j in spec.jobs())
    return GrammarTable(spec.preset, spec.as_dict(), rows, provenance(spec.as_dict()))


def _pm(s: MeanStd, digits: int = 1) -> str:
    return f"{100 * s.mean:.{digits}f} ± {100 * s.std:.{digits}f}"


def _command(table: GrammarTable) -> str:
    """How the table was made: the one-flag command where the sweep is exactly that, else its fields."""
    sw = table.sweep
    grammars = ",".join(sw["grammars"])
    flag = "all" if tuple(sw["grammars"]) == GRAMMARS else grammars
    cmd = f"`nonident reproduce rule-extrapolation --grammar {flag} --preset {table.preset}`"
    extra = {k: sw[k] for k in ("arms", "seeds", "overrides") if sw.get(k)}
    return cmd if not extra else f"{cmd} restricted to {dumps_strict(extra, indent=None)} (a sweep file)"


def render_markdown(table: GrammarTable) -> str:
    """The report: a pure function of the JSON document."""
    prov = table.provenance
    lines = [
        "# Rule extrapolation across the grammar library: exact loss, greedy R1 and its certified probability",
        "",
        f"Generated by {_command(table)} — do not edit.",
        f"Commit `{prov.get('commit')}`{' (dirty)' if prov.get('dirty') else ''}, {prov.get('date')}, "
        f"torch {prov['versions'].get('torch')}.",
        "",
        "Each row is one seed-batched run (seeds "
        f"{', '.join(map(str, table.rows[0].seeds))}), evaluated at each seed's minimal exact test loss. "
        "KL: exact KL(p‖q) per padded target between the training law and the model. R1: greedy OOD "
        "completions satisfying the grammar's rule R1, over finished completions and over all prompts. "
        "P(R1): the certified interval of the model's exact probability of ending an OOD completion with R1 "
        "(mean over prompts and seeds). Mean ± sample std over seeds.",
        "",
        "| grammar (law) | arm | OOD prompts | KL per token | OOD R1 %, finished | OOD R1 %, all | finished % "
        "| P(R1) % (certified) | follow-up transformers, OOD R1 % finished |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.rows:
        ref = FOLLOW_UP_R1.get(r.grammar)
        follow = f"{ref[0]:.1f} ± {ref[1]:.1f} ({ref[2]} runs, {ref[3]})" if ref and r.arm == "ml" else ""
        trunc = rf", P(\|w\| > L) = {r.truncated_mass:.3f}" if r.truncated_mass > 0 else ""  # \| inside a cell
        lines.append(
            f"| {r.grammar} ({r.law}{trunc}) | {r.arm} | {r.n_ood} | {r.kl_per_token.mean:.2e} ± "
            f"{r.kl_per_token.std:.1e} | {_pm(r.ood_r1_finished)} | {_pm(r.ood_r1_all)} | {_pm(r.ood_finished)} "
            f"| [{100 * r.r1_probability_lower.mean:.1f}, {100 * r.r1_probability_upper.mean:.1f}] | {follow} |"
        )
    lines += ["", *_findings(table), ""]
    lines += [
        "The training law of a library language is its exact law conditioned on words of at most "
        "`data.word_length` symbols (the mass removed, P(|w| > L), is shown where it is not 0; the official "
        "laws are finite). aⁿbⁿ rows are the runs of `nonident reproduce rule-extrapolation` (official "
        "metrics over the whole sequence); the others use the library's rules, prompt classes, completers and "
        "breakers (docs/grammars.md §6, docs/sweeps.md). The follow-up study trained larger transformers for "
        "many more steps on sampled data; its numbers are beside ours for orientation, not as a replication.",
    ]
    return "\n".join(lines) + "\n"


def _findings(table: GrammarTable) -> list[str]:
    """Sentences computed from the numbers."""
    by = {(r.grammar, r.arm): r for r in table.rows}
    kl = max(r.kl_per_token.mean for r in table.rows)
    worst = max(table.rows, key=lambda r: r.kl_per_token.mean)
    out = [f"- Largest mean exact KL per token: {kl:.2e} nats ({worst.grammar}, {worst.arm})."]
    grammars = list(dict.fromkeys(r.grammar for r in table.rows))
    for g in grammars:
        arms = {a: by[(g, a)] for a in ("ml", "adversarial-corrected", "oracle-corrected") if (g, a) in by}
        if len(arms) < 2:
            continue
        spread = {a: r.ood_r1_finished.mean for a, r in arms.items()}
        kls = [r.kl_per_token.mean for r in arms.values()]
        lo, hi = min(spread, key=spread.__getitem__), max(spread, key=spread.__getitem__)
        span = (
            f"{100 * spread[lo]:.0f} % in every arm"
            if round(100 * spread[lo]) == round(100 * spread[hi])
            else f"from {100 * spread[lo]:.0f} % ({lo}) to {100 * spread[hi]:.0f} % ({hi})"
        )
        out.append(f"- {g}: KL per token {min(kls):.1e}–{max(kls):.1e} across arms, OOD R1 (finished) {span}.")
    return out


def write_grammar_table(table: GrammarTable, out_dir: str | Path) -> list[Path]:
    """Write ``{out_dir}/rule-extrapolation-grammars.{md,json}`` (and its manifest) as one set."""
    return write_report_set(
        out_dir,
        STEM,
        {
            f"{STEM}.json": dumps_strict(table.as_dict(), indent=1, ensure_ascii=True).encode("utf-8"),
            f"{STEM}.md": render_markdown(table).encode("utf-8"),
        },
    )
