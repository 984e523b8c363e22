"""``python -m kerasopt.study run STUDY.yaml | plan STUDY.yaml | merge DIR... --out DIR | report RUNS_DIR |
summary DIR... --out DIR | verify RUNS_DIR [--runs K]``."""

from __future__ import annotations

import sys
from typing import Sequence

from kerasopt.cli import ArgumentParser, positive_int, quiet_tensorflow, run_cli


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m kerasopt.study", description="Fair optimizer comparison studies and "
                                                                         "their reports.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run or resume a study (completed runs are skipped)")
    run.add_argument("study", help="study file (YAML) or the name of a shipped study, e.g. style_smoke")
    run.add_argument("--out", help="results directory; None: runs/<study name>")
    run.add_argument("--backend", choices=("local", "ray"), default="local",
                     help="local: one run after another in this process; ray: runs as Ray tasks")
    run.add_argument("--address", help="join this Ray cluster (ray backend); None: start a local Ray")
    run.add_argument("--workers", type=positive_int, default=1, help="concurrent runs (ray backend)")
    plan = commands.add_parser("plan", help="print the runs that run would execute next, without running or "
                                            "writing anything (0 for a complete study)")
    plan.add_argument("study", help="study file (YAML) or the name of a shipped study, e.g. style_smoke")
    plan.add_argument("--out", help="results directory; None: runs/<study name>")
    merge = commands.add_parser("merge", help="combine partial results directories of one study "
                                              "(several machines) into one")
    merge.add_argument("dirs", nargs="+", help="results directories of the same study")
    merge.add_argument("--out", required=True, help="the merged directory (may be one of the inputs)")
    report = commands.add_parser("report", help="write report.md, CSV tables and PNG figures")
    report.add_argument("runs_dir", help="a study's results directory (holds study.json)")
    report.add_argument("--out", metavar="DIR", help="write the report, tables and figures into DIR instead of "
                                                      "runs_dir (e.g. docs/results/defects for committed records "
                                                      "in docs/results/defects/records)")
    report.add_argument("--publish", metavar="DIR", help="also copy report.md, its CSV tables and figures to DIR "
                                                          "(e.g. docs/results/style)")
    summary = commands.add_parser("summary", help="across several studies: performance profiles, benchmark scores "
                                                  "and tuning-cost curves (records only)")
    summary.add_argument("dirs", nargs="+", help="results directories of studies (each holds study.json), or folders "
                                                 "to search for every */records/study.json below them (sorted)")
    summary.add_argument("--out", required=True, help="where summary.md, its CSV tables and figures go")
    verify = commands.add_parser("verify", help="rerun K completed runs here: bit-identical to their records, "
                                                "or the differences, and whether the host differs")
    verify.add_argument("runs_dir", help="a study's results directory (holds study.json and plan.json)")
    verify.add_argument("--runs", type=positive_int, default=3, help="how many completed runs to rerun")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; errors are printed as one line (exit code 2)."""
    quiet_tensorflow()
    return run_cli(_main, argv)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        from kerasopt.report import publish, write_report

        path = write_report(args.runs_dir, args.out)
        print(f"wrote {path}")
        if args.publish:
            print(f"published {len(publish(args.out or args.runs_dir, args.publish))} files to {args.publish}")
        return 0
    if args.command == "summary":
        from kerasopt.report.summary import studies_in, write_summary

        print(f"wrote {write_summary(studies_in(args.dirs), args.out)}")
        return 0
    if args.command == "verify":
        from kerasopt.study.verify import verify

        verify(args.runs_dir, args.runs)
        return 0
    if args.command == "merge":
        from kerasopt.study.merge import merge

        merge(args.dirs, args.out)
        return 0
    from kerasopt.study import load, run_study

    spec = load(args.study)
    if args.command == "plan":
        from kerasopt.study.runner import dry_run

        dry_run(spec, out_dir=args.out, log=lambda line: print(line, flush=True))
        return 0
    run_study(spec, out_dir=args.out, backend=args.backend, address=args.address, workers=args.workers,
              log=lambda line: print(line, flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
