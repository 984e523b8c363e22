"""End-to-end: one epoch on tiny plain-folder and MVTec-layout data; divergence; the CLI."""

import dataclasses
import shutil

import numpy as np
import pytest

from kerasopt import optimizers
from kerasopt.cli import run_cli
from kerasopt.defects import TARGET, DefectsConfig, run
from kerasopt.defects.synth import generate
from kerasopt.records import read_config, read_history, read_summary

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

TINY = {"backbone": "vgg16", "size": 32, "epochs": 1, "batch_size": 4, "overlays": 2}  # vgg16 traces fastest
METRICS = ("val_dice", "test_dice", "test_iou", "test_precision", "test_recall", "image_ap", "image_auroc")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain")
    generate(root, n=16, size=32, seed=0)
    return root


@pytest.fixture(scope="module")
def cli_out(plain, tmp_path_factory):
    """One epoch of ``--optimizer sgd,adam`` where sgd's registry rate is absurd (1e12): sgd diverges, adam still runs."""
    from kerasopt.defects.__main__ import main

    out = tmp_path_factory.mktemp("cli")
    original = optimizers.REGISTRY["sgd"]
    optimizers.REGISTRY["sgd"] = dataclasses.replace(original, defaults={"learning_rate": 1e12})
    try:
        code = run_cli(main, ["--optimizer", "sgd,adam", "--data", str(plain), "--out", str(out),
                              "--backbone", "vgg16", "--size", "32", "--epochs", "1", "--batch-size", "4"])
    finally:
        optimizers.REGISTRY["sgd"] = original
    return code, out


def test_plain_folder_run_completes_with_record_metrics_and_artifacts(cli_out):
    code, out = cli_out
    assert code == 0
    summary = read_summary(out / "adam")
    assert summary["status"] == "completed"
    assert all(summary["metrics"][name] is not None for name in METRICS)
    assert 0 <= summary["metrics"]["test_dice"] <= 1 and summary["trace_seconds"] > 0
    history = read_history(out / "adam")
    assert [row["epoch"] for row in history] == [1]
    assert list(history[0])[:4] == ["step", "evaluations", "seconds", "loss"]
    assert {"val_loss", TARGET["metric"]} <= set(history[0])
    assert history[0]["step"] == history[0]["evaluations"] == 3  # 10 train images, batch 4
    assert 0 < history[0]["seconds"] < summary["wall_seconds"] - summary["trace_seconds"]
    best = max(row["val_dice"] for row in history)
    assert summary["metrics"]["val_dice"] == pytest.approx(best, abs=1e-6)  # the restored checkpoint's Dice
    for name in ("best.keras", "overlays.png"):
        assert (out / "adam" / "artifacts" / name).is_file()
    assert read_config(out / "adam")["settings"]["resolved_hparams"]["learning_rate"] == 0.001


def test_nan_loss_is_recorded_as_diverged_and_the_next_optimizer_still_runs(cli_out):
    _, out = cli_out
    summary = read_summary(out / "sgd")
    assert summary["status"] == "diverged" and "non-finite loss" in summary["error"]
    assert read_summary(out / "adam")["status"] == "completed"


def test_comparison_files_name_every_optimizer(cli_out):
    _, out = cli_out
    table = (out / "comparison.md").read_text()
    assert "| sgd | diverged |" in table and "| adam | completed |" in table
    assert (out / "curves.png").stat().st_size > 1000


