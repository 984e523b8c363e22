"""Reading a study's results directory into pandas tables (files only; no TensorFlow)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kerasopt import records

STUDY_FILE, PLAN_FILE = "study.json", "plan.json"


def load_study(runs_dir: str | Path) -> dict:
    """``study.json`` of ``runs_dir``: ``{"study": spec dict, "target": {...}, ...}``.

    Raises:
        FileNotFoundError: ``runs_dir`` or its study.json is missing.
        ValueError: study.json or plan.json is unreadable.
    """
    runs_dir = Path(runs_dir)
    path = runs_dir / STUDY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; give the results directory of a study "
                                f"(python -m kerasopt.study run writes it)")
    return _read_json(path, ("study", "target"))


def _read_json(path: Path, keys: tuple) -> dict:
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    missing = [key for key in keys if not isinstance(data, dict) or key not in data]
    if missing:
        raise ValueError(f"{path}: key {missing[0]!r} missing")
    return data


def format_setting(hparams: dict) -> str:
    """``{"learning_rate": 0.0123}`` → ``"learning_rate=0.0123"``; ``{}`` → ``"defaults"``."""
    if not hparams:
        return "defaults"
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(hparams.items()))


def load_runs(runs_dir: str | Path, metric: str) -> pd.DataFrame:
    """One row per role of a run in ``plan.json``, joined with its summary.

    Columns: run_id, optimizer, phase, trial, seed, hparams (dict), setting
    (text), learning_rate (NaN when not set by the study), complete, status,
    metric (the summary's ``metrics[metric]``, NaN when missing or not finite),
    wall_seconds, error.
    """
    runs_dir = Path(runs_dir)
    plan = _read_json(runs_dir / PLAN_FILE, ("runs",))["runs"] if (runs_dir / PLAN_FILE).is_file() else []
    rows = []
    for role in plan:
        run_dir = runs_dir / role["run_id"]
        summary = records.read_summary(run_dir) if records.is_complete(run_dir) else {}
        value = summary.get("metrics", {}).get(metric)
        rows.append({
            "run_id": role["run_id"], "optimizer": role["optimizer"], "phase": role["phase"],
            "trial": role["trial"], "seed": role["seed"], "hparams": role["hparams"],
            "setting": format_setting(role["hparams"]),
            "learning_rate": float(role["hparams"].get("learning_rate", "nan")),
            "complete": bool(summary), "status": summary.get("status"),
            "metric": float(value) if records.is_finite(value) else float("nan"),
            "wall_seconds": summary.get("wall_seconds"), "error": summary.get("error")})
    columns = ["run_id", "optimizer", "phase", "trial", "seed", "hparams", "setting", "learning_rate",
               "complete", "status", "metric", "wall_seconds", "error"]
    return pd.DataFrame(rows, columns=columns)


def load_history(runs_dir: str | Path, run_id: str) -> list[dict]:
    """The history rows of one run (`kerasopt.records.read_history`)."""
    return records.read_history(Path(runs_dir) / run_id)


def result_image(runs_dir: str | Path, run_id: str) -> Path | None:
    """``artifacts/result.png`` of a run, if it exists."""
    path = Path(runs_dir) / run_id / records.ARTIFACTS / "result.png"
    return path if path.is_file() else None
