"""Running a study: resume, progress, local and Ray backends.

Layout of ``out_dir`` (default ``runs/<study name>/``):

- ``study.json``: the resolved study (written when it starts; a different study
  is refused in the same directory);
- ``plan.json``: every role of every run (phase, trial, seed, hparams, run id),
  rewritten atomically after each phase;
- ``<run_id>/``: one run record per run (`kerasopt.records`).

A run whose ``summary.json`` exists is never executed again, so a study killed
at any moment (Ctrl-C, SIGKILL) finishes on the next start without repeating or
losing a completed run. A failed or diverged run is recorded by the task and
the study goes on; a task's bad-input error (ValueError/OSError before the run
starts) stops the study with that one line.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable

from kerasopt import records, tasks
from kerasopt.cli import UsageError
from kerasopt.study import expand
from kerasopt.study.expand import PlannedRun
from kerasopt.study.spec import BRACKET, StudySpec
from kerasopt.tasks import Task

STUDY_FILE, PLAN_FILE = "study.json", "plan.json"
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
    """Write ``study.json``, or check that the one there is this study.

    The task's declaration (``task``: its collapse rule, budget, panels) is not part of the study's
    identity: it is refreshed to the current one. Keys in `REPORT_ONLY_KEYS` (``targets``) do not change any run: when only
    they differ, ``study.json`` is updated and the results are kept. A study that
    only ADDS optimizers (the existing ones keep their search spaces) extends
    the results too: run ids hash the settings, so every completed run stays valid; so does a study that
    adds ``more_seeds`` where it had none (it only adds runs; its rule is then fixed like any other key).

    Raises:
        ValueError: ``out_dir`` holds a different study (names the first differing key).
    """
    path = out_dir / STUDY_FILE
    if path.is_file():
        try:
            existing = records.read_json_object(path, ("study",), "study record")["study"]
        except ValueError as exc:
            raise ValueError(f"{exc}; choose another --out") from None
        if not isinstance(existing, dict):
            raise ValueError(f"{path}: not a study record ('study' must be a mapping); choose another --out")
        mine = spec.to_dict()
        differing = [key for key in sorted(set(mine) | set(existing)) if mine.get(key) != existing.get(key)]
        allowed = {*REPORT_ONLY_KEYS, *(("optimizers", "search") if _adds_optimizers(existing, mine) else ()),
                   *(("more_seeds",) if "more_seeds" not in existing and "more_seeds" in mine else ())}
        blocking = [key for key in differing if key not in allowed]
        if blocking:
            raise ValueError(f"{path}: results of a different study (key {blocking[0]!r} differs from "
                             f"{spec.source}); choose another --out or another study name")
        stored = records.read_json_object(path, ("study",), "study record")
        if not differing:
            if stored.get("task") != task.describe():  # the task's declaration (collapse rule, panels) moved on
                records.write_json_atomic(path, {**stored, "task": task.describe()})
            return
    out_dir.mkdir(parents=True, exist_ok=True)
    records.write_json_atomic(path, study_record(spec, task))


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


def _adds_optimizers(existing: dict, mine: dict) -> bool:
    """True when ``mine`` keeps every optimizer of ``existing`` with its search space and adds others."""
    old, new = existing.get("optimizers", []), mine.get("optimizers", [])
    kept = all(name in new and existing.get("search", {}).get(name) == mine["search"].get(name) for name in old)
    return kept and len(new) > len(old)


def write_plan(out_dir: Path, spec: StudySpec, runs: Iterable[PlannedRun], selection: dict | None = None,
               selections: dict | None = None) -> None:
    """``plan.json``: every role of every run and, once tuning is over, the selection (`selection_record`);
    with several budgets ``selection`` is the largest budget's and ``selections`` maps each budget to its own."""
    plan = {"study": spec.name, "runs": [r.to_dict() for r in runs]}
    if selection is not None:
        plan["selection"] = selection
    if selections is not None:
        plan["selections"] = selections
    records.write_json_atomic(out_dir / PLAN_FILE, plan)


