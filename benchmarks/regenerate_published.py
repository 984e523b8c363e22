"""Do the published reports and the cross-workload summary regenerate byte for byte from their records?

    python benchmarks/regenerate_published.py [--results docs/results] [--out /tmp/regen] [--skip NAME ...]

Regenerates every study report (``python -m kerasopt.study report RECORDS --out OUT/<folder>``) for each
``records/`` folder below ``--results``, and the summary (``python -m kerasopt.study summary RESULTS --out
OUT/summary``, as ``make results-summary`` does), then compares each written file with the published one beside
the records, byte for byte. Prints one line per differing or missing file and exits 1 when any differ.

The records are read through the CLI only (the same command at any commit), so running this script with
``PYTHONPATH`` set to another checkout checks that checkout. A read-only copy of the records
(``git archive HEAD docs/results | tar -x -C DIR``) keeps a study that is being written out of the check.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPORT_SUFFIXES = (".md", ".csv", ".png")


def study_folders(results: Path, skip: list[str]) -> list[Path]:
    """The published folders below ``results`` that hold ``records/study.json`` (``skip``: relative paths left out)."""
    found = sorted(p.parent.parent for p in results.rglob("records/study.json"))
    return [f for f in found if str(f.relative_to(results)) not in skip]


def _run(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "kerasopt.study", *args], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode:
        raise SystemExit(f"kerasopt.study {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")


def differences(written: Path, published: Path) -> list[str]:
    """Report files that differ between the regenerated folder and the published one (either side)."""
    mine = {p.name for p in written.iterdir() if p.is_file() and p.suffix in REPORT_SUFFIXES}
    theirs = {p.name for p in published.iterdir() if p.is_file() and p.suffix in REPORT_SUFFIXES}
    lines = []
    for name in sorted(mine | theirs):
        if name not in theirs:
            lines.append(f"{published / name}: not published (written by the report)")
        elif name not in mine:
            lines.append(f"{published / name}: published but not written by the report")
        elif (written / name).read_bytes() != (published / name).read_bytes():
            lines.append(f"{published / name}: differs")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="docs/results", help="the published results folder")
    parser.add_argument("--out", default="/tmp/regen", help="where the regenerated reports go")
    parser.add_argument("--skip", nargs="*", default=[], help="study folders (relative to --results) left out")
    parser.add_argument("--no-summary", action="store_true", help="reports only")
    args = parser.parse_args(argv)
    results, out = Path(args.results), Path(args.out)
    found = []
    for folder in study_folders(results, args.skip):
        target = out / folder.relative_to(results)
        target.mkdir(parents=True, exist_ok=True)
        _run(["report", str(folder / "records"), "--out", str(target)])
        found += differences(target, folder)
        print(f"{folder.relative_to(results)}: regenerated", flush=True)
    if not args.no_summary:
        _run(["summary", str(results), "--out", str(out / "summary")])
        found += differences(out / "summary", results / "summary")
        print("summary: regenerated", flush=True)
    print("\n".join(found) if found else "every report regenerates byte for byte")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
