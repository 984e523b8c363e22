"""Running a study: the loop that executes what the planner plans, resume, progress, local and Ray backends.

Layout of ``out_dir`` (default ``runs/<study name>/``; the names are `kerasopt.layout`'s):

- ``study.json``: the resolved study (written when it starts; a different study
  is refused in the same directory);
- ``plan.json``: every role of every run (phase, trial, seed, hparams, run id),
  rewritten atomically each time the study is planned;
- ``<run_id>/``: one run record per run (`kerasopt.records`);
- ``shown/``: copies of the result images the study's report shows (`kerasopt.report.shown.keep_shown`).

`run_study` plans (`kerasopt.study.plan.plan_study`: a pure function of the study and its records), executes the
pending runs and plans again until nothing is pending. A run whose ``summary.json`` exists is never executed
again, so a study killed at any moment (Ctrl-C, SIGKILL) finishes on the next start without repeating or
losing a completed run: a resume is the same loop. A failed or diverged run is recorded by the task and
the study goes on; a task's bad-input error (ValueError/OSError before the run starts) stops the study with
that one line.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import time
import traceback
from pathlib import Path
from typing import Callable

from kerasopt import records, tasks
from kerasopt.cli import UsageError
from kerasopt.layout import PLAN, STUDY
from kerasopt.study import expand
from kerasopt.study.expand import PlannedRun
from kerasopt.study.plan import Plan, RecordsView, expected_total, plan_study
from kerasopt.study.spec import BRACKET, StudySpec
from kerasopt.tasks import Task

BACKENDS = ("local", "ray")
BAD_INPUT = "bad_input"
RAY_HINT = "--backend ray needs Ray: pip install 'kerasopt[ray]'"
REPORT_ONLY_KEYS = ("targets", "reanalysis", "compare_to")  # study keys that change the report, not the runs


def execute_run(task_name: str, settings: dict, run_dir: str) -> dict:
    """Run one task run in this process and return its summary.

    Returns ``{"status": "bad_input", "error": message}`` without a record
    when the task rejects its input before starting, and the existing summary
    when the run is already complete (it is never executed twice).
    """
    if records.is_complete(run_dir):
        return records.read_summary(run_dir)
    task = tasks.get(task_name)
    try:
        config = task.config_cls.from_dict(settings)
        summary = task.run(config, run_dir, progress=False)  # the study prints its own progress
    except (ValueError, OSError) as exc:
        return {"status": BAD_INPUT, "error": records.one_line_error(exc)}
    except Exception as exc:  # a task bug: record the run as failed and go on with the study
        return record_failure(run_dir, settings, exc)
    if not isinstance(summary, dict):  # a task that returned nothing: its record, or a failure
        return record_failure(run_dir, settings, RuntimeError(f"task {task_name} returned {summary!r}, not a summary"))
    return summary


def default_out_dir(spec: StudySpec) -> Path:
    return Path("runs") / spec.name


def study_record(spec: StudySpec, task: Task) -> dict:
    """The content of ``study.json``: the study, the task's declaration, load-time warnings."""
    return {"study": spec.to_dict(), "target": task.target, "task": task.describe(), "source": spec.source,
            "warnings": list(spec.warnings),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def claim_out_dir(out_dir: Path, spec: StudySpec, task: Task) -> None:
    """Write ``study.json``, or check that the one there is this study (`check_out_dir`).

    The task's declaration (``task``: its collapse rule, budget, panels) is not part of the study's
    identity: it is refreshed to the current one.

    Raises:
        ValueError: ``out_dir`` holds a different study (names the first differing key).
    """
    stored = check_out_dir(out_dir, spec)
    if stored is not None and stored["study"] == spec.to_dict():
        if stored.get("task") != task.describe():  # the task's declaration (collapse rule, panels) moved on
            records.write_json_atomic(out_dir / STUDY, {**stored, "task": task.describe()})
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    records.write_json_atomic(out_dir / STUDY, study_record(spec, task))


def check_out_dir(out_dir: Path, spec: StudySpec) -> dict | None:
    """The study record in ``out_dir`` (None without one) after checking that it is this study's; reads only.

    Keys in `REPORT_ONLY_KEYS` (``targets``) do not change any run: when only they differ, the results are
    kept (`claim_out_dir` updates ``study.json``). A study that only ADDS optimizers (the existing ones keep their
    search spaces) extends the results too: run ids hash the settings, so every completed run stays valid; so
    does a study that adds ``more_seeds`` where it had none (it only adds runs; its rule is then fixed like any
    other key), and an untuned study (every setting fixed: a companion) that appends held-out seeds.

    Raises:
        ValueError: ``out_dir`` holds a different study (names the first differing key), or an unreadable one.
    """
    path = out_dir / STUDY
    if not path.is_file():
        return None
    try:
        stored = records.read_json_object(path, ("study",), "study record")
    except ValueError as exc:
        raise ValueError(f"{exc}; choose another --out") from None
    existing = stored["study"]
    if not isinstance(existing, dict):
        raise ValueError(f"{path}: not a study record ('study' must be a mapping); choose another --out")
    mine = spec.to_dict()
    differing = [key for key in sorted(set(mine) | set(existing)) if mine.get(key) != existing.get(key)]
    allowed = {*REPORT_ONLY_KEYS, *(("optimizers", "search") if _adds_optimizers(existing, mine) else ()),
               *(("more_seeds",) if "more_seeds" not in existing and "more_seeds" in mine else ()),
               *(("seeds",) if _untuned_and_adds_seeds(existing, mine) else ())}
    blocking = [key for key in differing if key not in allowed]
    if blocking:
        raise ValueError(f"{path}: results of a different study (key {blocking[0]!r} differs from "
                         f"{spec.source}); choose another --out or another study name")
    return stored


def changed_code_note(out_dir: Path, task: Task) -> str | None:
    """One line when ``out_dir`` holds runs of other code of this task (a user task's ``identity``,
    `kerasopt.keras_task.source_identity`): those runs have other ids and are not reused."""
    identity = getattr(task, "identity", None)
    if identity is None:
        return None
    old = []
    for config in sorted(out_dir.glob(f"*/{records.CONFIG}")):
        try:
            source = records.read_config(config.parent)["settings"].get("task_source")
        except (ValueError, AttributeError):
            continue
        if source is not None and source != identity:
            old.append(source)
    if not old:
        return None
    return (f"the task's code changed ({old[0].split()[-1]} -> {identity.split()[-1]}): {len(old)} runs of the "
            f"old code in {out_dir} are not reused")


def other_hosts_note(out_dir: Path) -> list[str]:
    """One line when ``out_dir`` holds runs recorded on other hosts than this one (identical settings give
    different results on different hosts; completed runs are kept, never rerun or overwritten)."""
    here = records.host_id(records.host_fingerprint())
    others = {host: n for host, n in records.hosts(out_dir).items() if host != here}
    if not others:
        return []
    listed = ", ".join(f"{n} on {host}" for host, n in sorted(others.items()))
    return [f"this study continues on host {here}; {listed} of its run records come from other hosts (kept as "
            "they are; the report counts runs per host)"]


def _untuned_and_adds_seeds(existing: dict, mine: dict) -> bool:
    """True when both fix every setting (no search, so nothing was selected on the old seeds) and ``mine``
    appends seeds to the old ones: every completed run keeps its id and the new seeds only add runs."""
    fixed = all(not isinstance(value, dict) for study in (existing, mine)
                for space in study.get("search", {}).values() for value in space.values())
    old, new = list(existing.get("seeds", [])), list(mine.get("seeds", []))
    return fixed and len(new) > len(old) and new[:len(old)] == old


def _adds_optimizers(existing: dict, mine: dict) -> bool:
    """True when ``mine`` keeps every optimizer of ``existing`` with its search space and adds others."""
    old, new = existing.get("optimizers", []), mine.get("optimizers", [])
    kept = all(name in new and existing.get("search", {}).get(name) == mine["search"].get(name) for name in old)
    return kept and len(new) > len(old)


def write_plan(out_dir: Path, spec: StudySpec, plan: Plan) -> None:
    """``plan.json``: every role of every run and, once tuning is over, the selection (`Plan.to_dict`)."""
    records.write_json_atomic(out_dir / PLAN, plan.to_dict(spec.name))


class Progress:
    """Progress over the whole study: runs done / total, elapsed, estimated remaining."""

    def __init__(self, total: int, done: int, log: Callable[[str], None]):
        self.total, self.done, self.log = total, done, log
        self.executed = 0
        self.start = time.perf_counter()

    def finished(self, run: PlannedRun, summary: dict, metric: str) -> None:
        self.done += 1
        self.executed += 1
        elapsed = time.perf_counter() - self.start
        remaining = elapsed / self.executed * max(self.total - self.done, 0)
        value = summary.get("metrics", {}).get(metric)
        shown = f"{metric}={value:.4g}" if records.is_finite(value) else summary.get("error") or ""
        self.log(f"[{self.done}/{self.total}] {run.optimizer:<10} {run.phase:<8} seed={run.seed} "
                 f"{summary.get('status')} {shown} | elapsed {_clock(elapsed)} | remaining ~{_clock(remaining)}")


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def run_study(spec: StudySpec, out_dir: str | Path | None = None, backend: str = "local",
              address: str | None = None, workers: int = 1, log: Callable[[str], None] = print) -> dict:
    """Run (or resume) a study: plan, execute the pending runs, plan again, until nothing is pending.

    Args:
        spec: the validated study.
        out_dir: results directory (default ``runs/<spec.name>``).
        backend: ``"local"`` (runs one after another in this process) or
            ``"ray"`` (each run a Ray task, ``workers`` at a time).
        address: an existing Ray cluster to join (ray backend only); the
            results directory must be on a file system every node sees.
        workers: concurrent runs (ray backend).
        log: receives one progress line per run.

    Returns:
        Counts ``{"total", "executed", "skipped", "completed", "diverged", "failed"}``.

    Raises:
        ValueError: a bad setting, a different study in ``out_dir``, or a
            task's bad-input error; completed runs are left untouched.
        UsageError: ``--backend ray`` without Ray installed, or bad backend options.
    """
    check_backend(backend, address, workers)
    task = study_task(spec)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(spec)
    if backend == "local" and spec.base.get("threads") is not None:  # before preflight runs TensorFlow here
        from kerasopt.seeding import fix_threads

        fix_threads(spec.base["threads"])
    try:
        task.preflight(spec.base)  # user tasks: model and data checked before anything is written
    except ValueError as exc:
        raise ValueError(f"{spec.source}: task: {records.one_line_error(exc).removeprefix('ValueError: ')}") from None
    claim_out_dir(out_dir, spec, task)
    notes = [*spec.warnings, *filter(None, [changed_code_note(out_dir, task)]), *other_hosts_note(out_dir)]
    view = RecordsView(out_dir, task)
    plan = plan_study(spec, task, view)
    write_plan(out_dir, spec, plan)
    progress = Progress(expected_total(spec, task, plan), 0, log)
    log(f"study {spec.name}: {progress.total}+ runs ({spec.task}, {len(spec.optimizers)} optimizers, "
        f"{_tuning_words(spec)}, final seeds {list(spec.seeds)}) → {out_dir} [{backend}]")
    for note in notes:
        log(f"warning: {note}")
    executor = _executor(backend, address, workers)  # after validation: a bad study starts no Ray
    executed: set[str] = set()
    try:
        plan = execute_until_planned(spec, task, view, plan, executor, progress, executed, log)
    finally:
        executor.close()
    keep_report_images(out_dir)
    counts = final_counts(out_dir, plan, executed)
    log(f"study {spec.name}: {counts['executed']} runs executed, {counts['skipped']} already complete; "
        + ", ".join(f"{counts[s]} {s}" for s in records.STATUSES))
    return counts


def dry_run(spec: StudySpec, out_dir: str | Path | None = None, log: Callable[[str], None] = print) -> Plan:
    """What `run_study` would execute next in ``out_dir``, without running, starting or writing anything
    (``python -m kerasopt.study plan``): one line per pending run, then their number. A complete study plans 0 runs.
    Later phases (bracket extensions, final runs, added seeds) are planned once the pending runs have records.

    Raises:
        ValueError: as `run_study` before it runs anything (a bad setting, a different study in ``out_dir``, a
            record of other settings).
    """
    from kerasopt.results import format_setting

    task = study_task(spec)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(spec)
    check_out_dir(out_dir, spec)
    view = RecordsView(out_dir, task)
    plan = plan_study(spec, task, view)
    complete = [run for run in plan.unique if view.complete(run.run_id)]
    for run in complete:
        check_record(out_dir / run.run_id, run)
    log(f"study {spec.name}: {len(plan.unique)} runs planned so far in {out_dir}, {len(complete)} with a record")
    for run in plan.pending:
        log(f"would run {run.run_id} {run.optimizer:<10} {run.phase:<16} seed={run.seed} {format_setting(run.hparams)}")
    log(f"{len(plan.pending)} runs to execute" + ("" if plan.stage == "done" else
                                                   f" ({plan.stage}; later phases are planned once they have records)"))
    return plan


def check_backend(backend: str, address: str | None, workers: int) -> None:
    """Refuse backend options that cannot work, before anything is written or started (UsageError)."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}. Valid: {', '.join(BACKENDS)}")
    if backend == "local" and (workers != 1 or address):
        raise UsageError("--workers and --address need --backend ray (the local backend runs one run at a time)")
    if backend == "ray" and importlib.util.find_spec("ray") is None:
        raise UsageError(RAY_HINT)


def study_task(spec: StudySpec) -> Task:
    """The study's task, after checking that it supports every optimizer and accepts the base settings.

    Raises:
        ValueError: one line naming the study file.
    """
    task = tasks.get(spec.task, base_dir=Path(spec.source).parent)
    unsupported = [name for name in spec.optimizers if name not in (*task.supported, *task.excluded)]
    if unsupported:
        raise ValueError(f"{spec.source}: optimizers: task {spec.task!r} does not support {unsupported[0]!r}. "
                         f"Valid: {', '.join(task.supported)}")
    try:
        expand.first_phase(spec, task.resolve)
    except ValueError as exc:
        raise ValueError(f"{spec.source}: {exc}") from None
    return task


def execute_until_planned(spec: StudySpec, task: Task, view: RecordsView, plan: Plan, executor, progress: Progress,
                          executed: set[str], log: Callable[[str], None]) -> Plan:
    """Execute the plan's pending runs and plan again until nothing is pending (each run at most once here);
    every completed record of the plan is checked to be this study's first. Returns the last plan."""
    task_ref = getattr(task, "locator", None) or task.name  # user task files by absolute path (Ray workers' cwd may differ)
    checked: set[str] = set()
    while True:
        for run in plan.unique:
            if run.run_id not in checked and run.run_id not in executed and view.complete(run.run_id):
                check_record(view.out_dir / run.run_id, run)
                checked.add(run.run_id)
        progress.total = max(expected_total(spec, task, plan), len(plan.unique))
        progress.done = sum(view.complete(run.run_id) or run.run_id in executed for run in plan.unique)
        if not plan.pending:
            return plan
        if plan.stage.startswith("more seeds"):
            log(f"more seeds (round {plan.pending[0].added_round}): "
                f"{', '.join(dict.fromkeys(r.optimizer for r in plan.pending))} on seeds "
                f"{sorted({r.seed for r in plan.pending})}")
        execute(plan.pending, view.out_dir, task_ref, executor, progress, task.target["metric"], executed)
        plan = plan_study(spec, task, view, executed)
        write_plan(view.out_dir, spec, plan)


def execute(runs: list[PlannedRun], out_dir: Path, task_ref: str, executor, progress: Progress, metric: str,
            executed: set[str]) -> None:
    """Execute ``runs`` (one per run id) with the executor; a task's bad-input error stops the study (ValueError)."""
    for run, summary in executor.map(task_ref, [(run, str(out_dir / run.run_id)) for run in runs]):
        executed.add(run.run_id)
        if summary.get("status") == BAD_INPUT:
            raise ValueError(f"run {run.run_id} ({run.optimizer}, {run.phase}): {summary['error']}")
        progress.finished(run, summary, metric)


def keep_report_images(out_dir: Path) -> None:
    """Keep copies of the result images the study's report shows beside the records (the report reads them when
    the run artifacts are not committed; it never writes into the records itself)."""
    from kerasopt.report.shown import keep_shown

    keep_shown(out_dir)


def final_counts(out_dir: Path, plan: Plan, executed: set[str]) -> dict:
    """``{"total", "executed", "skipped", <status>: n}`` of the study's runs at the end of `run_study`."""
    runs = plan.unique
    statuses = [records.read_summary(out_dir / r.run_id).get("status") for r in runs
                if records.is_complete(out_dir / r.run_id)]
    skipped = sum(records.is_complete(out_dir / r.run_id) and r.run_id not in executed for r in runs)
    counts = {"total": len(runs), "executed": len(executed), "skipped": skipped}
    counts.update({status: statuses.count(status) for status in records.STATUSES})
    return counts


def run(study: dict | str | Path, task: Task | None = None, out_dir: str | Path | None = None,
        log: Callable[[str], None] = print, **backend) -> dict:
    """The Python API of studies: run (or resume) ``study`` and return `run_study`'s counts.

    Args:
        study: a study as a dict (the schema of a study file), a study file or a shipped study name.
        task: a task object (e.g. a `kerasopt.KerasTask`) to run the study on; it replaces the
            study's ``task`` entry (a dict study only; it may then omit ``task``). Runs in this process
            (``backend="ray"`` needs a study file naming the task by import path).
        out_dir, log, backend: see `run_study`.
    """
    from kerasopt.study.spec import load

    if task is None:
        spec = StudySpec.from_dict(study, source="<python>") if isinstance(study, dict) else load(study)
    elif isinstance(study, dict):
        spec = StudySpec.from_dict({**study, "task": tasks.register(task).name}, source="<python>")
    else:
        raise ValueError("a study file names its own task; pass the study as a dict to give a task object")
    return run_study(spec, out_dir=out_dir, log=log, **backend)


def check_record(run_dir: Path, run: PlannedRun) -> None:
    """Refuse a completed record that was not written for ``run``'s settings (copied in from another
    study or edited): ValueError naming its config.json; the record is left alone."""
    records.read_summary(run_dir)  # a truncated or corrupt summary: its own one-line error
    if not records.record_matches(run_dir, run.config):
        raise ValueError(f"{run_dir / records.CONFIG}: a record of other settings than run {run.run_id} "
                         f"({run.optimizer}, {run.phase}, seed {run.seed}) of this study; move it away or "
                         "choose another --out")


def _tuning_words(spec: StudySpec) -> str:
    """How the study tunes, for its first log line; fixed settings (e.g. ``settings_from``) are not tuning."""
    if not any(dim.searched for space in spec.spaces.values() for dim in space.values()):
        return "fixed settings, no tuning"
    grid = (f"bracket grid {spec.spacing:g} decades apart, up to {spec.extensions} extensions per edge"
            if spec.sampler == BRACKET else f"{spec.trials} {spec.sampler} trials")
    return f"{grid}, tuning seeds {list(spec.tuning_seeds)}"


def _executor(backend: str, address: str | None, workers: int):
    return LocalExecutor() if backend == "local" else RayExecutor(address, workers)


class LocalExecutor:
    """Runs one run after another in this process."""

    def map(self, task_name: str, jobs: list[tuple[PlannedRun, str]]):
        for run, run_dir in jobs:
            yield run, execute_run(task_name, run.config, run_dir)

    def close(self) -> None:
        pass


def gpus_per_run(cluster_gpus: float, workers: int) -> float:
    """GPUs one run reserves: a whole GPU where there are enough, else an equal share
    (``workers`` runs on 1 GPU get 1/workers each), 0 without GPUs."""
    if cluster_gpus <= 0:
        return 0
    return 1 if cluster_gpus >= workers else round(cluster_gpus / workers, 4)


class RayExecutor:
    """Each run is a Ray task, ``workers`` at a time; with GPUs each run gets a whole GPU,
    or a share of one when workers outnumber GPUs (`gpus_per_run`).

    Joins the cluster at ``address``, or starts a local Ray with ``workers`` CPUs.
    """

    def __init__(self, address: str | None, workers: int):
        import ray

        self.ray = ray
        self.workers = workers
        options = {"address": address} if address else {"num_cpus": workers, "include_dashboard": False}
        ray.init(**options, log_to_driver=False, configure_logging=False)
        gpus = gpus_per_run(ray.cluster_resources().get("GPU", 0), workers)
        self.remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=0)(execute_run)

    def map(self, task_name: str, jobs: list[tuple[PlannedRun, str]]):
        queue, pending = list(jobs), {}
        while queue or pending:
            while queue and len(pending) < self.workers:
                run, run_dir = queue.pop(0)
                pending[self.remote.remote(task_name, run.config, run_dir)] = (run, run_dir)
            ready, _ = self.ray.wait(list(pending), num_returns=1)
            run, run_dir = pending.pop(ready[0])
            try:
                summary = self.ray.get(ready[0])
            except self.ray.exceptions.RayError as exc:
                if cluster_lost(self.ray, exc):  # not the run's fault: leave it unrecorded, stop the study
                    raise RuntimeError(f"the Ray cluster stopped ({type(exc).__name__}) during run {run.run_id} "
                                       f"({run.optimizer}, {run.phase}); completed runs are kept: rerun the "
                                       "same command to resume") from None
                summary = record_failure(run_dir, run.config, exc, prefix="Ray worker lost: ")  # the run crashed it
            yield run, summary

    def close(self) -> None:
        self.ray.shutdown()


def cluster_lost(ray, exc: BaseException) -> bool:
    """Whether ``exc`` says the Ray node or this driver's raylet died (a preempted node, an interrupted
    cluster) rather than the run's own worker (a crash or out-of-memory kill, which is the run's failure)."""
    lost = tuple(getattr(ray.exceptions, name) for name in ("NodeDiedError", "LocalRayletDiedError",
                                                             "RaySystemError") if hasattr(ray.exceptions, name))
    return isinstance(exc, lost)


def record_failure(run_dir: str, settings: dict, exc: BaseException, prefix: str = "") -> dict:
    """Record a run that raised (or whose Ray worker died) as failed, with ``error.log``.

    A run that completed before the failure keeps its summary (never overwritten).
    """
    if records.is_complete(run_dir):
        return records.read_summary(run_dir)
    with records.RunRecord(run_dir, settings, seed=settings.get("seed")) as record:
        (Path(run_dir) / records.ERROR_LOG).write_text("".join(traceback.format_exception(exc)))
        return record.finish("failed", error=prefix + records.one_line_error(exc))
