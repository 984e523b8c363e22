"""End to end with the real style task at tiny size: resume after SIGKILL, Ray vs local, bad results dir."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerasopt import records, study
from kerasopt.study.__main__ import main as study_main

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

TINY = """
name: tiny
task: style
base: {size: 32, evaluations: 3, init: noise}
optimizers: [adam, lbfgs]
search:
  adam: {learning_rate: {log_uniform: [0.1, 100]}}
  lbfgs: {}
tuning: {trials: 2, seed: 0}
seeds: [1, 2]
targets: [8000]
"""
RUNS = 8  # adam: 2 trials + 2 task defaults + 2 held-out final seeds; lbfgs: 2 defaults (its final runs are the same)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def study_command(study, out, *extra):
    return [sys.executable, "-m", "kerasopt.study", "run", str(study), "--out", str(out), *extra]


def run_study(study, out, *extra, timeout=240):
    result = subprocess.run(study_command(study, out, *extra), env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def completed(out: Path) -> dict:
    """run id → status of every completed run."""
    return {path.name: records.read_summary(path)["status"] for path in Path(out).iterdir()
            if path.is_dir() and records.is_complete(path)}


def roles(out: Path) -> list:
    plan = json.loads((Path(out) / "plan.json").read_text())["runs"]
    return sorted((r["run_id"], r["optimizer"], r["phase"], str(r["trial"]), r["seed"]) for r in plan)


@pytest.fixture(scope="module")
def study_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "tiny.yaml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def reference(study_file, tmp_path_factory):
    """The tiny study run once without interruption (local backend)."""
    out = tmp_path_factory.mktemp("reference") / "tiny"
    lines = []
    study.run_study(study.load(study_file), out_dir=out, log=lines.append)  # in-process: one TF start-up less
    assert f"[{RUNS}/{RUNS}]" in lines[-2] and "remaining ~" in lines[-2]
    assert len(completed(out)) == RUNS and set(completed(out).values()) == {"completed"}
    return out


def test_study_killed_with_sigkill_resumes_without_repeating_runs(reference, study_file, tmp_path):
    out = tmp_path / "killed"
    rng = random.Random(20260519)
    process = subprocess.Popen(study_command(study_file, out), env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not completed(out) if out.is_dir() else True:  # the first run completes
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 2.0))  # then a random point of the rest of the study
    assert process.poll() is None, "the study ended before the kill; the test needs a kill mid-study"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in out.glob("*/summary.json")}
    assert 0 < len(before) < RUNS

    log = run_study(study_file, out)

    assert completed(out) == completed(reference)
    assert roles(out) == roles(reference)
    assert f"{RUNS - len(before)} runs executed, {len(before)} already complete" in log
    for path, (mtime, content) in before.items():  # no completed run was executed again
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content


def test_ray_backend_writes_the_same_run_records(reference, study_file, tmp_path):
    out = tmp_path / "ray"
    run_study(study_file, out, "--backend", "ray", "--workers", "2", timeout=400)
    assert completed(out) == completed(reference)
    assert roles(out) == roles(reference)
    for run_id in completed(out):
        assert records.read_config(out / run_id)["settings"]["optimizer"] in ("adam", "lbfgs")
        assert (out / run_id / "history.csv").is_file() and (out / run_id / "artifacts" / "result.png").is_file()


def test_results_of_a_different_study_are_refused_and_left_alone(reference, study_file, tmp_path, capsys):
    changed = tmp_path / "changed.yaml"
    changed.write_text(TINY.replace("seeds: [1, 2]", "seeds: [1, 2, 3]"))
    before = {path: path.stat().st_mtime_ns for path in reference.rglob("*")}
    assert study_main(["run", str(changed), "--out", str(reference)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {reference / 'study.json'}: results of a different study (key 'defaults_seeds' differs")
    assert len(err.splitlines()) == 1
    assert {path: path.stat().st_mtime_ns for path in reference.rglob("*")} == before


def test_report_of_the_tiny_study(reference):
    from kerasopt.report import write_report

    text = write_report(reference).read_text()
    assert "| adam |" in text and "| lbfgs | defaults |" in text and "95% CI" in text
    assert "tuning seeds [0]; final (held-out) seeds [1, 2]" in text
    assert (reference / "image_grid.png").is_file() and (reference / "curves_evaluations.png").is_file()


def test_new_targets_keep_the_results_and_update_the_study_record(reference, study_file, tmp_path):
    changed = tmp_path / "targets.yaml"
    changed.write_text(TINY.replace("targets: [8000]", "targets: [8000, 500]"))
    summaries = {path: path.stat().st_mtime_ns for path in reference.glob("*/summary.json")}
    lines = []
    counts = study.run_study(study.load(changed), out_dir=reference, log=lines.append)
    assert (counts["executed"], counts["skipped"]) == (0, RUNS)
    assert json.loads((reference / "study.json").read_text())["study"]["targets"] == [8000, 500]
    assert {path: path.stat().st_mtime_ns for path in reference.glob("*/summary.json")} == summaries


def test_adding_an_optimizer_extends_the_study_and_keeps_its_runs(reference, tmp_path):
    import shutil

    out = tmp_path / "extended"
    shutil.copytree(reference, out)
    summaries = {path.name: path.stat().st_mtime_ns for path in out.glob("*/summary.json")}
    extended = tmp_path / "extended.yaml"
    extended.write_text(TINY.replace("[adam, lbfgs]", "[adam, lbfgs, rprop]").replace(
        "  lbfgs: {}", "  lbfgs: {}\n  rprop: {learning_rate: {log_uniform_around_default: [0.1, 10]}}"))
    counts = study.run_study(study.load(extended), out_dir=out, log=lambda line: None)
    assert (counts["executed"], counts["skipped"]) == (6, RUNS)  # rprop: 2 trials + 2 defaults + 2 finals
    assert json.loads((out / "study.json").read_text())["study"]["optimizers"] == ["adam", "lbfgs", "rprop"]
    changed = tmp_path / "changed_space.yaml"
    changed.write_text(extended.read_text().replace("[0.1, 100]", "[0.2, 100]"))
    with pytest.raises(ValueError, match="key 'search' differs"):
        study.run_study(study.load(changed), out_dir=out, log=lambda line: None)
