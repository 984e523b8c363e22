"""Your own Keras model through the protocol (`kerasopt.KerasTask`): study files naming the task by
import path, the Python API, identity per run, and one-line refusals of bad input."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kerasopt import records, tasks
from kerasopt.study import StudySpec, run_id
from kerasopt.study.__main__ import main as study_main

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

TASK_FILE = '''
import keras
import numpy as np
import kerasopt

rng = np.random.default_rng(0)
x = rng.normal(size=(96, 4)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")


def build_model(seed):
    return {model}


TASK = kerasopt.KerasTask(build_model, train=(x[:64], y[:64]), validation=(x[64:80], y[64:80]),
                          test=(x[80:], y[80:]), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"], target={target!r}, mode="max", epochs=2, batch_size=16,
                          optimizers={optimizers!r}, collapse=None)  # 2 epochs on 64 points often end at chance
'''
GOOD_MODEL = 'keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])'

STUDY = """
name: mine
task: '{task}'
optimizers: [sgd, adam]
search:
  others: {{learning_rate: {{log_uniform_around_default: [0.3, 3.0]}}}}
tuning: {{sampler: bracket, spacing: 0.5, extensions: 0, seeds: [0]}}
seeds: [1, 2]
"""


def write_task(folder: Path, model: str = GOOD_MODEL, target: str = "accuracy", optimizers=None,
               name: str = "my_task.py") -> Path:
    path = folder / name
    path.write_text(TASK_FILE.format(model=model, target=target, optimizers=optimizers))
    return path


def write_study(folder: Path, task: str, **changes) -> Path:
    path = folder / "study.yaml"
    text = STUDY.format(task=task)
    for old, new in changes.items():
        text = text.replace(old, new)
    path.write_text(text)
    return path


def test_study_on_a_user_task_file_runs_and_its_report_ranks_by_the_target(tmp_path):
    task_file = write_task(tmp_path)
    study = write_study(tmp_path, f"{task_file}:TASK")
    out = tmp_path / "out"
    for command in (["run", str(study), "--out", str(out)], ["report", str(out)]):
        result = subprocess.run([sys.executable, "-m", "kerasopt.study", *command], env=ENV, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = (out / "report.md").read_text()
    assert "## Final test_accuracy per optimizer (ranked)" in report
    assert "tuning selected on `val_accuracy`" in report
    with open(out / "main_table.csv") as handle:
        ranked = list(csv.DictReader(handle))
    assert sorted(row["optimizer"] for row in ranked) == ["adam", "sgd"]
    plan = json.loads((out / "plan.json").read_text())["runs"]
    settings = records.read_config(out / plan[0]["run_id"])["settings"]
    assert settings["task"] == f"{task_file}:TASK"
    assert settings["task_source"].startswith(f"{task_file}:TASK sha256:")
    assert (out / plan[0]["run_id"] / "artifacts" / "best.keras").is_file()


def test_relative_task_file_is_found_next_to_the_study_file(tmp_path, monkeypatch):
    write_task(tmp_path)
    monkeypatch.chdir(tmp_path.parent)
    spec = StudySpec.from_dict({"name": "x", "task": "my_task.py:TASK", "optimizers": ["adam"],
                                "search": {"adam": {"learning_rate": 0.01}}, "seeds": [1]},
                               source=str(tmp_path / "study.yaml"))
    assert spec.task == "my_task.py:TASK"
    monkeypatch.chdir(tmp_path)  # without a study file: relative to the working directory
    assert tasks.get("my_task.py:TASK").locator == f"{tmp_path / 'my_task.py'}:TASK"


def test_a_changed_task_file_changes_every_run_id(tmp_path):
    ids = []
    for folder, model in (("a", GOOD_MODEL), ("b", GOOD_MODEL.replace('"softmax"', '"softmax", use_bias=False'))):
        (tmp_path / folder).mkdir()
        write_task(tmp_path / folder, model=model)
        task = tasks.get("my_task.py:TASK", base_dir=tmp_path / folder)  # the same import path as written
        ids.append(run_id(task.name, task.resolve({"optimizer": "adam", "seed": 1})))
    assert ids[0] != ids[1]


def test_python_api_runs_a_study_on_a_task_object(tmp_path):
    from kerasopt import study

    task = tasks.get(f"{write_task(tmp_path)}:TASK")
    counts = study.run({"name": "api", "optimizers": ["adam"], "search": {"adam": {"learning_rate": 0.01}},
                        "seeds": [1]}, task=task, out_dir=tmp_path / "out", log=lambda line: None)
    assert counts["completed"] == counts["total"] == 2  # the tuning trial and the held-out seed
    summary = records.read_summary(next(p for p in (tmp_path / "out").iterdir() if p.is_dir()))
    assert summary["metrics"]["test_accuracy"] >= 0


BAD = {
    "does not import": (dict(model="keras.Sequential([)"), "does not import"),
    "not a model": (dict(model="42"), "returned int, not a keras.Model"),
    "compiled": (dict(model=f'(lambda m: (m.compile(loss="mse"), m)[1])({GOOD_MODEL})'), "returned a compiled model"),
    "shapes": (dict(model='keras.Sequential([keras.Input((5,)), keras.layers.Dense(2, activation="softmax")])'),
               "do not fit the model"),
    "metric": (dict(target="auc"), "target metric 'auc' is not computed"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_user_task_is_refused_in_one_line_and_nothing_is_written(case, tmp_path, capsys):
    changes, message = BAD[case]
    task_file = write_task(tmp_path, name="bad_" + case.replace(" ", "_") + ".py", **changes)
    study = write_study(tmp_path, f"{task_file}:TASK")
    out = tmp_path / "out"
    assert study_main(["run", str(study), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and len(error.splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("reference, message", [
    ("missing.py:TASK", "no file missing.py"),
    ("my_task.py:NOPE", "names nothing called 'NOPE'"),
    ("my_task.py:np", "is a module, not a kerasopt.KerasTask"),
    ("no_such_package.module:TASK", "module no_such_package.module does not import"),
    ("my_task.py:", "expected path/to/file.py:NAME"),
])
def test_bad_task_reference_is_refused_in_one_line(reference, message, tmp_path, capsys):
    write_task(tmp_path)
    study = write_study(tmp_path, reference)
    assert study_main(["run", str(study), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1 and not (tmp_path / "out").exists()


def test_full_batch_driver_is_refused_for_a_user_task(tmp_path, capsys):
    study = write_study(tmp_path, f"{write_task(tmp_path)}:TASK", **{"[sgd, adam]": "[adam, lbfgs]"})
    assert study_main(["run", str(study), "--out", str(tmp_path / "out")]) == 2
    assert "unsupported optimizer 'lbfgs'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="full-batch driver"):
        write_task(tmp_path, optimizers=["adam", "lbfgs"], name="drivers.py")
        tasks.get(f"{tmp_path / 'drivers.py'}:TASK")


def test_a_task_built_in_python_trains_on_tf_data_and_records_its_identity(tmp_path):
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasopt import KerasTask

    def build_model(seed):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5, 0.0], "float32")
    task = KerasTask(build_model, train=tf.data.Dataset.from_tensor_slices((x[:32], y[:32])),
                     validation=lambda: (x[32:], y[32:]), loss="mse", metrics=["mae"], target="mae", mode="min",
                     epochs=2, batch_size=8, optimizers=["adam", "sgd"], name="regression")
    assert task.target == {"metric": "val_mae", "mode": "min"} and task.headline == ("val_mae",)
    assert task.identity.startswith("regression sha256:")  # hash of this test file, where build_model lives
    summary = task.run(task.resolve({"optimizer": "sgd", "seed": 3}), tmp_path / "run")
    assert summary["status"] == "completed" and summary["metrics"]["epochs"] == 2
    assert summary["metrics"]["steps"] == 8 and summary["metrics"]["val_mae"] >= 0
    history = records.read_history(tmp_path / "run")
    assert [row["epoch"] for row in history] == [1, 2] and "val_mae" in history[0]
    with pytest.raises(ValueError, match="not in the registry|Unknown optimizer|full-batch"):
        task.resolve({"optimizer": "lbfgs"})


# --- your own model without surprises ---------------------------------------------------------------------


def test_a_test_split_that_does_not_fit_is_refused_before_anything_is_written(tmp_path, capsys):
    task_file = write_task(tmp_path, name="bad_test_split.py")
    task_file.write_text(task_file.read_text().replace("test=(x[80:], y[80:])", "test=(x[80:, :3], y[80:])"))
    out = tmp_path / "out"
    assert study_main(["run", str(write_study(tmp_path, f"{task_file}:TASK")), "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "the test data (x (4, 3), y (4,)) do not fit" in error, error
    assert "the model's input has shape (None, 4)" in error and not out.exists()


def test_an_already_batched_dataset_is_named_as_the_cause(tmp_path, capsys):
    task_file = write_task(tmp_path, name="batched.py")
    text = task_file.read_text().replace("train=(x[:64], y[:64])",
                                         "train=__import__('tensorflow').data.Dataset.from_tensor_slices("
                                         "(x[:64], y[:64])).batch(8)")
    task_file.write_text(text)
    assert study_main(["run", str(write_study(tmp_path, f"{task_file}:TASK")), "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "the train data" in error and "looks batched" in error, error


def test_a_run_that_fails_in_user_code_is_recorded_and_the_study_goes_on(tmp_path):
    task_file = write_task(tmp_path, name="flaky.py")
    task_file.write_text(task_file.read_text().replace(
        "def build_model(seed):\n", "def build_model(seed):\n    if seed == 2:\n        raise RuntimeError('no model for seed 2')\n"))
    out = tmp_path / "out"
    assert study_main(["run", str(write_study(tmp_path, f"{task_file}:TASK")), "--out", str(out)]) == 0
    failed = [records.read_summary(d) for d in records.completed_runs(out)
              if records.read_summary(d)["status"] == "failed"]
    assert len(failed) == 4 and all("RuntimeError: no model for seed 2" in s["error"] for s in failed)
    assert study_main(["report", str(out)]) == 0  # the rest is reported
    assert "failed" in (out / "report.md").read_text()
    assert study_main(["run", str(write_study(tmp_path, f"{task_file}:TASK")), "--out", str(out)]) == 0  # resumes


def test_a_task_file_imports_a_module_beside_it_and_its_edits_change_the_runs(tmp_path, capsys):
    (tmp_path / "models.py").write_text("import keras\n\n\ndef small():\n    return keras.Sequential("
                                        "[keras.Input((4,)), keras.layers.Dense(2, activation='softmax')])\n")
    task_file = write_task(tmp_path, model="models.small()", name="sibling.py")
    task_file.write_text("import models\n" + task_file.read_text())
    study, out = write_study(tmp_path, f"{task_file}:TASK"), tmp_path / "out"
    assert study_main(["run", str(study), "--out", str(out)]) == 0
    first = {d.name for d in records.completed_runs(out)}
    capsys.readouterr()
    (tmp_path / "models.py").write_text((tmp_path / "models.py").read_text() + "# a comment: same code\n")
    assert study_main(["run", str(study), "--out", str(out)]) == 0
    assert "0 runs executed" in capsys.readouterr().out  # comments do not change the runs
    (tmp_path / "models.py").write_text((tmp_path / "models.py").read_text().replace(
        "Dense(2,", "Dense(8, activation='relu'), keras.layers.Dense(2,"))
    tasks._BUILT.clear()
    assert study_main(["run", str(study), "--out", str(out)]) == 0
    output = capsys.readouterr().out
    assert "warning: the task's code changed" in output and "0 runs executed" not in output
    assert not first & {d.name for d in records.completed_runs(out)} - first  # new ids
    assert len({d.name for d in records.completed_runs(out)} - first) == len(first)


def test_code_digest_ignores_comments_and_follows_local_imports(tmp_path):
    from kerasopt.task_source import code_digest, local_modules

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "layers.py").write_text("WIDTH = 4\n")
    (tmp_path / "helpers.py").write_text("from pkg import layers\n")
    task = tmp_path / "task.py"
    task.write_text("import numpy\n\ndef f():\n    import helpers\n    return helpers\n")
    assert [p.name for p in local_modules(task)] == ["helpers.py", "__init__.py", "layers.py"]
    before = code_digest(task)
    task.write_text("import numpy  # numbers\n\n\ndef f():\n    import helpers   \n    return helpers\n")
    assert code_digest(task) == before
    (tmp_path / "pkg" / "layers.py").write_text("WIDTH = 8\n")
    assert code_digest(task) != before


def test_a_dataset_of_unknown_size_trains_at_a_constant_rate_and_refuses_a_schedule(tmp_path):
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasopt import KerasTask

    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = x @ np.array([1.0, -2.0, 0.5, 0.0], "float32")
    unknown = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).filter(lambda a, b: True)  # cardinality -2
    task = KerasTask(lambda seed: keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), train=unknown,
                     validation=(x[32:], y[32:]), loss="mse", metrics=["mae"], target="mae", mode="min",
                     epochs=1, batch_size=8, optimizers=["adam"], name="unknown_size")
    assert task.run(task.resolve({"optimizer": "adam", "seed": 1}), tmp_path / "constant")["status"] == "completed"
    with pytest.raises(ValueError, match="the run's number of steps is unknown"):
        task.run(task.resolve({"optimizer": "adam", "seed": 1, "schedule": "cosine"}), tmp_path / "cosine")
