"""The one training harness (`kerasopt.harness`): its clock, epoch recorder, HParams view, artifact guard,
and what every task gets from it — determinism that reruns bit for bit and resume after a kill."""

import json
import os
import subprocess
import sys

import pytest

from kerasopt import harness, records
from kerasopt.harness import clock as clock_module
from kerasopt.harness.hparams import final_scalars, flat_hparams, write_hparams


def test_trace_seconds_is_the_first_steps_excess_over_the_median_of_the_rest():
    assert harness.trace_seconds([5.0, 1.0, 3.0, 1.0]) == 4.0
    assert harness.trace_seconds([0.5, 1.0, 1.0]) == 0.0  # never negative
    assert harness.trace_seconds([5.0]) == harness.trace_seconds([]) == 0.0


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(clock_module.time, "perf_counter", fake)
    return fake


def test_the_clock_counts_steps_less_the_first_steps_tracing_and_nothing_outside_them(fake_time):
    clock = harness.TrainingClock(trace_window=10, offset=2.0)
    for seconds in (5.0, 1.0, 1.0, 1.0):  # the first step traces: 4 s over the median of the rest
        with clock.step():
            fake_time.now += seconds
        fake_time.now += 100.0  # validation, logging: not training
    assert clock.trace_seconds == 4.0
    assert clock.seconds == 2.0 + 8.0 - 4.0


def test_the_clock_uses_tracing_measured_apart_and_counts_an_open_span_up_to_now(fake_time):
    clock = harness.TrainingClock()
    clock.traced(0.5)
    with clock.step():
        fake_time.now += 3.0  # a long first step is not tracing when tracing was measured apart
    clock.start()
    fake_time.now += 1.5
    assert clock.trace_seconds == 0.5 and clock.seconds == 4.5
    clock.stop()
    fake_time.now += 10.0
    assert clock.seconds == 4.5


def test_the_trace_estimate_looks_at_the_first_steps_only(fake_time):
    clock = harness.TrainingClock(trace_window=2)
    for seconds in (9.0, 1.0, 1.0, 50.0, 50.0):  # later slow steps do not move the estimate
        with clock.step():
            fake_time.now += seconds
    assert clock.trace_seconds == 8.0


class FakeRecord:
    def __init__(self):
        self.rows = []

    def log(self, row):
        self.rows.append(row)


class FakeModel:
    class optimizer:
        iterations = 0


def test_the_epoch_recorder_writes_its_columns_keeps_the_monitor_and_finds_the_best_epoch(fake_time):
    record = FakeRecord()
    recorder = harness.EpochRecorder(record, "val_dice", ("loss", "val_dice"),
                                     previous_rows=[{"seconds": "7.0", "val_dice": "0.5"}])
    recorder.set_model(FakeModel())
    for epoch, logs in enumerate(({"loss": 1.0, "val_dice": 0.7, "extra": 3}, {"loss": 0.5, "val_dice": None},
                                  {"loss": 0.4, "val_dice": 0.7}), start=1):
        recorder.on_epoch_begin(epoch)
        fake_time.now += 2.0
        recorder.on_test_begin()
        fake_time.now += 5.0  # validation
        recorder.on_epoch_end(epoch, logs)
    assert [list(row) for row in record.rows] == [["step", "evaluations", "seconds", "loss", "val_dice", "epoch"]] * 3
    assert [row["seconds"] for row in record.rows] == [9.0, 11.0, 13.0]  # resumed at 7 s; validation left out
    assert recorder.values == [0.5, 0.7, None, 0.7]
    assert recorder.best_epoch("max") == 2 and recorder.best_epoch("min") == 1  # the first of equal values


def test_a_non_finite_batch_loss_is_named_with_its_step():
    assert harness.non_finite(float("nan"), "step 3") == "non-finite loss nan at step 3"
    assert harness.non_finite(1.5, "step 3") is None and harness.non_finite(None, "x") is None


def test_an_artifact_that_fails_is_recorded_in_one_line_and_the_run_stands():
    metrics = {}
    with harness.kept_on_error(metrics, "grid_error"):
        raise OSError("disk full")
    assert metrics == {"grid_error": "OSError: disk full"} or "disk full" in metrics["grid_error"]
    with pytest.raises(KeyError):
        with harness.kept_on_error(metrics, "grid_error"):
            raise KeyError("a bug is not an artifact failure")


def test_hparams_flatten_nested_settings_and_keep_only_finite_metrics():
    assert flat_hparams({"optimizer": "adam", "hparams": {"learning_rate": 0.1}, "snapshots": [1, 2],
                         "threads": None}) == {"optimizer": "adam", "hparams.learning_rate": 0.1,
                                               "snapshots": "[1, 2]", "threads": "None"}
    assert final_scalars({"metrics": {"loss": 1.5, "bad": None, "nan": float("nan"), "flag": True},
                          "train_seconds": 3.0, "wall_seconds": 4.0}) == {"loss": 1.5, "train_seconds": 3.0,
                                                                          "wall_seconds": 4.0}


