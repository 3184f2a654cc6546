"""``nonident train anbn``, ``nonident evaluate RUN_DIR`` and ``nonident reproduce rule-extrapolation|icl|finetunability``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from exact.core.artifacts import DEFAULT_REPORT_DIR, check_writable_dir
from exact.core.cli import CliError, add_device_flag, add_json_flag, add_out_flag, command_main, print_json
from learned.rule_extrapolation.config import PRESETS, VARIANTS, parse_seeds, preset

__all__ = ["EXPERIMENTS", "add_parsers", "main"]

#: What ``nonident reproduce`` runs: case study 1 (rule extrapolation), 2 (in-context learning) and 3
#: (fine-tunability).
EXPERIMENTS = ("rule-extrapolation", "icl", "finetunability")
#: Every preset name of some experiment (each experiment checks its own).
REPRODUCE_PRESETS = ("cpu", "paper", "ginc", "tiny")


def _overrides(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--set expects section.key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _common(p: argparse.ArgumentParser, presets: tuple[str, ...] = tuple(PRESETS), help_text: str = "") -> None:
    p.add_argument(
        "--preset",
        default="cpu",
        choices=presets,
        help=help_text
        or "cpu: N = 16, small pre-LN model, minutes on a laptop; paper: the official sizes (GPU); "
        "tiny: a smoke test (default cpu)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config field, e.g. --set model.norm_first=false --set train.steps=500",
    )
    add_device_flag(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _run_train(args: argparse.Namespace) -> int:
    from learned.rule_extrapolation.train import train

    if args.language != "anbn":
        raise CliError(f"language must be anbn, got {args.language!r}")
    over = _overrides(args.set)
    for key, value in (("train.variant", args.variant), ("train.seeds", args.seeds)):
        if value is not None:
            if key in over:
                raise CliError(f"give {key} once: --{key.split('.')[1]} or --set {key}=…, not both")
            over[key] = parse_seeds(value) if key == "train.seeds" else value
    cfg = preset(args.preset, **over)
    out = Path(args.out) if args.out else Path("runs") / f"anbn-{args.preset}-{cfg.train.variant}"
    check_writable_dir(out, "--out")
    args.on_interrupt = lambda: _resume_hint(out)
    result = train(cfg, out, device=args.device, resume=not args.restart, progress=not args.no_progress)
    last = result.history[-1] if result.history else None
    if args.json:
        print_json(
            {
                "run_dir": str(out),
                "steps": result.steps,
                "seconds": result.seconds,
                "last": last.as_dict() if last is not None else None,
            }
        )
    else:
        print(
            f"{out}: {result.steps} steps in {result.seconds:.0f} s; last exact KL per token "
            + ", ".join(f"{x:.2e}" for x in (last.kl_per_token if last is not None else ()))
        )
        print(f"next: nonident evaluate {out}")
    return 0


def _resume_hint(run_dir: Path) -> str:
    """What Ctrl-C leaves: a checkpoint to resume from (the same command continues it), or nothing."""
    if (run_dir / "checkpoint.pt").exists():
        return f"the run can be resumed with the same command (from {run_dir / 'checkpoint.pt'})"
    return "no checkpoint had been written yet, so nothing was kept"


def _run_evaluate(args: argparse.Namespace) -> int:
    from learned.rule_extrapolation.evaluate import evaluate_run

    result = evaluate_run(args.run_dir, which=args.which, device=args.device)
    if args.json:
        print_json(result.as_dict())
        return 0
    s = result.summary
    print(f"{args.run_dir}: variant {result.variant}, {len(result.per_seed)} seed(s), {args.which} checkpoint")
    print(
        f"{'seed':>5} {'step':>6} {'KL/token':>10} {'R1 fin %':>9} {'R1 all %':>9} {'fin %':>6} {'P(R1) interval %':>20}"
    )
    for r in result.per_seed:
        e = r.extrapolation
        print(
            f"{r.seed:>5} {r.selected_step:>6} {r.exact.kl_per_token:>10.2e} "
            f"{100 * r.ood.finished.r1:>9.1f} {100 * r.ood.finished_over_all.r1:>9.1f} "
            f"{100 * r.ood.all.finished:>6.1f} [{100 * e.r1_lower:.2f}, {100 * e.r1_upper:.2f}]"
        )
    print(
        f"mean  KL/token {s.kl_per_token.mean:.2e}; OOD R1 finished {100 * s.ood_r1_finished.mean:.1f} "
        f"± {100 * s.ood_r1_finished.std:.1f} %; written to {Path(args.run_dir) / 'evaluation.json'}"
    )
    return 0


def _reproduce_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "runs": args.runs,
        "reports": args.out,
        "device": args.device,
        "progress": not args.no_progress,
        "overrides": _overrides(args.set),
    }


def _run_finetunability(args: argparse.Namespace) -> int:
    from learned.finetunability.config import PRESETS as FT_PRESETS
    from learned.finetunability.report import render_markdown
    from learned.finetunability.reproduce import reproduce_finetunability

    if args.preset not in FT_PRESETS:
        raise CliError(f"--preset must be one of {', '.join(FT_PRESETS)} for finetunability, got {args.preset!r}")
    report = reproduce_finetunability(args.preset, **_reproduce_options(args))
    if args.json:
        print_json({k: v for k, v in report.as_dict().items() if k != "curves"})
    else:
        print(render_markdown(report))
    return 0


def _run_icl(args: argparse.Namespace) -> int:
    from learned.icl.config import PRESETS as ICL_PRESETS
    from learned.icl.report import render_markdown
    from learned.icl.reproduce import reproduce_icl

    if args.preset not in ICL_PRESETS:
        raise CliError(f"--preset must be one of {', '.join(ICL_PRESETS)} for icl, got {args.preset!r}")
    report = reproduce_icl(args.preset, **_reproduce_options(args))
    if args.json:
        print_json({k: v for k, v in report.as_dict().items() if k not in ("documents", "history")})
    else:
        print(render_markdown(report))
    return 0


def _run_reproduce(args: argparse.Namespace) -> int:
    from learned.rule_extrapolation.reproduce import render_markdown, reproduce_rule_extrapolation

    if args.experiment not in EXPERIMENTS:
        raise CliError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {args.experiment!r}")
    args.on_interrupt = lambda: (
        f"the run can be resumed with the same command (finished arms and checkpoints under {args.runs} are kept)"
    )
    if args.experiment == "finetunability":
        return _run_finetunability(args)
    if args.experiment == "icl":
        return _run_icl(args)
    if args.preset not in PRESETS:
        raise CliError(f"--preset must be one of {', '.join(PRESETS)} for rule-extrapolation, got {args.preset!r}")
    report = reproduce_rule_extrapolation(args.preset, **_reproduce_options(args))
    if args.json:
        print_json(
            {k: v for k, v in report.as_dict().items() if k != "variants"}
            | {"summary": {v: arm.evaluation.summary.as_dict() for v, arm in report.variants.items()}}
        )
    else:
        print(render_markdown(report))
    return 0


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train transformers on aⁿbⁿ (several seeds batched in one process)",
        description="Train one seed-batched run of a variant; resumes from RUN_DIR/checkpoint.pt.",
    )
    p.add_argument("language", help="the training language (anbn)")
    p.add_argument(
        "--variant",
        default=None,
        choices=VARIANTS,
        help="ml (maximum likelihood, the default), adversarial or oracle (completion losses; "
        "--set train.completion_loss=corrected for the corrected one)",
    )
    p.add_argument("--seeds", default=None, help="seeds, e.g. 0-2 or 1,5,7 (default: the preset's)")
    add_out_flag(p, default=None, help="run directory (default runs/anbn-PRESET-VARIANT)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    add_json_flag(p)
    _common(p)
    p.set_defaults(run=_run_train)

    p = sub.add_parser(
        "evaluate",
        help="exact KL, official R1/R2 metrics and certified extrapolation of a run",
        description="Evaluate every seed of a finished run; writes RUN_DIR/evaluation.json.",
    )
    p.add_argument("run_dir", help="a run directory written by nonident train")
    p.add_argument(
        "--which",
        default="best",
        choices=("best", "final"),
        help="parameters at the minimal exact test loss (official selection) or the final ones",
    )
    add_device_flag(p)
    add_json_flag(p)
    p.set_defaults(run=_run_evaluate)

    p = sub.add_parser(
        "reproduce",
        help="reproduce an experiment end to end and write its report",
        description="rule-extrapolation: train ml/adversarial/oracle, evaluate, write "
        "OUT/rule-extrapolation.{md,json,png} and the selected models. finetunability: pretrain, "
        "reparametrise function-preservingly, prove equality, fine-tune with SGD and AdamW, write "
        "OUT/finetunability.{md,json,png} and the models (presets cpu, tiny; --set finetune.KEY=VALUE). "
        "icl: train on documents of a GINC mixture, measure the exact KL to the Bayes predictor and the "
        "in-context accuracy of the models, p and q_n, write OUT/icl.{md,json,png} and the models (presets "
        "cpu, ginc (GPU), tiny; --set ginc.KEY=VALUE, eval.k=10, …).",
    )
    p.add_argument("experiment", help="rule-extrapolation, icl or finetunability")
    p.add_argument("--runs", default="runs", help="where run directories go (default runs)")
    add_out_flag(
        p,
        default=DEFAULT_REPORT_DIR,
        help=f"report directory (default {DEFAULT_REPORT_DIR}; the committed ones: --out reports)",
    )
    add_json_flag(p, help="print JSON instead of the report")
    _common(
        p,
        REPRODUCE_PRESETS,
        "cpu: minutes on a laptop (every experiment); paper: rule-extrapolation's official sizes (GPU); "
        "ginc: icl at GINC's sizes (GPU); tiny: a smoke test (default cpu)",
    )
    p.set_defaults(run=_run_reproduce)


def main(argv: list[str] | None = None) -> int:
    """``python -m learned.cli train|evaluate|reproduce …`` is ``nonident train|evaluate|reproduce …``."""
    return command_main(add_parsers, argv)


if __name__ == "__main__":
    raise SystemExit(main())
