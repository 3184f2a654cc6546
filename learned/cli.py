"""``nonident train anbn``, ``nonident evaluate RUN_DIR``, ``nonident reproduce rule-extrapolation|icl|finetunability`` and ``nonident sweep FILE``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from exact.core.artifacts import DEFAULT_REPORT_DIR, check_writable_dir
from exact.core.cli import CliError, add_device_flag, add_json_flag, add_out_flag, command_main, print_json
from exact.core.validate import InputError
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


def _run_language_evaluate(args: argparse.Namespace) -> int:
    """``nonident evaluate`` of a run on a library language (docs/sweeps.md §5)."""
    from learned.rule_extrapolation.evaluate import evaluate_language_run

    if args.which != "best":
        raise CliError(f"--which {args.which}: a run on a library language is evaluated at its best checkpoint only")
    result = evaluate_language_run(args.run_dir, device=args.device)
    if args.json:
        print_json(result.as_dict())
        return 0
    print(f"{args.run_dir}: {result.language} ({result.law}), variant {result.variant}, {len(result.per_seed)} seed(s)")
    print(
        f"{'seed':>5} {'step':>6} {'KL/token':>10} {'R1 fin %':>9} {'R1 all %':>9} {'fin %':>6} {'P(R1) interval %':>20}"
    )
    for r in result.per_seed:
        print(
            f"{r.seed:>5} {r.selected_step:>6} {r.exact.kl_per_token:>10.2e} {100 * r.ood_r1_finished:>9.1f} "
            f"{100 * r.ood_r1_all:>9.1f} {100 * r.ood_finished:>6.1f} [{100 * r.r1_lower:.2f}, {100 * r.r1_upper:.2f}]"
        )
    print(f"written to {Path(args.run_dir) / 'evaluation.json'}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from exact.core.artifacts import read_json
    from learned.rule_extrapolation.evaluate import evaluate_run

    config = Path(args.run_dir) / "config.json"
    if config.is_file():
        language = read_json(config, "run config").get("config", {}).get("data", {}).get("language", "anbn")
        if language != "anbn":
            return _run_language_evaluate(args)
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


#: Library parameter names → the flags that set them (errors raised deep down name the flag).
SWEEP_FLAGS = {
    "workers": "--workers",
    "cpus_per_job": "--cpus-per-job",
    "gpus_per_job": "--gpus-per-job",
    "backend": "--backend",
}


def _add_sweep_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sweep (docs/sweeps.md)")
    g.add_argument(
        "--backend",
        default="local",
        choices=("local", "ray"),
        help="local: this machine, jobs one after another or in a --workers process pool (default); "
        "ray: each job a Ray task (pip install 'nonident[ray]')",
    )
    g.add_argument(
        "--workers", type=int, default=1, help="local backend: jobs at once, each its own process (default 1)"
    )
    g.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to submit to (default $RAY_ADDRESS, else a Ray instance started on this machine)",
    )
    g.add_argument(
        "--cpus-per-job", type=int, default=1, help="CPUs (torch threads) per job in a pool or on Ray (default 1)"
    )
    g.add_argument("--gpus-per-job", type=float, default=0.0, help="GPUs per Ray task, e.g. 1 or 0.25 (default 0)")
    g.add_argument("--retries", type=int, default=None, help="tries again a failed job this many times (default 1)")


def _sweep(args: argparse.Namespace, spec: Any) -> int:
    """Run ``spec`` with the sweep flags, write its reports; a job that failed for good → exit 1."""
    from learned.sweeps.reproduce import sweep_and_report

    if args.backend != "ray":
        for flag, given in (("--ray-address", args.ray_address is not None), ("--gpus-per-job", args.gpus_per_job)):
            if given:
                raise CliError(f"{flag} applies to --backend ray only (the local backend would ignore it)")
    elif args.workers != 1:
        raise CliError("--workers applies to --backend local only (Ray runs as many jobs as the cluster has room for)")
    args.flag_names = SWEEP_FLAGS
    args.on_interrupt = lambda: (
        f"run the same command again: finished jobs under {spec.runs} are skipped, interrupted ones resume"
    )
    result = sweep_and_report(
        spec,
        reports=args.out,
        backend=args.backend,
        workers=args.workers,
        device=args.device,
        ray_address=args.ray_address,
        cpus_per_job=args.cpus_per_job,
        gpus_per_job=args.gpus_per_job,
        log=(lambda line: print(line, file=sys.stderr)) if args.json else print,
    )
    o = result.outcome
    if args.json:
        print_json(
            {
                "done": list(o.done),
                "skipped": list(o.skipped),
                "failed": o.failed,
                "seconds": o.seconds,
                "startup_seconds": o.startup_seconds,
                "written": [str(p) for p in result.written],
            }
        )
    else:
        for path in result.written:
            print(f"wrote {path}")
        print(
            f"sweep: {len(o.done)} job(s) done, {len(o.skipped)} skipped, {len(o.failed)} failed "
            f"in {o.seconds:.0f} s ({args.backend} start-up {o.startup_seconds:.1f} s)"
        )
    if o.failed:
        print(
            f"{len(o.failed)} job(s) failed: {', '.join(o.failed)}; no report written. Fix the cause and run "
            "the same command again (finished jobs are kept).",
            file=sys.stderr,
        )
        return 1
    return 0


def _grammars(value: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in value.split(",") if x.strip())
    if not names:
        raise CliError(f"--grammar expects anbn, all or a comma-separated list of grammars, got {value!r}")
    return names


def _sweep_flags_given(args: argparse.Namespace) -> list[str]:
    """The sweep flags of ``nonident reproduce`` set to other than their defaults (→ run as a sweep)."""
    given = [
        ("--grammar", _grammars(args.grammar) != ("anbn",)),
        ("--backend", args.backend != "local"),
        ("--workers", args.workers != 1),
        ("--ray-address", args.ray_address is not None),
        ("--cpus-per-job", args.cpus_per_job != 1),
        ("--gpus-per-job", args.gpus_per_job != 0.0),
        ("--retries", args.retries is not None),
    ]
    return [flag for flag, on in given if on]


def _run_sweep_file(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from learned.sweeps.spec import read_sweep

    spec = read_sweep(args.file)
    if args.runs is not None:  # the flag wins over the file's field
        spec = replace(spec, runs=args.runs)
    if args.retries is not None:
        spec = _with_retries(spec, args.retries)
    return _sweep(args, spec)


def _with_retries(spec: Any, retries: int) -> Any:
    from dataclasses import replace

    try:
        return replace(spec, retries=retries)
    except InputError as exc:
        raise CliError(str(exc).replace("sweep field 'retries'", "--retries")) from None


def _run_reproduce(args: argparse.Namespace) -> int:
    from learned.rule_extrapolation.reproduce import render_markdown, reproduce_rule_extrapolation

    if args.experiment not in EXPERIMENTS:
        raise CliError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {args.experiment!r}")
    args.on_interrupt = lambda: (
        f"the run can be resumed with the same command (finished arms and checkpoints under {args.runs} are kept)"
    )
    sweep_flags = _sweep_flags_given(args)
    if args.experiment != "rule-extrapolation" and sweep_flags:
        raise CliError(f"{sweep_flags[0]} applies to rule-extrapolation only, not to {args.experiment}")
    if args.experiment == "finetunability":
        return _run_finetunability(args)
    if args.experiment == "icl":
        return _run_icl(args)
    if args.preset not in PRESETS:
        raise CliError(f"--preset must be one of {', '.join(PRESETS)} for rule-extrapolation, got {args.preset!r}")
    if sweep_flags:
        grammars = _grammars(args.grammar)
        from learned.sweeps.spec import SweepSpec

        over = _overrides(args.set)
        try:
            spec = SweepSpec(preset=args.preset, grammars=grammars, runs=args.runs, overrides=over)
        except InputError as exc:
            raise CliError(str(exc).replace("sweep field 'grammars'", "--grammar")) from None
        return _sweep(args, spec if args.retries is None else _with_retries(spec, args.retries))
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
    p.add_argument(
        "--grammar",
        default="anbn",
        help="rule-extrapolation: anbn (the paper's experiment, default), all (aⁿbⁿ and every language of "
        "the grammar library, writing OUT/rule-extrapolation-grammars.{md,json}) or a list such as anbn,dyck2",
    )
    _add_sweep_flags(p)
    p.set_defaults(run=_run_reproduce)

    p = sub.add_parser(
        "sweep",
        help="run a sweep file (grammars × arms × seeds) locally or on Ray, resumably, and write its reports",
        description="Run the jobs of a TOML sweep file (docs/sweeps.md): each a seed-batched training and "
        "its exact evaluation in its own run directory. Finished jobs are skipped, interrupted ones resume; "
        "once all have finished the reports are written to --out.",
    )
    p.add_argument("file", help="the sweep file (TOML)")
    p.add_argument("--runs", default=None, help="where run directories go (overrides the file's runs; default runs)")
    add_out_flag(p, default=DEFAULT_REPORT_DIR, help=f"report directory (default {DEFAULT_REPORT_DIR})")
    add_json_flag(p, help="print a JSON summary on stdout (progress goes to stderr)")
    add_device_flag(p)
    _add_sweep_flags(p)
    p.set_defaults(run=_run_sweep_file)


def main(argv: list[str] | None = None) -> int:
    """``python -m learned.cli train|evaluate|reproduce …`` is ``nonident train|evaluate|reproduce …``."""
    return command_main(add_parsers, argv)


if __name__ == "__main__":
    raise SystemExit(main())
