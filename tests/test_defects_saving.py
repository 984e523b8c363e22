"""Saved models: the registered loss, reloading best.keras in a fresh process, and the predict CLI."""

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from kerasopt.cli import run_cli

pytestmark = pytest.mark.slow  # trains models or runs subprocesses: `make test` only, not `make test-fast`

TINY = {"backbone": "vgg16", "size": 32, "epochs": 1, "batch_size": 4, "overlays": 0, "bn_batches": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from kerasopt.defects import DefectsConfig, run
    from kerasopt.defects.synth import generate

    root = tmp_path_factory.mktemp("saving")
    generate(root / "data", n=16, size=32, seed=0)
    summary = run(DefectsConfig(optimizer="adam", data=str(root / "data"), **TINY), root / "run")
    assert summary["status"] == "completed", summary["error"]
    return root


def test_dice_focal_loss_equals_the_segmentation_models_sum_and_round_trips():
    import keras

    from kerasopt.defects.losses import DiceFocalLoss, dice_focal_loss  # sets SM_FRAMEWORK first
    import segmentation_models as sm

    rng = np.random.default_rng(0)
    y_true = (rng.random((2, 8, 8, 1)) > 0.8).astype(np.float32)
    y_pred = rng.random((2, 8, 8, 1)).astype(np.float32)
    for dice, focal in ((1.0, 1.0), (0.5, 2.0), (1.0, 0.0)):
        ours = dice_focal_loss(dice, focal)
        reference = dice * sm.losses.DiceLoss() + focal * sm.losses.BinaryFocalLoss() if focal else \
            dice * sm.losses.DiceLoss()
        assert float(ours(y_true, y_pred)) == float(reference(y_true, y_pred))
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
        assert isinstance(again, DiceFocalLoss) and (again.dice_weight, again.focal_weight) == (dice, focal)
    with pytest.raises(ValueError, match="not both zero"):
        dice_focal_loss(0, 0)


def test_best_keras_holds_recalibrated_batchnorm_statistics(trained):
    from kerasopt.defects import DefectsConfig
    from kerasopt.defects.bn import batchnorm_layers, recalibrate
    from kerasopt.defects.data import load_splits
    from kerasopt.defects.saving import load_model
    from kerasopt.defects.train import recalibration_dataset

    model = load_model(trained / "run" / "artifacts" / "best.keras")
    layers = batchnorm_layers(model)
    saved = [layer.moving_mean.numpy().copy() for layer in layers]
    config = DefectsConfig(optimizer="adam", data=str(trained / "data"), **TINY)
    recalibrate(model, recalibration_dataset(config, load_splits(trained / "data")), config.bn_batches)
    for before, layer in zip(saved, layers):
        np.testing.assert_allclose(layer.moving_mean.numpy(), before, rtol=1e-4, atol=1e-5)


def test_best_keras_reloads_compiled_in_a_fresh_process_and_predicts_identically(trained, tmp_path):
    from kerasopt.defects.saving import load_model

    model = load_model(trained / "run" / "artifacts" / "best.keras")
    images = np.random.default_rng(1).random((2, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", images)
    expected = np.asarray(model(images, training=False))
    script = (
        "import sys, numpy as np, keras\n"
        "import kerasopt.defects.saving\n"  # registers kerasopt's objects
        "model = keras.models.load_model(sys.argv[1], compile=True)\n"
        "assert model.compiled and type(model.loss).__name__ == 'DiceFocalLoss', model.loss\n"
        "assert int(model.optimizer.iterations) == 3, int(model.optimizer.iterations)\n"
        "assert any(np.abs(v.numpy()).sum() > 0 for v in model.optimizer.variables[2:])\n"
        "np.save(sys.argv[3], np.asarray(model(np.load(sys.argv[2]), training=False)))\n")
    result = subprocess.run([sys.executable, "-c", script, str(trained / "run" / "artifacts" / "best.keras"),
                             str(tmp_path / "x.npy"), str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_predict_writes_masks_overlays_and_csv_with_the_runs_threshold(trained, tmp_path, capsys):
    from kerasopt.defects.__main__ import main

    images = tmp_path / "in"
    images.mkdir()
    for name in ("a.png", "b.PNG"):
        cv2.imwrite(str(images / name), cv2.imread(str(next((trained / "data" / "images").iterdir()))))
    big = np.random.default_rng(0).integers(0, 65535, (48, 40, 3), dtype=np.uint16)  # 16 bit, another size
    cv2.imwrite(str(tmp_path / "c.tif"), big)
    out = tmp_path / "out"
    model = trained / "run" / "artifacts" / "best.keras"
    assert main(["predict", "--model", str(model), str(images), str(tmp_path / "c.tif"), "--out", str(out)]) == 0
    threshold = json.loads((trained / "run" / "summary.json").read_text())["metrics"]["best_threshold"]
    assert f"threshold {threshold:g}, the run's validation-best" in capsys.readouterr().out
    rows = list(csv.DictReader(open(out / "predictions.csv")))
    assert [r["file"].rsplit("/", 1)[-1] for r in rows] == ["a.png", "b.PNG", "c.tif"]
    assert list(rows[0]) == ["file", "defect_score", "defect_pixels", "predicted_defective"]
    for row in rows:
        stem = row["file"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        mask = cv2.imread(str(out / f"{stem}_mask.png"), cv2.IMREAD_UNCHANGED)
        assert set(np.unique(mask)) <= {0, 255} and int(row["defect_pixels"]) == int((mask > 0).sum())
        assert (row["predicted_defective"] == "True") == (float(row["defect_score"]) >= threshold)
        assert cv2.imread(str(out / f"{stem}_overlay.png")).shape[:2] == mask.shape
    assert cv2.imread(str(out / "c_mask.png"), 0).shape == (48, 40)  # resized back to the image
    assert main(["predict", "--model", str(model), str(tmp_path / "c.tif"), "--out", str(out), "--threshold",
                 "0.999999"]) == 0
    assert list(csv.DictReader(open(out / "predictions.csv")))[0]["predicted_defective"] == "False"


@pytest.mark.parametrize("case", ["bad_model", "missing_model", "bad_image", "missing_image"])
def test_predict_refuses_bad_models_and_images_with_one_line(trained, tmp_path, capsys, case):
    from kerasopt.defects.__main__ import main

    model, image = trained / "run" / "artifacts" / "best.keras", tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    if case == "bad_model":
        model = tmp_path / "bad.keras"
        model.write_bytes(b"not a model")
    elif case == "missing_model":
        model = tmp_path / "none.keras"
    elif case == "bad_image":
        image.write_bytes(b"garbage")
    else:
        image = tmp_path / "none.png"
    assert main(["predict", "--model", str(model), str(image), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: ")


def test_best_keras_reloads_with_plain_load_model_after_importing_the_package(trained):
    """README: ``import kerasopt.defects`` registers every object best.keras uses (loss, metric, optimizer)."""
    code = ("import sys, keras, kerasopt.defects\n"
            "model = keras.models.load_model(sys.argv[1])\n"
            "print(type(model.loss).__name__, model.optimizer.__class__.__name__)")
    result = subprocess.run([sys.executable, "-c", code, str(trained / "run" / "artifacts" / "best.keras")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "DiceFocalLoss Adam"
