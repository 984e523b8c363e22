"""A run killed mid-training (SIGKILL) and started again with the same command resumes and ends identically."""

import json
import os
import signal
import subprocess
import sys

import pytest

from kerasopt.defects.synth import generate
from kerasopt.records import read_history, read_summary

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`


KILLED_AFTER_BACKUP = """
import os, runpy, signal, sys
import keras
kill_after = int(sys.argv.pop(1))
backup = keras.callbacks.BackupAndRestore.on_epoch_end
def on_epoch_end(self, epoch, logs=None):  # SIGKILL once epoch `kill_after` is backed up
    backup(self, epoch, logs)
    if epoch + 1 == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
keras.callbacks.BackupAndRestore.on_epoch_end = on_epoch_end
from kerasopt.harness.resume import LoopBackup
loop_save, saves = LoopBackup.save, []
def save(self, step):  # a training loop (fast style): SIGKILL once its `kill_after`-th backup is written
    loop_save(self, step)
    saves.append(step)
    if len(saves) == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
LoopBackup.save = save
target = sys.argv.pop(1)
sys.argv[0] = target
if target.endswith(".py"):
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""
"""Runs a module (as ``python -m`` would) or a script, killed (SIGKILL) right after epoch k's backup (a
training loop: its k-th backup):
``python -c KILLED_AFTER_BACKUP k module-or-script.py args...`` (a test wrapper; the package has no kill hook)."""


def command(module: str, arguments: list[str], kill_after: int | None = None) -> list[str]:
    """``python -m module arguments`` (``python script.py arguments``), or the same run killed after epoch
    ``kill_after``'s backup."""
    if kill_after is None:
        return [sys.executable, *([] if module.endswith(".py") else ["-m"]), module, *arguments]
    return [sys.executable, "-c", KILLED_AFTER_BACKUP, str(kill_after), module, *arguments]


def _start(data, out, kill_after=None):
    """The training command as a started process (stdout and stderr as text)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    arguments = ["--optimizer", "adam", "--data", str(data), "--out", str(out), "--backbone", "vgg16", "--size",
                 "32", "--epochs", "3", "--batch-size", "4", "--bn-batches", "2", "--deterministic"]
    return subprocess.Popen(command("kerasopt.defects", arguments, kill_after), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _finish(process):
    stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_killed_run_resumes_from_its_last_epoch_with_the_same_result(tmp_path):
    generate(tmp_path / "data", n=16, size=32, seed=0)
    straight = _start(tmp_path / "data", tmp_path / "straight")  # the reference, run beside the killed one
    killed = _finish(_start(tmp_path / "data", tmp_path / "resumed", kill_after=2))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run = tmp_path / "resumed" / "adam"
    assert not (run / "summary.json").exists() and (run / "backup").is_dir()
    assert [row["epoch"] for row in read_history(run)] == [1, 2]
    created = json.loads((run / "config.json").read_text())["created"]

    finished = _finish(_start(tmp_path / "data", tmp_path / "resumed"))
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "resuming" in finished.stdout
    reference = _finish(straight)
    assert reference.returncode == 0, reference.stderr[-2000:]

    history, expected = read_history(run), read_history(tmp_path / "straight" / "adam")
    assert [row["epoch"] for row in history] == [1, 2, 3]  # kept, continued, no duplicates
    for row, other in zip(history, expected):
        for column in ("step", "loss", "dice", "val_loss", "val_dice"):
            assert row[column] == pytest.approx(other[column], rel=1e-6, abs=1e-7), (column, row, other)
    metrics, reference_metrics = read_summary(run)["metrics"], read_summary(tmp_path / "straight" / "adam")["metrics"]
    for name in ("val_dice", "test_dice", "test_iou", "best_epoch", "steps", "epochs"):
        assert metrics[name] == pytest.approx(reference_metrics[name], rel=1e-6, abs=1e-7), name
    config = json.loads((run / "config.json").read_text())
    assert config["created"] == created and config["resumed"][0]["from_epoch"] == 2
    assert not (run / "backup").exists()  # removed when training ended normally
