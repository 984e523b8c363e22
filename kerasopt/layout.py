"""The file names of a run record and of a study's results directory, named once.

A study's results directory (``python -m kerasopt.study run STUDY.yaml --out DIR``)::

    DIR/
      study.json          STUDY      the resolved study, the task's declaration, load-time warnings
      plan.json           PLAN       every role of every run planned so far; once tuning is over the selection
      costs.json          COSTS      optional: seconds per evaluation from one interleaved benchmark
      shown/              SHOWN      copies of the result images its report shows (kept by the study runner)
      <shared image>.png             a task's shared panel (e.g. defects' test_inputs.png), kept the same way
      <run_id>/                      one run record per run:
        config.json       CONFIG     every setting, seed, environment and host (written first)
        history.csv       HISTORY    one row per step/iteration/epoch
        summary.json      SUMMARY    status, metrics, time and memory (written last: the run is complete)
        error.log         ERROR_LOG  the traceback of a failed run
        test_images.csv   PER_IMAGE  per test image ``image, tp, fp, fn`` (tasks that score test images)
        artifacts/        ARTIFACTS  images, checkpoints, other files

A report (``python -m kerasopt.study report DIR [--out OUT]``) writes `REPORT` and its tables into OUT (default
DIR); the cross-workload summary writes `SUMMARY_REPORT` and its own tables. `kerasopt.records` writes and reads
a run record; `kerasopt.results` reads a whole results directory (and never writes into it).
"""

CONFIG = "config.json"
HISTORY = "history.csv"
SUMMARY = "summary.json"
ERROR_LOG = "error.log"
ARTIFACTS = "artifacts"
PER_IMAGE = "test_images.csv"

STUDY = "study.json"
PLAN = "plan.json"
COSTS = "costs.json"
SHOWN = "shown"

REPORT = "report.md"
MAIN_TABLE = "main_table.csv"
ARM_TABLE = "summary.csv"
HEADLINE_TABLE = "headline.csv"
TUNING_TABLE = "tuning.csv"
TARGET_TABLE = "time_to_target.csv"
RUNS_TABLE = "runs.csv"
COMPANION_TABLE = "protocol_comparison.csv"
RANKING_CHANGES = "ranking_changes.csv"
REPORT_SUFFIXES = (".md", ".csv", ".png")
"""What a report writes (and `kerasopt.report.publish` copies): markdown, CSV tables, PNG figures."""

SUMMARY_REPORT = "summary.md"


def main_table_at(budget) -> str:
    """The ranked table of a study with several budgets at one of them."""
    return f"main_table_at_{budget}.csv"


def shown_name(run_id: str, name: str) -> str:
    """The name under `SHOWN` of a run's result image ``name``."""
    return f"{run_id}-{name}"
