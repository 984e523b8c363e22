"""Loaders (plain folder, MVTec pooling), augmentation, settings, and every bad input."""

import os

import cv2
import numpy as np
import pytest

from kerasopt.cli import run_cli
from kerasopt.defects import DefectsConfig
from kerasopt.defects.data import load_arrays, load_splits, make_dataset


def _image(rng, size=32):
    return rng.integers(0, 255, (size, size, 3), dtype=np.uint8)


def _mask(rng, size=32, defective=True):
    mask = np.zeros((size, size), np.uint8)
    if defective:
        y, x = rng.integers(2, size - 6, 2)
        mask[y:y + 4, x:x + 3] = 255
    return mask


def make_folder(root, n=10, size=32):
    """A plain images/ + masks/ data set; the first 3 images are defect-free."""
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(root / "images" / f"s{i}.png"), _image(rng, size))
        cv2.imwrite(str(root / "masks" / f"s{i}.png"), _mask(rng, size, defective=i >= 3))
    return root


def make_mvtec(root, size=32):
    """An MVTec AD category: 6 good train images, test/{good,crack}, ground_truth/crack."""
    rng = np.random.default_rng(1)
    for folder in ("train/good", "test/good", "test/crack", "ground_truth/crack"):
        (root / folder).mkdir(parents=True)
    for i in range(6):
        cv2.imwrite(str(root / "train" / "good" / f"{i:03d}.png"), _image(rng, size))
    for i in range(2):
        cv2.imwrite(str(root / "test" / "good" / f"{i:03d}.png"), _image(rng, size))
    for i in range(5):
        cv2.imwrite(str(root / "test" / "crack" / f"{i:03d}.png"), _image(rng, size))
        cv2.imwrite(str(root / "ground_truth" / "crack" / f"{i:03d}_mask.png"), _mask(rng, size))
    return root


def test_plain_folder_is_split_reproducibly_with_defects_everywhere(tmp_path):
    splits = load_splits(make_folder(tmp_path), split_seed=0)
    assert splits.layout == "folder"
    stems = [p.stem for name in ("train", "val", "test") for p in splits[name]]
    assert sorted(stems) == sorted(f"s{i}" for i in range(10))
    for name in ("train", "val", "test"):
        assert any(cv2.imread(str(p.mask), 0).any() for p in splits[name])
    again = load_splits(tmp_path, split_seed=0)
    assert [p.stem for p in again.test] == [p.stem for p in splits.test]


def test_manifest_splits_are_used_when_present(tmp_path):
    root = make_folder(tmp_path)
    (root / "manifest.json").write_text('{"splits": {"train": ["s0", "s3", "s4", "s5", "s6", "s7"], '
                                        '"val": ["s1", "s8"], "test": ["s2", "s9"]}}')
    splits = load_splits(root)
    assert [p.stem for p in splits.val] == ["s1", "s8"] and [p.stem for p in splits.test] == ["s2", "s9"]


def test_mvtec_pools_all_images_and_gives_good_images_empty_masks(tmp_path):
    splits = load_splits(make_mvtec(tmp_path))
    assert splits.layout == "mvtec"
    pairs = splits.train + splits.val + splits.test
    assert len(pairs) == 13
    assert all((p.mask is None) == ("_good_" in p.stem) for p in pairs)
    for name in ("train", "val", "test"):
        assert any(p.mask is not None for p in splits[name])
    images, masks = load_arrays(splits.test, 32)
    assert images.shape == (len(splits.test), 32, 32, 3) and masks.shape == (len(splits.test), 32, 32, 1)
    assert [bool(m.any()) for m in masks] == [p.mask is not None for p in splits.test]


def test_pipeline_resizes_scales_and_keeps_masks_binary(tmp_path):
    splits = load_splits(make_folder(tmp_path, size=48))
    images, masks = load_arrays(splits.train, 32)
    assert images.dtype == np.float32 and images.shape[1:] == (32, 32, 3)
    assert 0 <= images.min() and images.max() <= 1
    assert set(np.unique(masks)) <= {0.0, 1.0}


def test_training_augmentation_moves_image_and_mask_together_and_is_seeded(tmp_path):
    rng = np.random.default_rng(2)
    for sub in ("images", "masks"):
        (tmp_path / sub).mkdir()
    for i in range(8):  # the mask is exactly where the red channel is bright
        mask = _mask(rng)
        image = _image(rng) // 2
        image[..., 2] = np.where(mask > 0, 255, 0)  # BGR: channel 2 is red
        cv2.imwrite(str(tmp_path / "images" / f"a{i}.png"), image)
        cv2.imwrite(str(tmp_path / "masks" / f"a{i}.png"), mask)
    pairs = load_splits(tmp_path, val_fraction=0.25, test_fraction=0.25).train

    def epoch(seed):
        return [(x.numpy(), y.numpy()) for x, y in make_dataset(pairs, 32, 2, training=True, seed=seed)]

    first = epoch(7)
    for images, masks in first:
        np.testing.assert_array_equal(images[..., 0] > 0.9, masks[..., 0] > 0.5)
    second = epoch(7)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, second))
    originals, _ = load_arrays(pairs, 32)
    augmented = np.concatenate([x for x, _ in first])
    assert any(not any(np.array_equal(a, o) for o in originals) for a in augmented)  # some were flipped/rotated


def _expect_error(root, exception, match):
    with pytest.raises(exception, match=match):
        load_splits(root)


