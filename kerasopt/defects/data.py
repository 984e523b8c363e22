"""Segmentation data sets on disk → validated pairs → `tf.data` pipelines.

Two layouts are read (the layout is detected from the folder):

- **Plain folder**: ``DIR/images/<stem>.<ext>`` and ``DIR/masks/<stem>.<ext>``
  with matching stems (png, jpg, jpeg, bmp, tif, tiff). When ``DIR/manifest.json``
  holds ``splits`` (the synthetic generator writes it) those splits are used;
  otherwise the pairs are split reproducibly by `split_stems`.
- **MVTec AD** (one category folder): ``train/good/*.png``,
  ``test/<defect>/*.png``, ``ground_truth/<defect>/<stem>_mask.png``. MVTec's
  own train split holds only defect-free images, which cannot teach
  supervised segmentation; so all images of the category are pooled
  (``good`` ones get empty masks) and split reproducibly into train/val/test,
  stratified so that defective images are in every split.

Mask rule: a mask is a single-channel (or identical-channel) image whose values
are all in {0, 1} or all in {0, 255}; nonzero means defect. Anything else (e.g.
JPEG artefacts, soft labels) is rejected with the file named. Each mask must
have the height and width of its image. All pairs are checked up front
(readable, sizes, mask values) before any training.

Pipelines: decode → resize to ``size`` x ``size`` (bilinear for images, nearest
for masks) → scale images to float32 [0, 1], masks to float32 {0, 1} → cache;
training adds a seeded shuffle and random flips / 90° rotations, then batch
and prefetch. Data order and augmentation depend only on ``seed``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from kerasopt.defects.splits import SPLITS, split_stems

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class Pair:
    """One image and its mask (``mask=None``: defect-free, empty mask)."""

    stem: str
    image: Path
    mask: Path | None


@dataclass
class Splits:
    """Validated pairs per split and where they came from."""

    train: list[Pair]
    val: list[Pair]
    test: list[Pair]
    layout: str  # "folder" or "mvtec"

    def __getitem__(self, name: str) -> list[Pair]:
        return getattr(self, name)


def load_splits(data_dir: str | Path, split_seed: int = 0, val_fraction: float = 0.15,
                test_fraction: float = 0.15) -> Splits:
    """Find, validate and split the image/mask pairs of ``data_dir``.

    Raises:
        FileNotFoundError: missing folder, or a layout that is neither plain nor MVTec.
        ValueError: empty data set, unmatched image or mask, unreadable file,
            size mismatch, non-binary mask, or an empty split.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data directory {root} does not exist")
    if (root / "images").is_dir() or (root / "masks").is_dir():
        layout, pairs = "folder", _folder_pairs(root)
    elif (root / "train" / "good").is_dir() or (root / "ground_truth").is_dir():
        layout, pairs = "mvtec", _mvtec_pairs(root)
    else:
        raise FileNotFoundError(f"{root} has neither images/ + masks/ nor the MVTec layout "
                                "(train/good, test/<defect>, ground_truth/<defect>)")
    if not pairs:
        raise ValueError(f"data directory {root} holds no images")
    defective = {pair.stem for pair in pairs if validate_pair(pair)}
    stems = _manifest_splits(root) if layout == "folder" else None
    if stems is None:
        stems = split_stems(sorted(defective), sorted({p.stem for p in pairs} - defective), split_seed,
                            val_fraction, test_fraction)
    by_stem = {pair.stem: pair for pair in pairs}
    unknown = sorted({s for names in stems.values() for s in names} - set(by_stem))
    if unknown:
        raise ValueError(f"{root / 'manifest.json'} lists {unknown[0]!r}, which has no image/mask pair")
    splits = Splits(*([by_stem[s] for s in stems[name]] for name in SPLITS), layout=layout)
    for name in SPLITS:
        if not splits[name]:
            raise ValueError(f"the {name} split of {root} is empty ({len(pairs)} images): add images")
    return splits


def _images_by_stem(folder: Path, strip: str = "") -> dict[str, Path]:
    found = {}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            stem = path.stem[: -len(strip)] if strip and path.stem.endswith(strip) else path.stem
            if stem in found:
                raise ValueError(f"two files share the stem {stem!r}: {found[stem]} and {path}")
            found[stem] = path
    return found


def _folder_pairs(root: Path) -> list[Pair]:
    for sub in ("images", "masks"):
        if not (root / sub).is_dir():
            raise FileNotFoundError(f"{root / sub} is missing (a plain data set needs images/ and masks/)")
    images, masks = _images_by_stem(root / "images"), _images_by_stem(root / "masks")
    _check_matched(images, masks, f"in {root / 'masks'}", f"in {root / 'images'}")
    return [Pair(stem, images[stem], masks[stem]) for stem in sorted(images)]


def _check_matched(images: dict, masks: dict, where_masks: str, where_images: str) -> None:
    """ValueError naming the first image without a mask, or mask without an image."""
    unmatched_images, unmatched_masks = sorted(images.keys() - masks.keys()), sorted(masks.keys() - images.keys())
    if unmatched_images:
        raise ValueError(f"image {images[unmatched_images[0]]} has no mask {where_masks}")
    if unmatched_masks:
        raise ValueError(f"mask {masks[unmatched_masks[0]]} has no image {where_images}")


