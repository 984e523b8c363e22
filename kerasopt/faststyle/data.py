"""Photos for training the transformation network: a folder, split by file, as a tf.data pipeline.

Sources (``data``):

- any folder of photos (``--data DIR``), searched recursively for ``.jpg``,
  ``.jpeg`` and ``.png`` files (MS COCO ``train2014`` for the paper scale).
  If DIR has subfolders ``train/`` and ``val/``, they are the split. Otherwise the
  validation photos are the ``val_photos`` files with the smallest SHA-1 of
  their path relative to DIR: a fixed choice that does not depend on the seed,
  the file order or the other files;
- ``None``: the offline default corpus, built on first use into
  `default_corpus_dir` from CC0/public-domain sample photos shipped inside
  scikit-image (`CORPUS_TRAIN`, `CORPUS_VAL`) and the bundled Tübingen photo
  (licences: docs/faststyle.md).

Validation photos are never trained on (split by file, not by crop). Training
batches are random crops: each photo is scaled so that its short side is a
random length in [size, max(size, min(short side, 2 size))], cropped to
size x size at a random position and flipped left-right with probability 1/2;
the crops are a deterministic function of the seed (stateless random ops).
Validation photos are scaled to short side ``size`` and centre-cropped.
Every photo must have a short side of at least ``size / 2`` px (smaller ones
would be blown up more than 2x).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kerasopt.installed import installed_file
from kerasopt.style import images

EXTENSIONS = (".jpg", ".jpeg", ".png")
SKIMAGE = "scikit-image"
CORPUS_VERSION = "v1"
CORPUS_LONG_SIDE = 512
"""Long side (px) of the photos written into the default corpus."""
CORPUS_TRAIN = {  # name in the corpus -> file inside the installed scikit-image package
    "astronaut": "skimage/data/astronaut.png", "rocket": "skimage/data/rocket.jpg",
    "hubble_deep_field": "skimage/data/hubble_deep_field.jpg", "camera": "skimage/data/camera.png",
    "grass": "skimage/data/grass.png", "gravel": "skimage/data/gravel.png", "brick": "skimage/data/brick.png",
    "coins": "skimage/data/coins.png", "clock": "skimage/data/clock_motion.png",
}
CORPUS_VAL = {"chelsea": "skimage/data/chelsea.png", "coffee": "skimage/data/coffee.png"}
BUNDLED_VAL = ("tubingen",)
"""The bundled Tübingen photo (kerasopt/assets) is a validation photo of the default corpus."""
MAX_UPSCALE = 2.0


@dataclass(frozen=True)
class PhotoSplit:
    """Training and validation photo files (absolute paths, sorted, disjoint).

    Attributes:
        train: files the network is trained on.
        val: held-out files for validation and the grid.
        root: the folder they came from.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]
    root: str

    def describe(self) -> dict:
        """Record entries: root, photo counts and the validation file names (``val_photo_count``: the
        setting ``val_photos`` only applies to a folder without ``train/``/``val/``, so it keeps its name)."""
        return {"data_root": self.root, "train_photos": len(self.train), "val_photo_count": len(self.val),
                "val_files": [os.path.relpath(path, self.root) for path in self.val]}


def default_corpus_dir() -> Path:
    """``$KERASOPT_CACHE/faststyle-photos-v1`` (default cache: ``~/.cache/kerasopt``)."""
    cache = Path(os.environ.get("KERASOPT_CACHE") or Path.home() / ".cache" / "kerasopt")
    return cache / f"faststyle-photos-{CORPUS_VERSION}"


def _skimage_file(relative: str) -> Path:
    return installed_file(SKIMAGE, relative, "the default photo corpus (or pass --data DIR)")