def test_mvtec_layout_trains_one_epoch(plain, tmp_path):
    """An MVTec-style category built from the synthetic images: good ones in train/good and test/good."""
    import json

    manifest = json.loads((plain / "manifest.json").read_text())
    for stem, record in manifest["images"].items():
        if record["mask_fraction"] == 0:
            folder = tmp_path / ("train/good" if stem < "filter_00010" else "test/good")
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(plain / "images" / f"{stem}.png", folder / f"{stem}.png")
        else:
            for sub, name in (("test/hole", f"{stem}.png"), ("ground_truth/hole", f"{stem}_mask.png")):
                (tmp_path / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(plain / "images" / f"{stem}.png", tmp_path / "test/hole" / f"{stem}.png")
            shutil.copy(plain / "masks" / f"{stem}.png", tmp_path / "ground_truth/hole" / f"{stem}_mask.png")
    summary = run(DefectsConfig(optimizer="sgd", data=str(tmp_path), **TINY), tmp_path / "run")
    assert summary["status"] == "completed", summary["error"]
    assert read_config(tmp_path / "run")["settings"]["data_layout"] == "mvtec"
    assert len(read_history(tmp_path / "run")) == 1


def test_same_seed_gives_identical_initial_weights_for_every_optimizer():
    from kerasopt.defects.train import build_model
    from kerasopt.seeding import set_seed

    def initial(optimizer, seed):
        set_seed(seed)
        return build_model(DefectsConfig(optimizer=optimizer, **TINY)).get_weights()

    adam, sgd, other = initial("adam", 1), initial("sgd", 1), initial("adam", 2)
    assert all(np.array_equal(a, b) for a, b in zip(adam, sgd))
    assert not all(np.array_equal(a, b) for a, b in zip(adam, other))


def test_run_refuses_bad_data_before_writing_anything(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(DefectsConfig(data=str(tmp_path / "missing"), **TINY), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_synthetic_option_generates_missing_data(tmp_path, monkeypatch):
    from kerasopt.defects import train

    generated = []
    monkeypatch.setattr(train.synth, "generate", lambda *args: generated.append(args))
    train.prepare_data(DefectsConfig(data=str(tmp_path / "d"), synthetic=True, synthetic_n=8, synthetic_size=64))
    assert generated == [(str(tmp_path / "d"), 8, 64, 0)]
    generated.clear()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_text("{}")
    train.prepare_data(DefectsConfig(data=str(tmp_path / "d"), synthetic=True))
    assert generated == []


def test_without_a_saved_model_a_run_records_the_same_result(plain, tmp_path):
    """save_model: false (what studies use) skips best.keras; the best epoch is kept in memory either way,
    so the record is the same."""
    settings = {"optimizer": "adam", "data": str(plain), "seed": 3, **TINY, "epochs": 2, "overlays": 0}
    saved = run(settings, tmp_path / "saved")
    unsaved = run({**settings, "save_model": False}, tmp_path / "unsaved")
    assert (tmp_path / "saved" / "artifacts" / "best.keras").is_file()
    assert not (tmp_path / "unsaved" / "artifacts" / "best.keras").exists()
    untimed = lambda rows: [{k: v for k, v in row.items() if "seconds" not in k} for row in rows]  # noqa: E731
    assert untimed([unsaved["metrics"]]) == untimed([saved["metrics"]])
    assert untimed(read_history(tmp_path / "unsaved")) == untimed(read_history(tmp_path / "saved"))
    assert "save_model" not in read_config(tmp_path / "saved")["settings"]  # the old behaviour keeps old run ids
    assert unsaved["non_training_share"] is not None and 0 <= unsaved["non_training_share"] < 1


def test_the_compiled_prediction_gives_the_eager_models_bits():
    import keras
    import tensorflow as tf

    from kerasopt.defects.train import build_model, predict

    keras.utils.set_random_seed(0)
    model = build_model(DefectsConfig(optimizer="adam", **{k: v for k, v in TINY.items() if k != "overlays"}))
    images = np.random.default_rng(0).random((6, 32, 32, 3)).astype("float32")
    masks = (images[..., :1] > 0.5).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, masks)).batch(4)  # batches of 4 and 2
    probabilities, got_masks = predict(model, dataset)
    eager = np.concatenate([np.asarray(model(images[:4], training=False)), np.asarray(model(images[4:], training=False))])
    assert np.array_equal(probabilities, eager) and np.array_equal(got_masks, masks)


def test_best_weights_keep_the_best_epoch_and_survive_a_restart(tmp_path):
    import keras

    from kerasopt.optimizers.evaluation import BestWeights, load_weights_file

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    best = BestWeights("val_dice", "max", tmp_path / "best.npz")
    best.set_model(model)
    for epoch, value in enumerate([0.2, 0.5, 0.4, float("nan"), 0.5]):
        model.layers[0].kernel.assign(np.full((2, 1), epoch, "float32"))
        best.on_epoch_end(epoch, {"val_dice": value})
    assert best.best == 0.5 and best.weights[0][0, 0] == 1.0  # epoch 1: later ties, worse and NaN never win
    again = BestWeights("val_dice", "max", tmp_path / "best.npz", initial=0.5)  # a resumed run
    assert again.best == 0.5 and np.array_equal(again.weights[0], best.weights[0])
    assert load_weights_file(tmp_path / "none.npz") is None
    assert BestWeights("val_dice", "max", tmp_path / "none.npz", initial=0.5).best is None  # nothing kept: reselect


@pytest.mark.slow
def test_a_run_twice_on_one_host_with_determinism_on_gives_identical_records(plain, tmp_path):
    """In a fresh process (op determinism cannot be switched off again): the same tiny run twice, compared by
    `kerasopt.study.verify.compare` (status, metrics, every history value; timing left out)."""
    import json
    import os
    import subprocess
    import sys

    settings = {"optimizer": "adam", "data": str(plain), "seed": 2, **TINY, "epochs": 2, "overlays": 0,
                "deterministic": True, "threads": 1, "save_model": False}
    script = ("import json, sys\nfrom pathlib import Path\nfrom kerasopt.defects import run\n"
              "from kerasopt.study.verify import compare\n"
              "settings, out = json.loads(sys.argv[1]), Path(sys.argv[2])\n"
              "run(settings, out / 'a'); run(settings, out / 'b')\n"
              "print(json.dumps(compare(out / 'a', out / 'b')))\n")
    done = subprocess.run([sys.executable, "-c", script, json.dumps(settings), str(tmp_path)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert read_summary(tmp_path / "a")["status"] == "completed"
    assert read_config(tmp_path / "a")["deterministic"] is True
