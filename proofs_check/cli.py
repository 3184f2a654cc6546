"""``nonident check``: run the registered claims and write the proof-check report."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from exact.core.artifacts import DEFAULT_REPORT_DIR, check_writable_dir, provenance
from exact.core.cli import CliError, add_json_flag, add_out_flag, command_main, print_json
from proofs_check.registry import ClaimRecord


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="run every registered claim and write OUT/proof-check.{md,json,html}",
        description="Check the paper's claims; exit status 1 if any claim fails.",
    )
    add_out_flag(
        p,
        default=DEFAULT_REPORT_DIR,
        help=f"directory for the reports (default: {DEFAULT_REPORT_DIR}, untracked; the committed ones: --out reports)",
    )
    p.add_argument(
        "--artifacts",
        default="reports",
        help="directory of the committed artifacts that claims read, e.g. the trained models of "
        "E1-rule-extrapolation (default: reports)",
    )
    p.add_argument("--only", nargs="+", metavar="ID", default=None, help="run only these claim ids")
    p.add_argument("--list", action="store_true", help="list the claim ids and exit")
    add_json_flag(p, help="print the JSON report on stdout")
    p.set_defaults(run=run)


def _progress(n: int, total: int, rec: ClaimRecord) -> None:
    print(f"[{n}/{total}] {rec.id:<26} {rec.status.upper():<4} ({rec.seconds:.2f} s)", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    # the claims import sympy and torch: only when a check runs, never for `nonident --help`
    from proofs_check.catalog import registered, run_claims
    from proofs_check.report import render_json, write_reports

    if args.list:
        claims = registered()
        if args.json:
            print_json(
                [{"id": cid, "title": c.title, "source": c.source, "needs": list(c.needs)} for cid, c in claims.items()]
            )
        else:
            for cid, c in claims.items():
                needs = f"  [needs {', '.join(c.needs)}]" if c.needs else ""
                print(f"{cid:<26} {c.title}{needs}")
        return 0
    unknown = [cid for cid in args.only or () if cid not in registered()]
    if unknown:
        raise CliError(f"--only: unknown claim id {unknown[0]!r} (nonident check --list shows them)")
    check_writable_dir(args.out, "--out")  # fail on a bad --out before the work, creating nothing
    start = time.perf_counter()
    records = run_claims(args.only, progress=_progress, artifacts=args.artifacts)
    meta = provenance(config={"only": args.only, "out": args.out, "artifacts": args.artifacts})
    meta["total_seconds"] = round(time.perf_counter() - start, 3)
    paths = write_reports(records, meta, args.out)
    failed = [r.id for r in records if r.status != "pass"]
    if args.json:
        import json

        print_json(json.loads(render_json(records, meta)))
    else:
        print(f"{len(records) - len(failed)} of {len(records)} claims pass; wrote {', '.join(map(str, paths))}")
        if failed:
            print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m proofs_check.cli …`` is ``nonident check …``."""
    return command_main(add_parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