def build_default_corpus(target: Path | None = None) -> Path:
    """Write the default corpus (``train/*.png``, ``val/*.png``, long side 512 px) once; return its folder.

    Built in a temporary sibling folder and renamed, so a half-built corpus is never used.
    """
    target = Path(target) if target else default_corpus_dir()
    if (target / "train").is_dir() and (target / "val").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        sources = {("train", n): _skimage_file(f) for n, f in CORPUS_TRAIN.items()}
        sources |= {("val", n): _skimage_file(f) for n, f in CORPUS_VAL.items()}
        sources |= {("val", n): images.bundled_path(n) for n in BUNDLED_VAL}
        for (split, name), source in sources.items():
            (staging / split).mkdir(exist_ok=True)
            photo = images.read_rgb(source, "corpus photo")
            if max(photo.shape[:2]) > CORPUS_LONG_SIDE:
                photo = images.resize_long_side(photo, CORPUS_LONG_SIDE)
            images.save_image(photo, staging / split / f"{name}.png")
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            if not (target / "train").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def find_photos(folder: str | os.PathLike) -> list[Path]:
    """Every ``.jpg``/``.jpeg``/``.png`` below ``folder`` (recursive, sorted).

    Raises:
        ValueError: the folder does not exist, cannot be read, or holds no photo (one line).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"photo folder not found: {folder}")
    try:
        photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    except OSError as exc:
        raise ValueError(f"cannot read photo folder {folder}: {exc.strerror or exc}") from None
    if not photos:
        raise ValueError(f"no photos (.jpg, .jpeg, .png) in {folder}")
    return photos


def _path_key(path: Path, root: Path) -> str:
    return hashlib.sha1(path.relative_to(root).as_posix().encode()).hexdigest()


def split_photos(folder: str | os.PathLike, val_photos: int) -> PhotoSplit:
    """The fixed train/validation split of a folder (see the module docstring).

    Args:
        folder: photo folder.
        val_photos: number of validation photos when the folder has no ``train/``/``val/``.

    Raises:
        ValueError: missing/empty folder, or too few photos to hold out ``val_photos``
            and keep at least one for training.
    """
    root = Path(folder).resolve()
    if (root / "train").is_dir() and (root / "val").is_dir():
        train, val = find_photos(root / "train"), find_photos(root / "val")
    else:
        photos = find_photos(root)
        if len(photos) <= val_photos:
            raise ValueError(f"{root} has {len(photos)} photo(s); {val_photos} are held out for validation "
                             f"and at least one is needed for training")
        held_out = set(sorted(photos, key=lambda p: _path_key(p, root))[:val_photos])
        train, val = [p for p in photos if p not in held_out], sorted(held_out)
    return PhotoSplit(tuple(map(str, train)), tuple(map(str, val)), str(root))


def load_split(data: str | None, val_photos: int) -> PhotoSplit:
    """`split_photos` of ``data``, or of the default corpus (built on first use) when ``data`` is None."""
    return split_photos(build_default_corpus() if data is None else data, val_photos)


def photo_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of a photo from its header (Pillow); ValueError if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"cannot read photo {path}: {str(exc).splitlines()[0] if str(exc) else 'not an image'}") \
            from None
    return height, width


def check_photo_sizes(paths, size: int) -> None:
    """ValueError (one line) for the first photo that is unreadable or has a short side below ``size / 2``.

    Reads only the file headers (fast: COCO's 83k files take seconds).
    """
    for path in paths:
        height, width = photo_shape(path)
        if min(height, width) * MAX_UPSCALE < size:
            raise ValueError(f"photo {path} is too small ({width}x{height} px): --size {size} needs photos "
                             f"with a short side of at least {int(np.ceil(size / MAX_UPSCALE))} px")


def center_crop(photo: np.ndarray, size: int) -> np.ndarray:
    """Scale so that the short side is ``size`` px, then crop the centre square.

    Args:
        photo: float32 (H, W, 3), RGB in [0, 255].

    Returns:
        float32 (size, size, 3), RGB in [0, 255].
    """
    height, width = photo.shape[:2]
    scale = size / min(height, width)
    new_width, new_height = max(size, round(width * scale)), max(size, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(photo, (new_width, new_height), interpolation=interpolation).clip(0, 255)
    top, left = (new_height - size) // 2, (new_width - size) // 2
    return resized[top:top + size, left:left + size].astype(np.float32)


def validation_batch(paths, size: int) -> np.ndarray:
    """Centre crops of the validation photos: float32 (N, size, size, 3), RGB in [0, 255]."""
    return np.stack([center_crop(images.read_rgb(path, "validation photo"), size) for path in paths])


def training_dataset(paths, size: int, batch_size: int, seed: int):
    """An endless `tf.data.Dataset` of random crops: float32 (batch_size, size, size, 3), RGB in [0, 255].

    The file order is reshuffled every pass (seeded); crop scale, position and
    flip use stateless random ops seeded by (seed, element index), so the same
    seed gives the same batches. Files that fail to decode are skipped.
    """
    import tensorflow as tf

    files = tf.data.Dataset.from_tensor_slices(list(paths))
    files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()

    def crop(index, path):
        photo = tf.io.decode_image(tf.io.read_file(path), channels=3, dtype=tf.uint8, expand_animations=False)
        return random_crop(tf.cast(photo, tf.float32), size, tf.stack([tf.cast(seed, tf.int64), index]))

    crops = files.enumerate().map(crop, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    crops = crops.ignore_errors()
    return crops.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def random_crop(photo, size: int, seed):
    """One random training crop (see the module docstring).

    Args:
        photo: float32 (H, W, 3), RGB in [0, 255].
        size: crop side in px.
        seed: int64 (2,) stateless seed.

    Returns:
        float32 (size, size, 3), RGB in [0, 255].
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, 3)
    shape = tf.cast(tf.shape(photo)[:2], tf.float32)
    short = tf.reduce_min(shape)
    size_f = tf.cast(size, tf.float32)
    high = tf.maximum(size_f, tf.minimum(short, 2.0 * size_f))
    target_short = tf.random.stateless_uniform([], seeds[0], size_f, high + 1e-3)
    new_shape = tf.cast(tf.math.ceil(shape * target_short / short), tf.int32)
    new_shape = tf.maximum(new_shape, size)
    resized = tf.image.resize(photo, new_shape, method="bilinear", antialias=True)  # antialias: area-like when shrinking
    cropped = tf.image.stateless_random_crop(resized, [size, size, 3], seeds[1])
    flipped = tf.image.stateless_random_flip_left_right(cropped, seeds[2])
    return tf.clip_by_value(flipped, 0.0, 255.0)
