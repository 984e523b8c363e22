"""The style-transfer task as a study sees it: `TASK`, declared from this package's constants."""

from kerasopt import optimizers
from kerasopt.optimizers.muon import PIXEL_PROBLEM_REASON
from kerasopt.style.config import NAME, TARGET, StyleConfig
from kerasopt.style.run import run
from kerasopt.style.workload import RESULT_FILE, budget_image, prepare
from kerasopt.task import Budget, Presentation, Task

EXCLUDED = {"muon": PIXEL_PROBLEM_REASON}


def seeds_matter(settings: dict) -> str | None:
    """Why several seeds give the same run (``init: content`` is deterministic), or None."""
    if settings.get("init", StyleConfig.init) == "content":
        return "init: content starts every seed from the same image and the loss is deterministic"
    return None


TASK = Task(
    NAME, StyleConfig, run, dict(TARGET), (TARGET["metric"],),
    tuple(name for name in optimizers.available() if name not in EXCLUDED), EXCLUDED,
    budget=Budget("evaluations", "evaluations", required=True, snapshot_setting="snapshot_evaluations",
                  snapshot_file=budget_image(0).replace("0", "{budget}")),
    collapse={"kind": "ended_above_start", "metric": "loss"}, seeds_matter=seeds_matter, prepare=prepare,
    presentation=Presentation(
        title="Style transfer",
        comparison_metrics=("loss", "content_loss", "style_loss", "tv_loss", "iterations", "evaluations", "seconds"),
        result_image=RESULT_FILE,
        comparison_note="Seconds exclude tracing; peak_rss_mb is the process peak RSS sampled during each run "
                        "(runs share one process, so it is cumulative)."))