def test_a_run_is_written_to_the_hparams_dashboard(tmp_path):
    pytest.importorskip("tensorboard")
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    folder = write_hparams(tmp_path / "run", {"optimizer": "adam", "hparams": {"learning_rate": 0.01}},
                           {"status": "completed", "metrics": {"val_loss": 2.5}, "train_seconds": 1.0})
    tags, hparams = {}, {}
    for path in folder.iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    hparams.update({k: v for k, v in data.session_start_info.hparams.items()})
                else:
                    tags[value.tag] = float(tf.make_ndarray(value.tensor))
    assert tags == {"val_loss": 2.5, "train_seconds": 1.0}
    assert hparams["optimizer"].string_value == "adam" and hparams["status"].string_value == "completed"
    assert hparams["hparams.learning_rate"].number_value == 0.01


# --- what every task gets ---------------------------------------------------------------------------------

TINY_TASK = '''
import sys
import keras
import numpy as np
import kerasopt

rng = np.random.default_rng(0)
x = rng.normal(size=(96, 4)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int64")


def build_model(seed):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(2, activation="softmax")])


TASK = kerasopt.KerasTask(build_model, train=(x[:64], y[:64]), validation=(x[64:80], y[64:80]),
                          test=(x[80:], y[80:]), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                          target="accuracy", mode="max", epochs=3, batch_size=16, collapse=None, name="tiny")

if __name__ == "__main__":
    settings = {"optimizer": "adam", "seed": 1, "threads": 1, "deterministic": sys.argv[2] == "1"}
    print(TASK.run(TASK.resolve(settings), sys.argv[1], progress=True)["status"])
'''


def _run_tiny(script, run_dir, deterministic=True, kill_after=None):
    from test_defects_resume import command

    process = subprocess.run(command(str(script), [str(run_dir), "1" if deterministic else "0"], kill_after),
                             capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return process


def _without_seconds(run_dir):
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in records.read_history(run_dir)]
    metrics = {k: v for k, v in records.read_summary(run_dir)["metrics"].items() if k != "train_seconds"}
    return rows, metrics


@pytest.mark.slow
def test_a_deterministic_run_reruns_bit_for_bit_and_records_its_host(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(TINY_TASK)
    for name in ("first", "second"):
        done = _run_tiny(script, tmp_path / name)
        assert done.returncode == 0 and "completed" in done.stdout, done.stderr[-2000:]
    assert _without_seconds(tmp_path / "first") == _without_seconds(tmp_path / "second")
    config = json.loads((tmp_path / "first" / "config.json").read_text())
    assert config["deterministic"] is True and config["settings"]["deterministic"] is True
    assert config["environment"]["host_id"] == records.host_id(config["environment"]["host"])
    assert (tmp_path / "first" / "artifacts" / "tensorboard" / "hparams").is_dir()


@pytest.mark.slow
def test_your_own_models_run_killed_after_an_epoch_resumes_to_the_same_record(tmp_path):
    script = tmp_path / "tiny.py"
    script.write_text(TINY_TASK)
    straight = _run_tiny(script, tmp_path / "straight")
    killed = _run_tiny(script, tmp_path / "resumed", kill_after=1)  # 2 of 3 epochs resumed
    assert straight.returncode == 0, straight.stderr[-2000:]
    assert killed.returncode == -9 and (tmp_path / "resumed" / "backup").is_dir(), killed.stderr[-2000:]
    resumed = _run_tiny(script, tmp_path / "resumed")
    assert resumed.returncode == 0 and "resuming" in resumed.stdout, resumed.stderr[-2000:]
    assert _without_seconds(tmp_path / "resumed") == _without_seconds(tmp_path / "straight")
    assert not (tmp_path / "resumed" / "backup").exists()


RUNS_IN_ONE_PROCESS = '''
import json, sys
from kerasopt import tasks
task = tasks.get(sys.argv[1])
base = json.loads(sys.argv[2])
for pair in sys.argv[3:]:
    optimizer, run_dir = pair.split("=", 1)
    print("status", task.run(task.resolve({**base, "optimizer": optimizer}), run_dir)["status"])
'''


@pytest.mark.slow
@pytest.mark.parametrize("task", ["faststyle", "defects"])
def test_a_worker_reused_after_another_run_writes_the_record_a_fresh_process_writes(tmp_path, task):
    """A study's Ray worker (or a local study) runs many runs in one process, reusing what a task caches
    (fast style: the feature network and photos; defects: the data); the record must not depend on it."""
    if task == "faststyle":
        from test_faststyle import write_photos

        data = write_photos(tmp_path / "photos", 6)[0].parent
        base = {"data": str(data), "size": 32, "steps": 4, "batch_size": 2, "width": 0.125, "eval_every": 2,
                "log_every": 2}
    else:
        from kerasopt.defects.synth import generate

        generate(tmp_path / "data", n=16, size=32, seed=0)
        base = {"data": str(tmp_path / "data"), "backbone": "vgg16", "size": 32, "epochs": 2, "batch_size": 4,
                "bn_batches": 2, "save_model": False, "overlays": 0}
    base.update(seed=1, threads=1, deterministic=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    def runs(*pairs):
        done = subprocess.run([sys.executable, "-c", RUNS_IN_ONE_PROCESS, task, json.dumps(base), *pairs],
                              capture_output=True, text=True, env=env, timeout=900)
        statuses = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("status ")]
        assert done.returncode == 0 and statuses == ["completed"] * len(pairs), done.stderr[-2000:]

    runs(f"sgd={tmp_path / 'first'}", f"adam={tmp_path / 'reused'}")
    runs(f"adam={tmp_path / 'fresh'}")
    assert _without_seconds(tmp_path / "reused") == _without_seconds(tmp_path / "fresh")