def _mvtec_pairs(root: Path) -> list[Pair]:
    """All images of one MVTec category; stems are ``<split>_<defect>_<file stem>``."""
    pairs = [Pair(f"train_good_{stem}", path, None)
             for stem, path in _images_by_stem(root / "train" / "good").items()]
    test = root / "test"
    for defect in sorted(p.name for p in test.iterdir() if p.is_dir()) if test.is_dir() else []:
        masks = _images_by_stem(root / "ground_truth" / defect, strip="_mask")
        images = _images_by_stem(test / defect)
        if defect != "good":
            _check_matched(images, masks, f"in {root / 'ground_truth' / defect} (<stem>_mask.png)",
                           f"in {test / defect}")
        pairs += [Pair(f"test_{defect}_{stem}", path, masks.get(stem) if defect != "good" else None)
                  for stem, path in images.items()]
    return pairs


def _manifest_splits(root: Path) -> dict[str, list[str]] | None:
    path = root / "manifest.json"
    if not path.is_file():
        return None
    try:
        splits = json.loads(path.read_text()).get("splits")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise ValueError(f"{path} is not a valid JSON manifest") from None
    if splits is None:
        return None
    if not isinstance(splits, dict) or set(splits) != set(SPLITS):
        raise ValueError(f"{path}: 'splits' must have exactly the keys {list(SPLITS)}")
    return {name: list(splits[name]) for name in SPLITS}


def read_image(path: Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Decode ``path`` with OpenCV; ValueError naming the file if it cannot be read."""
    image = cv2.imread(str(path), flags)
    if image is None or image.size == 0:
        raise ValueError(f"cannot read image file {path}")
    return image


def validate_pair(pair: Pair) -> bool:
    """Check readability, sizes and the mask rule. Returns True if the mask has a defect."""
    image = read_image(pair.image)
    if pair.mask is None:
        return False
    mask = read_image(pair.mask)
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"size mismatch: mask {pair.mask} is {mask.shape[1]}x{mask.shape[0]}, "
                         f"image {pair.image} is {image.shape[1]}x{image.shape[0]}")
    if mask.ndim == 3:
        if not all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, min(mask.shape[2], 3))):
            raise ValueError(f"mask {pair.mask} has differing colour channels; masks must be single-channel")
        mask = mask[..., 0]
    values = np.unique(mask)
    if not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}):
        raise ValueError(f"mask {pair.mask} is not binary: values must all be in {{0, 1}} or all in {{0, 255}}, "
                         f"found {values[:6].tolist()}{'...' if values.size > 6 else ''}")
    return bool(values.max() > 0)


def _decode(image_path, mask_path, has_mask, size):
    image = tf.io.decode_image(tf.io.read_file(image_path), channels=3, expand_animations=False)
    image = tf.image.resize(tf.cast(image, tf.float32) / 255.0, (size, size), method="bilinear")
    def read_mask():
        mask = tf.io.decode_image(tf.io.read_file(mask_path), channels=1, expand_animations=False)
        return tf.image.resize(tf.cast(mask > 0, tf.float32), (size, size), method="nearest")

    mask = tf.cond(has_mask, read_mask, lambda: tf.zeros((size, size, 1), tf.float32))
    return tf.clip_by_value(image, 0.0, 1.0), tf.ensure_shape(mask, (size, size, 1))


def _augment(image, mask, seed):
    """Same random flip / rot90 for image and mask, drawn from a stateless seed."""
    both = tf.concat([image, mask], axis=-1)
    draws = tf.random.stateless_uniform([3], seed=seed, minval=0, maxval=4, dtype=tf.int32)
    both = tf.cond(draws[0] % 2 == 1, lambda: tf.image.flip_left_right(both), lambda: both)
    both = tf.cond(draws[1] % 2 == 1, lambda: tf.image.flip_up_down(both), lambda: both)
    both = tf.image.rot90(both, k=draws[2])
    return both[..., :3], both[..., 3:]


def make_dataset(pairs: list[Pair], size: int, batch_size: int, training: bool = False,
                 seed: int = 0) -> tf.data.Dataset:
    """A batched `tf.data.Dataset` of ``(image, mask)``.

    Args:
        pairs: validated pairs (see `load_splits`).
        size: int, output height and width in pixels.
        batch_size: int >= 1.
        training: shuffle (seeded, reshuffled each epoch) and augment with flips and rot90.
        seed: int, fixes shuffle order and augmentation draws.

    Returns:
        Elements ``image``: float32 (B, size, size, 3) in [0, 1];
        ``mask``: float32 (B, size, size, 1) in {0, 1}.
    """
    images = [str(p.image) for p in pairs]
    masks = [str(p.mask) if p.mask is not None else "" for p in pairs]
    has_mask = [p.mask is not None for p in pairs]
    dataset = tf.data.Dataset.from_tensor_slices((images, masks, has_mask))
    dataset = dataset.map(lambda i, m, h: _decode(i, m, h, size), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True).cache()
    if training:
        dataset = dataset.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip(dataset, randoms).map(
            lambda pair, r: _augment(pair[0], pair[1], r), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def load_arrays(pairs: list[Pair], size: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs decoded and resized as in `make_dataset` (no augmentation).

    Returns:
        ``images`` float32 (N, size, size, 3) in [0, 1], ``masks`` float32 (N, size, size, 1) in {0, 1}.
    """
    images, masks = zip(*make_dataset(pairs, size, batch_size=len(pairs)).unbatch().as_numpy_iterator())
    return np.stack(images), np.stack(masks)
