"""Synthetic air-filter generator: determinism, masks, defect coverage, splits, manifest."""

import json

import cv2
import numpy as np
import pytest

from kerasopt.defects.splits import split_stems
from kerasopt.defects.synth import DEFECT_TYPES, generate, render_sample, save_sample_grid


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return out, generate(out, n=24, size=64, seed=3, clean_fraction=0.25)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_same_seed_gives_identical_files_and_another_seed_differs(dataset, tmp_path):
    out, _ = dataset
    generate(tmp_path / "again", n=24, size=64, seed=3, clean_fraction=0.25)
    assert _files(tmp_path / "again") == _files(out)
    assert (tmp_path / "again" / "manifest.json").read_text() == (out / "manifest.json").read_text()
    generate(tmp_path / "other", n=24, size=64, seed=4, clean_fraction=0.25)
    assert _files(tmp_path / "other") != _files(out)


def test_images_are_rgb_and_masks_binary_with_the_recorded_coverage(dataset):
    out, manifest = dataset
    for stem, record in manifest["images"].items():
        image = cv2.imread(str(out / "images" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        mask = cv2.imread(str(out / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8 and image.std() > 5
        assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255}
        assert record["mask_fraction"] == pytest.approx(np.count_nonzero(mask) / mask.size)
        assert set(record["defects"]) <= set(DEFECT_TYPES)


def test_clean_share_and_defect_coverage_of_defective_images(dataset):
    _, manifest = dataset
    fractions = [r["mask_fraction"] for r in manifest["images"].values()]
    assert sum(f == 0 for f in fractions) == 6  # 25 % of 24
    defective = [f for f in fractions if f > 0]
    assert all(0.0005 <= f <= 0.03 for f in defective), defective


def test_coverage_over_many_renders_stays_near_the_target_range():
    rng = np.random.default_rng(0)
    fractions = [np.count_nonzero(render_sample(rng, 128)[1]) / 128 ** 2 for _ in range(40)]
    assert 0.001 <= np.median(fractions) <= 0.02
    assert min(fractions) > 0.0005 and max(fractions) < 0.035


def test_every_defect_type_is_rendered_with_a_mask():
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(40):
        _, mask, defects = render_sample(rng, 96)
        assert mask.any() and defects
        seen |= set(defects)
    assert seen == set(DEFECT_TYPES)


def test_manifest_splits_cover_all_images_with_defects_in_every_split(dataset):
    _, manifest = dataset
    splits = manifest["splits"]
    stems = [s for names in splits.values() for s in names]
    assert sorted(stems) == sorted(manifest["images"]) and len(stems) == len(set(stems))
    for names in splits.values():
        assert any(manifest["images"][s]["mask_fraction"] > 0 for s in names)


def test_split_stems_is_reproducible_and_stratified():
    defective, clean = [f"d{i}" for i in range(20)], [f"c{i}" for i in range(10)]
    first = split_stems(defective, clean, seed=5)
    assert first == split_stems(list(reversed(defective)), clean, seed=5)
    assert first != split_stems(defective, clean, seed=6)
    assert [len(first[s]) for s in ("train", "val", "test")] == [20, 5, 5]
    assert all(any(s.startswith("d") for s in first[name]) for name in first)
    with pytest.raises(ValueError, match="val_fraction"):
        split_stems(defective, clean, val_fraction=0.6, test_fraction=0.5)


@pytest.mark.parametrize("kwargs, word", [({"n": 0}, "n must"), ({"size": 16}, "size"),
                                          ({"clean_fraction": 1.5}, "clean_fraction"),
                                          ({"anisotropy": -1}, "anisotropy")])
def test_bad_generator_arguments_are_refused(tmp_path, kwargs, word):
    with pytest.raises(ValueError, match=word):
        generate(tmp_path, **{"n": 4, "size": 64, **kwargs})
    assert not (tmp_path / "manifest.json").exists()


def test_sample_grid_is_written(dataset, tmp_path):
    out, _ = dataset
    path = save_sample_grid(out, tmp_path / "grid.png", count=4)
    assert cv2.imread(str(path)).shape[0] > 100
    assert json.loads((out / "manifest.json").read_text())["format"].startswith("kerasopt-synthetic")
