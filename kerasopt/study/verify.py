"""Does a study's record reproduce here? ``python -m kerasopt.study verify RECORDS [--runs K]``.

Reruns K completed runs of a study's results directory in this process (each into a temporary folder,
with exactly the settings its ``plan.json`` planned) and compares each new record with the committed
one: the summary's status and metrics and every history value, timing columns left out. A run is
``bit-identical`` when all of them are equal, else its differences are listed; each line also says
whether the committed record was written on another host (`kerasopt.records.host_fingerprint`):
identical settings give identical records on one host with fixed threads, not across hosts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kerasopt import records, tasks
from kerasopt.layout import PLAN
from kerasopt.study.runner import execute_run

TIMING = ("seconds",)
"""History columns and summary metrics that measure time, not the result (any key containing them)."""


@dataclass
class Verification:
    """One rerun compared with its committed record.

    Attributes:
        run_id: the run.
        differences: ``"where: committed -> here"`` lines; empty when bit-identical.
        recorded_host: the host id of the committed record (`records.UNKNOWN_HOST` before fingerprints).
        host: this machine's host id.
    """

    run_id: str
    differences: list = field(default_factory=list)
    recorded_host: str = records.UNKNOWN_HOST
    host: str = ""

    @property
    def identical(self) -> bool:
        return not self.differences

    def line(self) -> str:
        """One line for the terminal."""
        where = ("same host" if self.recorded_host == self.host else
                 f"host differs: recorded on {self.recorded_host}, rerun on {self.host}")
        if self.identical:
            return f"{self.run_id}: bit-identical ({where})"
        shown = "; ".join(self.differences[:4]) + (f"; {len(self.differences) - 4} more" if len(self.differences) > 4
                                                   else "")
        return f"{self.run_id}: differs ({where}): {shown}"


def _timed(key: str) -> bool:
    return any(word in key for word in TIMING)


def compare(committed: Path, rerun: Path) -> list[str]:
    """Differences between two run records: status, summary metrics and history values (timing left out)."""
    old, new = records.read_summary(committed), records.read_summary(rerun)
    differences = [f"status: {old['status']} -> {new['status']}"] if old["status"] != new["status"] else []
    for key in sorted(set(old["metrics"]) | set(new["metrics"])):
        if not _timed(key) and old["metrics"].get(key) != new["metrics"].get(key):
            differences.append(f"{key}: {old['metrics'].get(key)} -> {new['metrics'].get(key)}")
    old_rows, new_rows = records.read_history(committed), records.read_history(rerun)
    if len(old_rows) != len(new_rows):
        differences.append(f"history rows: {len(old_rows)} -> {len(new_rows)}")
    for index, (a, b) in enumerate(zip(old_rows, new_rows)):
        changed = [key for key in sorted(set(a) | set(b)) if not _timed(key) and a.get(key) != b.get(key)]
        if changed:
            differences.append(f"history row {index} ({', '.join(changed[:3])}"
                               f"{', ...' if len(changed) > 3 else ''}): first of {sum(1 for _ in changed)} "
                               "columns differs")
            break
    return differences


def chosen_runs(runs_dir: Path, count: int) -> list[dict]:
    """``count`` completed, planned runs spread over the plan (every k-th of them, in plan order)."""
    plan = records.read_json_object(runs_dir / PLAN, ("runs",), "study plan")["runs"]
    unique = list({role["run_id"]: role for role in plan if records.is_complete(runs_dir / role["run_id"])}.values())
    if not unique:
        raise ValueError(f"{runs_dir}: no completed run to verify")
    step = max(1, len(unique) // count)
    return unique[::step][:count]


def verify(runs_dir: str | Path, count: int = 3, log=print) -> list[Verification]:
    """Rerun ``count`` completed runs of the study in ``runs_dir`` here and compare each with its record.

    Raises:
        FileNotFoundError / ValueError: not a study's results directory, or nothing to verify (one line).
    """
    runs_dir = Path(runs_dir)
    study = records.read_study(runs_dir)
    source = study.get("source") or ""
    task = tasks.get(study["study"]["task"], base_dir=Path(source).parent if source else None)
    here = records.host_id(records.host_fingerprint())
    results = []
    for role in chosen_runs(runs_dir, count):
        committed = runs_dir / role["run_id"]
        with tempfile.TemporaryDirectory(prefix="kerasopt_verify_") as scratch:
            summary = execute_run(getattr(task, "locator", None) or task.name, role["config"],
                                  str(Path(scratch) / role["run_id"]))
            if summary.get("status") == "bad_input":
                raise ValueError(f"run {role['run_id']}: {summary['error']}")
            result = Verification(role["run_id"], compare(committed, Path(scratch) / role["run_id"]),
                                  records.host_of(records.read_config(committed)), here)
        log(result.line())
        results.append(result)
    same = sum(r.identical for r in results)
    log(f"{same} of {len(results)} reruns bit-identical to their records")
    return results
