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
are all in {0, 1} or all in {0, 255} (16 bit: or all in {0, 65535}); nonzero means defect. Anything else (e.g.
JPEG artefacts, soft labels) is rejected with the file named. Each mask must
have the height and width of its image. All pairs are checked up front
(readable, sizes, mask values) before any training.

Decoding: ONE decoder, `load_pair` (``numpy.fromfile`` + ``cv2.imdecode``, any
name bytes), serves the up-front check and the pipeline (via ``tf.numpy_function``),
so what passes the check trains: 8-bit images are divided by 255, 16-bit by
65535; grayscale becomes RGB; alpha is dropped.

Pipelines: decode → resize to ``size`` x ``size`` (bilinear for images, nearest
for masks) → scale images to float32 [0, 1], masks to float32 {0, 1} → cache;
training adds a shuffle and random flips / 90° rotations drawn from
``(seed, epoch)``, then batch and prefetch. Data order and augmentation depend
only on the seed and the epoch number (so resumed runs see the same batches).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from kerasopt.defects.splits import SPLITS, split_stems
from kerasopt.image_header import check_decoded_size

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
                raise ValueError(f"two files share the stem {_shown(stem)!r}: {_shown(found[stem])} and {_shown(path)}")
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
        raise ValueError(f"image {_shown(images[unmatched_images[0]])} has no mask {where_masks}")
    if unmatched_masks:
        raise ValueError(f"mask {_shown(masks[unmatched_masks[0]])} has no image {where_images}")


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
    for name in SPLITS:
        if not isinstance(splits[name], list) or not all(isinstance(stem, str) for stem in splits[name]):
            raise ValueError(f"{path}: split {name!r} must be a list of file stems. Received: {splits[name]!r:.60}")
    return {name: list(splits[name]) for name in SPLITS}


def read_image(path: str | os.PathLike | bytes) -> np.ndarray:
    """Decode ``path`` with OpenCV exactly as stored (``IMREAD_UNCHANGED``: bit depth and channels kept).

    The bytes are read with `numpy.fromfile` and decoded with ``cv2.imdecode``, so
    names that are not valid UTF-8 work (``cv2.imread`` cannot take them).

    Returns:
        uint8/uint16/float32 array (H, W) or (H, W, C), channels in OpenCV's BGR(A) order.

    Raises:
        ValueError: naming the file, if it cannot be read or decoded, or its header declares more
            pixels than `kerasopt.image_header.MAX_PIXELS` (checked before decoding).
    """
    path = os.fsdecode(path)
    try:
        raw = np.fromfile(path, np.uint8)
    except OSError:
        raw = np.zeros(0, np.uint8)
    check_decoded_size(raw.tobytes(), f"image file {_shown(path)}")
    try:
        image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise ValueError(f"cannot read image file {_shown(path)}")
    return image


def _shown(path) -> str:
    """A printable file name (bytes that are not UTF-8 become \\x.. escapes)."""
    return os.fsencode(os.fsdecode(path)).decode("utf-8", "backslashreplace")


def _full_scale(array: np.ndarray, path) -> float:
    """The value that means "white": 255 for 8 bit, 65535 for 16 bit, 1.0 for float images."""
    if array.dtype == np.uint8:
        return 255.0
    if array.dtype == np.uint16:
        return 65535.0
    if array.dtype in (np.float32, np.float64):
        return 1.0
    raise ValueError(f"image file {_shown(path)} has unsupported pixel type {array.dtype} "
                     "(use 8- or 16-bit integer or float images)")


def image_to_float(raw: np.ndarray, path="image") -> np.ndarray:
    """A decoded image (see `read_image`) as float32 RGB (H, W, 3) in [0, 1].

    8-bit values are divided by 255, 16-bit by 65535 (float images are clipped);
    grayscale is repeated to 3 channels, BGR(A) becomes RGB (alpha dropped).
    """
    scale = _full_scale(raw, path)
    image = raw.astype(np.float32) / np.float32(scale)
    if image.ndim == 2:
        image = image[..., None]
    channels = image.shape[2]
    if channels == 1:
        image = np.repeat(image, 3, axis=2)
    elif channels in (3, 4):
        image = image[..., 2::-1]
    else:
        raise ValueError(f"image file {_shown(path)} has {channels} channels (expected 1, 3 or 4)")
    return np.ascontiguousarray(np.clip(image, 0.0, 1.0))


def mask_to_binary(raw: np.ndarray, path="mask") -> np.ndarray:
    """A decoded mask (see `read_image`) as float32 (H, W) in {0, 1}; nonzero = defect.

    The mask rule: one channel (or identical colour channels) whose values are all
    in {0, 1}, or all in {0, 255} (8 bit), or all in {0, 65535} (16 bit).

    Raises:
        ValueError: naming the file, for differing channels or non-binary values.
    """
    mask = raw
    if mask.ndim == 3:
        if not all(np.array_equal(mask[..., 0], mask[..., c]) for c in range(1, min(mask.shape[2], 3))):
            raise ValueError(f"mask {_shown(path)} has differing colour channels; masks must be single-channel")
        mask = mask[..., 0]
    values = np.unique(mask)
    allowed = ({0, 1}, {0, 255}) + (({0, 65535},) if mask.dtype == np.uint16 else ())
    if not any(set(values.tolist()) <= ok for ok in allowed):
        raise ValueError(f"mask {_shown(path)} is not binary: values must all be in {{0, 1}} or all in "
                         f"{{0, 255}} (16 bit: or {{0, 65535}}), found "
                         f"{values[:6].tolist()}{'...' if values.size > 6 else ''}")
    return (mask > 0).astype(np.float32)