def _unique(runs: Iterable[PlannedRun]) -> list[PlannedRun]:
    """The first role of each run id, in order."""
    first: dict[str, PlannedRun] = {}
    for run in runs:
        first.setdefault(run.run_id, run)
    return list(first.values())


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
    """Run (or resume) a study.

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
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}. Valid: {', '.join(BACKENDS)}")
    if backend == "local" and (workers != 1 or address):
        raise UsageError("--workers and --address need --backend ray (the local backend runs one run at a time)")
    if backend == "ray" and importlib.util.find_spec("ray") is None:
        raise UsageError(RAY_HINT)
    task = tasks.get(spec.task, base_dir=Path(spec.source).parent)
    task_ref = getattr(task, "locator", None) or task.name  # user task files by absolute path (Ray workers' cwd may differ)
    unsupported = [name for name in spec.optimizers if name not in (*task.supported, *task.excluded)]
    if unsupported:
        raise ValueError(f"{spec.source}: optimizers: task {spec.task!r} does not support {unsupported[0]!r}. "
                         f"Valid: {', '.join(task.supported)}")
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(spec)
    try:
        first = expand.first_phase(spec, task.resolve)
    except ValueError as exc:
        raise ValueError(f"{spec.source}: {exc}") from None
    if backend == "local" and spec.base.get("threads") is not None:  # before preflight runs TensorFlow here
        from kerasopt.seeding import fix_threads

        fix_threads(spec.base["threads"])
    try:
        task.preflight(spec.base)  # user tasks: model and data checked before anything is written
    except ValueError as exc:
        raise ValueError(f"{spec.source}: task: {records.one_line_error(exc).removeprefix('ValueError: ')}") from None
    claim_out_dir(out_dir, spec, task)
    changed = changed_code_note(out_dir, task)
    write_plan(out_dir, spec, first)

    metric, mode = task.target["metric"], task.target["mode"]
    expected_final = expand.final_phase(spec, task.resolve, _any_setting(spec, first))
    total = len(_unique(first + expected_final))
    counts = {"total": total, "executed": 0, "skipped": 0}
    progress = Progress(total, 0, log)
    log(f"study {spec.name}: {total}+ runs ({spec.task}, {len(spec.optimizers)} optimizers, {_tuning_words(spec)}, "
        f"final seeds {list(spec.seeds)}) → {out_dir} [{backend}]")
    for warning in [*spec.warnings, *([changed] if changed else []), *other_hosts_note(out_dir)]:
        log(f"warning: {warning}")
    executor = _executor(backend, address, workers)  # after validation: a bad study starts no Ray
    try:
        _run_phase(first, out_dir, task_ref, executor, progress, counts, metric)
        planned = list(first)
        budgets = spec.selection_budgets()
        column = task.budget[1] if spec.budgets else None

        def outcomes_at(runs, budget):
            return _outcomes(out_dir, runs, metric, column, None if budget == budgets[-1] else budget, task.collapse)

        while True:  # bracket extensions, round by round, until every selection (every budget's) is bracketed
            tune = [r for r in planned if r.phase == "tune"]
            more = expand.extensions(spec, task.resolve, tune, [outcomes_at(tune, b) for b in budgets], mode)
            if not more:
                break
            planned += more
            write_plan(out_dir, spec, planned)
            progress.total = counts["total"] = counts["total"] + len(_unique(more))
            _run_phase(more, out_dir, task_ref, executor, progress, counts, metric)
        tune = [r for r in planned if r.phase == "tune"]
        selections = {b: selection_record(spec, tune, outcomes_at(tune, b), mode) for b in budgets}
        final = [run for b in budgets for run in expand.final_phase(spec, task.resolve, _best(selections[b]), b)]
        write_plan(out_dir, spec, planned + final, selections[budgets[-1]],
                   {str(b): s for b, s in selections.items()} if spec.budgets else None)
        progress.total = counts["total"] = len(_unique(planned + final))
        planned_ids = {r.run_id for r in planned}
        final_only = [r for r in final if r.run_id not in planned_ids]
        _run_phase(final_only, out_dir, task_ref, executor, progress, counts, metric)
        best = _best(selections[budgets[-1]])
        while spec.more_seeds:  # rounds of seeds where "worse than the best?" is undecided
            more = _next_seeds(spec, task, out_dir, best, [r for r in final if r.budget == budgets[-1]])
            if not more:
                break
            final += more
            write_plan(out_dir, spec, planned + final, selections[budgets[-1]],
                       {str(b): s for b, s in selections.items()} if spec.budgets else None)
            progress.total = counts["total"] = len(_unique(planned + final))
            log(f"more seeds (round {more[0].added_round}): {', '.join(dict.fromkeys(r.optimizer for r in more))} "
                f"on seeds {sorted({r.seed for r in more})}")
            _run_phase(more, out_dir, task_ref, executor, progress, counts, metric)
    finally:
        executor.close()
    statuses = [records.read_summary(out_dir / r.run_id).get("status") for r in _unique(planned + final)
                if records.is_complete(out_dir / r.run_id)]
    counts.update({status: statuses.count(status) for status in records.STATUSES})
    log(f"study {spec.name}: {counts['executed']} runs executed, {counts['skipped']} already complete; "
        + ", ".join(f"{counts[s]} {s}" for s in records.STATUSES))
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


def _any_setting(spec: StudySpec, first: list[PlannedRun]) -> dict:
    """A stand-in selection (first trial) to count the final runs before tuning ends."""
    best = {}
    for optimizer in spec.optimizers:
        trial = next((r for r in first if r.optimizer == optimizer and r.phase == "tune"), None)
        best[optimizer] = (0, trial.hparams) if trial else (None, expand.untuned_setting(spec, optimizer))
    return best


def _outcomes(out_dir: Path, runs: list[PlannedRun], metric: str, column: str | None = None,
              budget: int | None = None, collapse: dict | None = None) -> dict[str, tuple]:
    """run id -> ``(status, metric)`` of the completed runs among ``runs``, at ``budget`` of history
    ``column`` when given, collapsed runs by the task's rule (`kerasopt.records.outcome`)."""
    return {run.run_id: records.outcome(out_dir / run.run_id, metric, column, budget, collapse)
            for run in runs if records.is_complete(out_dir / run.run_id)}


