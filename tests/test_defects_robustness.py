"""One decoder for the check and the pipeline (16 bit, TIFF, uppercase, any name bytes) and one-line refusals."""

import os

import cv2
import numpy as np
import pytest

from kerasopt.cli import run_cli
from kerasopt.defects.data import load_arrays, load_pair, load_splits


def _folder(root, n=6, size=32, write=None):
    """images/ + masks/ of ``n`` pairs; ``write(i, image, mask)`` may write pair i itself (return True)."""
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        mask[4:10, 5:9] = 255
        if write is None or not write(i, image, mask):
            cv2.imwrite(str(root / "images" / f"p{i}.png"), image)
            cv2.imwrite(str(root / "masks" / f"p{i}.png"), mask)
    return root


def test_16_bit_images_are_scaled_and_16_bit_zero_one_masks_are_binary(tmp_path):
    image16 = np.full((32, 32, 3), 65535 // 2, np.uint16)
    mask16 = np.zeros((32, 32), np.uint16)
    mask16[3:9, 3:9] = 1

    def write(i, image, mask):
        if i == 0:
            cv2.imwrite(str(tmp_path / "images" / "p0.png"), image16)
            cv2.imwrite(str(tmp_path / "masks" / "p0.png"), mask16)
            return True
        return False

    _folder(tmp_path, write=write)
    image, mask = load_pair(tmp_path / "images" / "p0.png", tmp_path / "masks" / "p0.png")
    np.testing.assert_allclose(image, 0.5, atol=1e-4)
    assert mask.sum() == 36 and set(np.unique(mask)) == {0.0, 1.0}
    splits = load_splits(tmp_path, val_fraction=0.2, test_fraction=0.2)
    pairs = splits.train + splits.val + splits.test
    images, masks = load_arrays(pairs, 32)
    index = [p.stem for p in pairs].index("p0")
    assert masks[index].sum() == 36 and abs(float(images[index].mean()) - 0.5) < 1e-3  # the pipeline agrees


def test_non_binary_16_bit_mask_is_refused(tmp_path):
    def write(i, image, mask):
        if i == 1:
            cv2.imwrite(str(tmp_path / "images" / "p1.png"), image)
            cv2.imwrite(str(tmp_path / "masks" / "p1.png"), (mask.astype(np.uint16) * 100))
            return True
        return False

    with pytest.raises(ValueError, match=r"mask .*p1\.png is not binary"):
        load_splits(_folder(tmp_path, write=write))


def test_tiff_and_uppercase_extensions_pass_the_check_and_train_the_same(tmp_path):
    def write(i, image, mask):
        if i < 2:
            ext = (".TIF", ".PNG")[i]
            cv2.imwrite(str(tmp_path / "images" / f"p{i}{ext}"), image)
            cv2.imwrite(str(tmp_path / "masks" / f"p{i}{ext}"), mask)
            return True
        return False

    _folder(tmp_path, write=write)
    splits = load_splits(tmp_path, val_fraction=0.2, test_fraction=0.2)
    pairs = splits.train + splits.val + splits.test
    images, masks = load_arrays(pairs, 32)
    assert images.shape == (6, 32, 32, 3) and all(m.sum() == 24 for m in masks)


def test_file_names_that_are_not_utf8_are_read(tmp_path):
    _folder(tmp_path)
    bad = os.fsdecode(b"p\xff\xfe")
    for sub in ("images", "masks"):
        os.rename(tmp_path / sub / "p3.png", tmp_path / sub / f"{bad}.png")
    splits = load_splits(tmp_path, val_fraction=0.2, test_fraction=0.2)
    pairs = splits.train + splits.val + splits.test
    assert bad in [p.stem for p in pairs]
    images, masks = load_arrays(pairs, 32)
    assert masks.sum() == 6 * 24


def test_unreadable_file_with_a_non_utf8_name_is_one_printable_line(tmp_path):
    _folder(tmp_path)
    (tmp_path / "images" / os.fsdecode(b"p2.png")).write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"cannot read image file .*p2\.png"):
        load_splits(tmp_path)


@pytest.mark.parametrize("splits_text", ['{"train": null, "val": [], "test": []}', "null_splits"])
def test_manifest_with_a_null_split_is_one_line(tmp_path, splits_text):
    _folder(tmp_path)
    text = '{"splits": ' + (splits_text if splits_text != "null_splits" else
                            '{"train": ["p0"], "val": null, "test": ["p1"]}') + "}"
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ValueError, match="must be a list of file stems"):
        load_splits(tmp_path)


def _cli_error(argv, capsys, tmp_path):
    from kerasopt.defects.__main__ import main

    code = run_cli(main, argv + ["--out", str(tmp_path / "out")])
    error = capsys.readouterr().err.strip().splitlines()
    assert not (tmp_path / "out").exists()
    return code, error


@pytest.mark.parametrize("extra, match", [
    (["--size", "100000"], "GiB"),
    (["--seed", str(2**32)], "2**32"),
    (["--encoder-weights", "WEIGHTS"], "not an HDF5"),
])
def test_cli_refuses_impossible_settings_up_front_with_one_line(extra, match, capsys, tmp_path):
    weights = tmp_path / "weights.h5"
    weights.write_text("not hdf5")
    extra = [str(weights) if e == "WEIGHTS" else e for e in extra]
    code, error = _cli_error(["--optimizer", "adam", "--data", str(tmp_path)] + extra, capsys, tmp_path)
    assert code == 2 and len(error) == 1 and error[0].startswith("error: ") and match in error[0], error


@pytest.mark.parametrize("value", ["inf", "nan", "-1"])
def test_cli_refuses_non_finite_learning_rates_as_usage_errors(value, capsys, tmp_path):
    code, error = _cli_error(["--optimizer", "adam", "--lr", value], capsys, tmp_path)
    assert code == 2 and len(error) == 1 and error[0].startswith("error: argument --lr"), error


def test_memory_check_refuses_what_cannot_fit_and_passes_the_defaults():
    from kerasopt.defects.model import check_memory

    check_memory(128, 8, images=400, available=4 * 2**30)
    with pytest.raises(ValueError, match="smaller --size"):
        check_memory(100000, 8)
    with pytest.raises(ValueError, match="images"):
        check_memory(256, 1, images=10**6, available=8 * 2**30)


def test_without_data_the_synthetic_set_is_generated_with_one_line(tmp_path, monkeypatch, capsys):
    from kerasopt.defects import __main__ as cli
    from kerasopt.defects import train

    real = train.synth.generate
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.synth, "generate", lambda out, n, size, seed: real(out, 12, 32, seed))
    seen = []
    monkeypatch.setattr(cli, "run_comparison", lambda task, configs, out: seen.extend(configs) or {})
    assert cli.main(["--optimizer", "adam", "--size", "32", "--out", str(tmp_path / "o")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("no --data given: using the synthetic air-filter set in data/synthetic "
                        "(generating 400 images of 128 px now)")
    assert (tmp_path / "data" / "synthetic" / "manifest.json").is_file()
    assert seen[0].data == "data/synthetic" and seen[0].synthetic