def validate_pair(pair: Pair) -> bool:
    """Check readability, sizes and the mask rule. Returns True if the mask has a defect."""
    image = read_image(pair.image)
    image_to_float(image[:1, :1], pair.image)  # pixel type and channels
    if pair.mask is None:
        return False
    mask = read_image(pair.mask)
    if mask.shape[:2] != image.shape[:2]:
        raise ValueError(f"size mismatch: mask {_shown(pair.mask)} is {mask.shape[1]}x{mask.shape[0]}, "
                         f"image {_shown(pair.image)} is {image.shape[1]}x{image.shape[0]}")
    return bool(mask_to_binary(mask, pair.mask).max() > 0)


def load_pair(image_path, mask_path=None) -> tuple[np.ndarray, np.ndarray]:
    """The one decoder of images and masks, used by the up-front check's rules and by `make_dataset`.

    Args:
        image_path, mask_path: str, bytes or path; ``mask_path`` None or empty = defect-free.

    Returns:
        ``image`` float32 (H, W, 3) in [0, 1] and ``mask`` float32 (H, W, 1) in {0, 1}.
    """
    image = image_to_float(read_image(image_path), image_path)
    if mask_path is None or len(os.fsencode(mask_path)) == 0:
        mask = np.zeros(image.shape[:2], np.float32)
    else:
        mask = mask_to_binary(read_image(mask_path), mask_path)
    return image, mask[..., None]


def _decode(image_path, mask_path, size):
    """tf.data step: `load_pair` (OpenCV) then resize (bilinear images, nearest masks)."""
    image, mask = tf.numpy_function(load_pair, [image_path, mask_path], (tf.float32, tf.float32), stateful=False)
    image.set_shape((None, None, 3))
    mask.set_shape((None, None, 1))
    image = tf.image.resize(image, (size, size), method="bilinear")
    mask = tf.image.resize(mask, (size, size), method="nearest")
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
                 seed: int = 0, epochs: int = 1, initial_epoch: int = 0) -> tf.data.Dataset:
    """A batched `tf.data.Dataset` of ``(image, mask)``.

    Args:
        pairs: validated pairs (see `load_splits`).
        size: int, output height and width in pixels.
        batch_size: int >= 1.
        training: shuffle and augment with flips and rot90; the data then covers
            epochs ``initial_epoch .. epochs - 1`` back to back, ``steps_per_epoch(len(pairs),
            batch_size)`` batches each (pass that to ``fit``). Epoch ``e``'s order and
            augmentation depend only on ``(seed, e)``, so a run resumed at epoch ``e``
            sees exactly the batches an uninterrupted run sees.
        seed: int, fixes shuffle order and augmentation draws.
        epochs, initial_epoch: ints, only used when ``training``.

    Returns:
        Elements ``image``: float32 (B, size, size, 3) in [0, 1];
        ``mask``: float32 (B, size, size, 1) in {0, 1}.
    """
    images = [os.fsencode(p.image) for p in pairs]
    masks = [os.fsencode(p.mask) if p.mask is not None else b"" for p in pairs]
    dataset = tf.data.Dataset.from_tensor_slices((images, masks))
    dataset = dataset.map(lambda i, m: _decode(i, m, size), num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True).cache()
    if not training:
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    count = len(pairs)

    def one_epoch(epoch: int) -> tf.data.Dataset:
        epoch_seed = int(seed) * 1_000_003 + int(epoch)
        shuffled = dataset.shuffle(count, seed=epoch_seed, reshuffle_each_iteration=False)
        positions = tf.data.Dataset.range(count)
        return tf.data.Dataset.zip(shuffled, positions).map(
            lambda pair, i: _augment(pair[0], pair[1], tf.stack([tf.constant(epoch_seed, tf.int64), i])),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)

    return _concatenate([one_epoch(e) for e in range(initial_epoch, max(epochs, initial_epoch + 1))]).prefetch(
        tf.data.AUTOTUNE)


def _concatenate(datasets: list) -> tf.data.Dataset:
    """Datasets back to back, as a balanced tree of ``concatenate`` (depth log2(len))."""
    if len(datasets) == 1:
        return datasets[0]
    middle = len(datasets) // 2
    return _concatenate(datasets[:middle]).concatenate(_concatenate(datasets[middle:]))


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Batches of one training epoch: ``ceil(count / batch_size)``."""
    return -(-int(count) // int(batch_size))


def load_arrays(pairs: list[Pair], size: int) -> tuple[np.ndarray, np.ndarray]:
    """All pairs decoded and resized as in `make_dataset` (no augmentation).

    Returns:
        ``images`` float32 (N, size, size, 3) in [0, 1], ``masks`` float32 (N, size, size, 1) in {0, 1}.
    """
    images, masks = zip(*make_dataset(pairs, size, batch_size=len(pairs)).unbatch().as_numpy_iterator())
    return np.stack(images), np.stack(masks)