def _next_seeds(spec: StudySpec, task: Task, out_dir: Path, best: dict, main_final: list[PlannedRun]) -> list[PlannedRun]:
    """The next round of ``more_seeds``: fresh seeds for the optimizers whose verdict against the look-0
    leader is undecided with a gap that matters, and for the leader (`kerasopt.report.verdicts`); []
    when no round is needed. A pure function of the records, so a resumed study plans the same rounds."""
    from kerasopt.report import verdicts

    rule = verdicts.MoreSeeds(**spec.more_seeds)
    headline, mode = task.headline[0], task.target["mode"]
    outcomes: dict[str, dict[int, float | None]] = {}
    for run in main_final:
        status, value = (records.outcome(out_dir / run.run_id, headline, collapse=task.collapse)
                         if records.is_complete(out_dir / run.run_id) else (None, None))
        outcomes.setdefault(run.optimizer, {})[run.seed] = value if status == "completed" else None
    shared = verdicts.on_seeds(outcomes, spec.seeds)
    configured = {name: set(by_seed) for name, by_seed in shared.items()}
    reference = verdicts.leader(shared, mode)
    values = {name: {s: v for s, v in by_seed.items() if v is not None} for name, by_seed in outcomes.items()}
    result = verdicts.verdicts(values, configured, reference, mode, rule)
    chosen = verdicts.next_round(values, configured, reference, mode, rule, result)
    if not chosen:
        return []
    done = max((run.added_round for run in main_final), default=0)
    first = max((*spec.seeds, *spec.tuning_seeds, *spec.defaults_seeds)) + 1 + done * rule.per_round
    return expand.added_seeds(spec, task.resolve, best, chosen, list(range(first, first + rule.per_round)),
                              main_final[0].budget if main_final else None, done + 1)


def _best(selection: dict) -> dict:
    """optimizer -> ``(trial, hparams)`` to rerun: the selected trial, or the fixed setting of an untuned one."""
    return {name: (chosen["trial"], chosen["hparams"]) for name, chosen in selection.items()
            if chosen["trial"] is not None or not chosen["tuned"]}


def selection_record(spec: StudySpec, tune: list[PlannedRun], outcomes: dict, mode: str) -> dict:
    """Per optimizer, what tuning chose and why (``plan.json``'s ``selection``; the report shows it).

    ``{"tuned", "trial", "hparams", "score" (mean over tuning seeds), "trials" (settings tried),
    "extensions" (settings added past an edge), "bracket" ({hyperparameter: status},
    `kerasopt.study.expand.bracket`)}``; ``trial`` is None when nothing was tuned or no trial completed.
    """
    selection = {}
    for optimizer in spec.optimizers:
        mine = [r for r in tune if r.optimizer == optimizer]
        if not mine:
            selection[optimizer] = {"tuned": False, "trial": None, "hparams": expand.untuned_setting(spec, optimizer),
                                    "score": None, "trials": 0, "extensions": 0, "bracket": {}}
            continue
        results = expand.tuning_outcomes(mine, outcomes)
        chosen = expand.select_best(results, mode)
        status, _ = expand.bracket(spec, optimizer, results, mode)
        scores = expand.setting_scores(results)
        selection[optimizer] = {
            "tuned": True, "trial": chosen[0] if chosen else None, "hparams": chosen[1] if chosen else None,
            "score": scores[chosen[0]][1] if chosen else None, "trials": len(scores),
            "extensions": len({r.trial for r in mine if r.extension}), "bracket": status}
    return selection


def _run_phase(runs, out_dir, task_name, executor, progress, counts, metric) -> None:
    pending = []
    for run in _unique(runs):
        if records.is_complete(out_dir / run.run_id):
            check_record(out_dir / run.run_id, run)
            counts["skipped"] += 1
            progress.done += 1
        else:
            pending.append(run)
    for run, summary in executor.map(task_name, [(run, str(out_dir / run.run_id)) for run in pending]):
        if summary.get("status") == BAD_INPUT:
            raise ValueError(f"run {run.run_id} ({run.optimizer}, {run.phase}): {summary['error']}")
        counts["executed"] += 1
        progress.finished(run, summary, metric)


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