def test_missing_and_empty_data_directories(tmp_path):
    _expect_error(tmp_path / "nope", FileNotFoundError, "does not exist")
    _expect_error(tmp_path, FileNotFoundError, "neither images/")
    (tmp_path / "images").mkdir()
    _expect_error(tmp_path, FileNotFoundError, "masks is missing")
    (tmp_path / "masks").mkdir()
    _expect_error(tmp_path, ValueError, "holds no images")


def test_image_without_mask_and_mask_without_image(tmp_path):
    root = make_folder(tmp_path)
    os.remove(root / "masks" / "s4.png")
    _expect_error(root, ValueError, r"image .*s4\.png has no mask")
    make_folder(tmp_path)
    os.remove(root / "images" / "s5.png")
    _expect_error(root, ValueError, r"mask .*s5\.png has no image")


def test_mvtec_image_without_ground_truth(tmp_path):
    root = make_mvtec(tmp_path)
    os.remove(root / "ground_truth" / "crack" / "002_mask.png")
    _expect_error(root, ValueError, r"002\.png has no mask")


def test_size_mismatch_names_both_files(tmp_path):
    root = make_folder(tmp_path)
    cv2.imwrite(str(root / "masks" / "s6.png"), np.zeros((16, 32), np.uint8))
    _expect_error(root, ValueError, r"size mismatch: mask .*s6\.png is 32x16")


@pytest.mark.parametrize("values", [[0, 128, 255], [0, 1, 255], [0, 7]])
def test_non_binary_masks_are_rejected(tmp_path, values):
    root = make_folder(tmp_path)
    mask = np.zeros((32, 32), np.uint8)
    mask[: len(values)] = np.array(values, np.uint8)[:, None]
    cv2.imwrite(str(root / "masks" / "s7.png"), mask)
    _expect_error(root, ValueError, r"mask .*s7\.png is not binary")


def test_zero_one_masks_are_accepted(tmp_path):
    root = make_folder(tmp_path)
    cv2.imwrite(str(root / "masks" / "s7.png"), (_mask(np.random.default_rng(3)) > 0).astype(np.uint8))
    assert load_splits(root).layout == "folder"


def test_unreadable_file_is_named(tmp_path):
    root = make_folder(tmp_path)
    (root / "images" / "s8.png").write_bytes(b"not a png")
    _expect_error(root, ValueError, r"cannot read image file .*s8\.png")


def test_config_round_trip_and_coercion():
    config = DefectsConfig.from_dict({"optimizer": "adam", "hparams": {"learning_rate": "1e-3", "amsgrad": "true"},
                                      "epochs": "3", "size": 64.0, "dice_weight": "0.5", "jit": "false",
                                      "encoder_weights": None})
    assert config.hparams == {"learning_rate": 1e-3, "amsgrad": True}
    assert (config.epochs, config.size, config.dice_weight, config.jit) == (3, 64, 0.5, False)
    assert DefectsConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("values, match", [
    ({"optimiser": "adam"}, "unknown defects setting.*optimiser"),
    ({"epochs": "two"}, "epochs'? must be (an )?int"),
    ({"epochs": 1.5}, "epochs'? must be (an )?int"),
    ({"size": 100}, "multiple of 32"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"strategy": "tpu"}, "strategy must be one of"),
    ({"hparams": [1]}, "hparams'? must be a mapping"),
])
def test_bad_settings_raise_one_line_value_errors(values, match):
    with pytest.raises(ValueError, match=match):
        DefectsConfig.from_dict(values)


@pytest.mark.parametrize("values, match", [
    ({"optimizer": "lbfgs"}, "full-batch driver"),
    ({"optimizer": "adamm"}, "Unknown optimizer"),
    ({"optimizer": "sgd", "hparams": {"beta_1": 0.9}}, "has no hyperparameter 'beta_1'"),
    ({"backbone": "densenet121"}, "does not build on Keras 3"),
    ({"backbone": "resnet9"}, "unknown backbone 'resnet9'"),
    ({"encoder_weights": "/no/such/weights.h5"}, "does not exist"),
])
def test_validate_refuses_unsupported_optimizer_backbone_and_weights(values, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        DefectsConfig.from_dict(values).validate()


@pytest.mark.parametrize("argv, match", [
    (["--optimizer", "adam", "--backbone", "densenet169"], "densenet169"),
    (["--optimizer", "sgd,lbfgs"], "lbfgs"),
    (["--optimizer", "adam", "--data", "/no/such/dir"], "/no/such/dir"),
])
def test_cli_prints_one_line_errors_and_exits_2(argv, match, capsys, tmp_path):
    from kerasopt.defects.__main__ import main

    assert run_cli(main, argv + ["--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: ") and match in error[0]
    assert not (tmp_path / "out").exists()


def test_cli_all_means_every_optimizer_except_the_full_batch_drivers():
    from kerasopt import optimizers
    from kerasopt.cli import parse_optimizer_list
    from kerasopt.defects import TASK

    drivers = {"lbfgs", "lbfgs_scipy", "hessian_free"}
    assert parse_optimizer_list("all", TASK.supported) == [n for n in optimizers.available() if n not in drivers]
    assert "rprop" in parse_optimizer_list("all", TASK.supported)


def test_the_study_sees_the_supported_optimizers():
    import kerasopt.defects

    assert "lbfgs" not in kerasopt.defects.SUPPORTED_OPTIMIZERS and "adam" in kerasopt.defects.SUPPORTED_OPTIMIZERS
