"""Merging partial results directories of one study (several machines, Colab runtimes, Ray workers
without shared storage) into one: ``python -m kerasopt.study merge DIR... --out DIR``.

Rules:

- every input holds the ``study.json`` of the same study (keys that only change the report,
  such as ``targets``, may differ; the first input's record is kept);
- a run id present in several inputs must have the same settings and the same kerasopt
  version in each; otherwise nothing is merged and one line names both records;
- per run id the best record wins: completed, then diverged, then failed, then unfinished
  (no ``summary.json``); among equals the one already in ``--out``, then the first input;
- a record already in ``--out`` is only replaced by a strictly better one (an unfinished or
  failed run by a completed one), never by an equal one: nothing completed is lost or
  overwritten;
- ``plan.json`` becomes the union of the inputs' roles without a selection: resume the
  study (``python -m kerasopt.study run``) to select and finish it; that repeats no run.

Files only, no TensorFlow.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from kerasopt import records
from kerasopt.layout import PLAN, SHOWN, STUDY
from kerasopt.study.runner import REPORT_ONLY_KEYS

RANK = {"completed": 0, "diverged": 1, "failed": 2, None: 3}  # lower is better; None: unfinished


def _identity(study: dict) -> dict:
    return {key: value for key, value in study["study"].items() if key not in REPORT_ONLY_KEYS}


def _run_dirs(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_dir() and (p / records.CONFIG).is_file())


def _fingerprint(run_dir: Path) -> tuple[dict, str | None]:
    """``(settings, kerasopt version)`` of a record."""
    config = records.read_config(run_dir)
    version = config.get("environment", {}).get("versions", {}).get("kerasopt") \
        if isinstance(config.get("environment"), dict) else None
    return config["settings"], version


def plan_union(directories: list[Path]) -> dict | None:
    """The roles of every input's ``plan.json`` (first occurrence of each role kept), no selection."""
    roles, seen, name = [], set(), None
    for directory in directories:
        path = directory / PLAN
        if not path.is_file():
            continue
        try:
            plan = json.loads(path.read_text())
            runs = plan["runs"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: unreadable plan ({records.one_line_error(exc)})") from None
        name = name or plan.get("study")
        for role in runs:
            key = json.dumps({k: role.get(k) for k in ("run_id", "phase", "trial", "seed")}, sort_keys=True)
            if key not in seen:
                seen.add(key)
                roles.append(role)
    return {"study": name, "runs": roles} if roles else None


def merge(inputs: list[str | Path], out: str | Path, log=print) -> dict:
    """Merge the results directories ``inputs`` of one study into ``out`` (which may be one of them).

    Returns:
        Counts ``{"copied", "kept", "replaced", "runs"}``.

    Raises:
        ValueError: one line naming the file: a missing or foreign study record, two different
            studies, or one run id with different settings or kerasopt versions.
    """
    out = Path(out)
    sources = [Path(d) for d in inputs]
    for directory in sources:
        if not directory.is_dir():
            raise ValueError(f"{directory}: no such results directory")
    studies = [(d, records.read_study(d)) for d in sources]
    if (out / STUDY).is_file() and out.resolve() not in {d.resolve() for d in sources}:
        studies.insert(0, (out, records.read_study(out)))
    first_dir, first = studies[0]
    for directory, study in studies[1:]:
        if _identity(study) != _identity(first):
            key = next(k for k in sorted(set(_identity(study)) | set(_identity(first)))
                       if _identity(study).get(k) != _identity(first).get(k))
            raise ValueError(f"{directory / STUDY}: a different study than {first_dir / STUDY} "
                             f"(key {key!r} differs); refusing to merge")
    candidates: dict[str, list[Path]] = {}
    for directory, _ in studies:
        for run_dir in _run_dirs(directory):
            candidates.setdefault(run_dir.name, []).append(run_dir)
    for run_id, dirs in candidates.items():  # check everything before writing anything
        reference = _fingerprint(dirs[0])
        for other in dirs[1:]:
            mine = _fingerprint(other)
            if mine[0] != reference[0]:
                raise ValueError(f"{other / records.CONFIG}: run {run_id} has other settings than "
                                 f"{dirs[0] / records.CONFIG}; refusing to merge")
            if mine[1] != reference[1]:
                raise ValueError(f"{other / records.CONFIG}: run {run_id} was made by kerasopt {mine[1]}, "
                                 f"{dirs[0] / records.CONFIG} by kerasopt {reference[1]}; refusing to merge")
    out.mkdir(parents=True, exist_ok=True)
    counts = {"copied": 0, "kept": 0, "replaced": 0, "runs": len(candidates)}
    for run_id, dirs in sorted(candidates.items()):
        target = out / run_id
        rank = {d: RANK[records.read_summary(d)["status"] if records.is_complete(d) else None]
                for d in {*dirs, *([target] if target.exists() else [])}}
        best = min(dirs, key=lambda d: (rank[d], d.resolve() != target.resolve()))
        if best.resolve() == target.resolve() or (target.exists() and rank[target] <= rank[best]):
            counts["kept"] += 1
            continue
        replaced = target.exists()
        _copy_atomic(best, target)
        counts["replaced" if replaced else "copied"] += 1
    _copy_report_images([d for d, _ in studies], out)
    records.write_json_atomic(out / STUDY, first)
    plan = plan_union([d for d, _ in studies])
    if plan is not None:
        records.write_json_atomic(out / PLAN, plan)
    log(f"merged {len(sources)} directories into {out}: {counts['runs']} runs "
        f"({counts['copied']} copied, {counts['replaced']} replaced by a better record, {counts['kept']} kept)")
    return counts


def _copy_report_images(directories: list[Path], out: Path) -> None:
    """Copy the images a report keeps in a runs directory (at its root: a task's shared panel; under
    ``shown/``: the result images it shows) that ``out`` lacks, so committed records merge without losing them."""
    for directory in directories:
        for path in [*sorted(directory.glob("*.png")), *sorted((directory / SHOWN).glob("*"))]:
            target = out / path.relative_to(directory)
            if path.is_file() and not target.exists():
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(path, target)


def _copy_atomic(source: Path, target: Path) -> None:
    """Copy a run directory so that ``target`` is either the old record or the whole new one."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        shutil.copytree(source, staging / "run")
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            target.rename(old)
            (staging / "run").rename(target)
            shutil.rmtree(old)
        else:
            (staging / "run").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
