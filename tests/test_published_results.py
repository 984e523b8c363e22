"""The published study reports (docs/results/) agree with their own CSV tables."""

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from kerasopt.report import write_report
from kerasopt.report.render import MAIN_TABLE, REPORT, markdown_table
from kerasopt.report.summary import SUMMARY, studies_in, write_summary

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results"
PUBLISHED = [path.parent for path in sorted(RESULTS.rglob(REPORT))]
RECORDS = [path.parent for path in sorted(RESULTS.rglob("records/study.json"))]
SUMMARY_DIR = RESULTS / "summary"


def test_every_study_is_published_with_its_records():
    assert {"style", "content_init", "pair2", "defects", "faststyle", "digits"} <= {path.name for path in PUBLISHED}
    assert {folder / "records" for folder in PUBLISHED} == set(RECORDS)


@pytest.mark.parametrize("records", RECORDS, ids=[str(p.relative_to(RESULTS)) for p in RECORDS])
def test_a_published_report_regenerates_identically_from_its_committed_records(records, tmp_path):
    regenerated = write_report(records, tmp_path)
    assert regenerated.read_text() == (records.parent / REPORT).read_text()
    for table in (MAIN_TABLE, "summary.csv", "tuning.csv", "time_to_target.csv"):
        assert (tmp_path / table).read_text() == (records.parent / table).read_text(), table


def test_the_published_summary_regenerates_identically_from_every_published_study(tmp_path):
    assert studies_in([RESULTS]) == sorted(RECORDS)
    write_summary(studies_in([RESULTS]), tmp_path)
    published = (SUMMARY_DIR / SUMMARY).read_text()
    assert (tmp_path / SUMMARY).read_text() == published
    for table in ("scores.csv", "ratios.csv", "tuning_cost.csv", "tuning_overview.csv", "defaults_vs_tuned.csv"):
        assert (tmp_path / table).read_text() == (SUMMARY_DIR / table).read_text(), table
    for figure in [line.split("(")[1].rstrip(")") for line in published.splitlines() if line.startswith("![")]:
        assert (SUMMARY_DIR / figure).is_file()


@pytest.mark.parametrize("folder", PUBLISHED, ids=[str(p.relative_to(RESULTS)) for p in PUBLISHED])
def test_headline_table_in_the_report_matches_its_csv(folder):
    main = pd.read_csv(folder / MAIN_TABLE, keep_default_na=False, dtype=str)
    main = main.apply(lambda column: column.map(_number_as_written)) if len(main) else main
    text = (folder / REPORT).read_text()
    assert markdown_table(main) in text
    for figure in [line.split("(")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]:
        assert (folder / figure).is_file()


def _number_as_written(cell: str):
    """CSV cells back to what the report formatted: numbers as numbers, empty as NaN, text (and '—') unchanged."""
    if cell == "":
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        return cell
    return int(value) if value.is_integer() and "." not in cell and "e" not in cell.lower() else value


def _table_after(text: str, heading: str) -> list[list[str]]:
    """Cells of the first markdown table after ``heading`` (header and separator rows dropped)."""
    lines = text[text.index(heading):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.parametrize("document, heading", [("docs/results/README.md", "## Defect segmentation (U-Net)")])
def test_the_defect_headline_tables_quote_the_published_main_table(document, heading):
    quoted = _table_after((RESULTS.parents[1] / document).read_text(), heading)
    table = pd.read_csv(RESULTS / "defects" / MAIN_TABLE, keep_default_na=False, dtype=str)
    assert [row[1] for row in quoted] == list(table["optimizer"])
    for row, (_, published) in zip(quoted, table.iterrows()):
        assert row[0] == f"{published['rank']} {published['rank [95% bootstrap]']}"
        assert row[3] == f"**{float(published['tuned test_dice median, failures worst']):.4g}**"
        assert row[4] == published["tuned test_dice mean [95% CI]"]
        assert row[6] == published["failure rate"] and row[7] == published["held-out seeds"]
        assert row[8] == published["worse than the best? (5% family-wise)"]


MAKEFILE_STUDIES = [(study, out) for study, out in re.findall(
    r"kerasopt\.study run (\S+\.yaml) --out (\S+)", (RESULTS.parents[1] / "Makefile").read_text())
    if (RESULTS.parents[1] / out / "study.json").is_file()]
"""(study file, committed records) of every published study with records."""


@pytest.mark.parametrize("study_file, out", MAKEFILE_STUDIES, ids=[out for _, out in MAKEFILE_STUDIES])
def test_committed_records_plan_no_run_and_the_committed_plan(study_file, out):
    """``study plan`` on a published study: its committed records need 0 runs (run ids unchanged) and the
    planner rebuilds the committed plan.json, roles and selections, exactly."""
    from kerasopt.study import load
    from kerasopt.study.runner import dry_run

    root = RESULTS.parents[1]
    plan = dry_run(load(root / study_file), root / out, log=lambda line: None)
    committed = json.loads((root / out / "plan.json").read_text())
    planned = json.loads(json.dumps(plan.to_dict(committed["study"])))
    assert plan.pending == [] and planned == committed
