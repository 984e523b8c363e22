"""Apply a trained transformation network to image files and measure its speed.

Any image size works: `stylize_array` mirror-pads the height and width up to
a multiple of 4 and crops the result back. Images are stylized one at a time
(their sizes differ) through one compiled function traced once for all sizes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerasopt.faststyle.data import find_photos
from kerasopt.faststyle.model import SIZE_MULTIPLE, load_transformer
from kerasopt.style import images


@dataclass(frozen=True)
class Throughput:
    """Speed of `stylize_files`.

    Attributes:
        images: number of images stylized.
        seconds: time spent in the network (a warm-up call that traces it is excluded).
        pixels: total pixels stylized.
    """

    images: int
    seconds: float
    pixels: int

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")


def compiled(model):
    """``fn(image)`` for float32 (1, H, W, 3) of any H, W (multiples of 4): one trace for all sizes."""
    return tf.function(lambda batch: model(batch, training=False),
                       input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])


def stylize_array(function, image: np.ndarray) -> np.ndarray:
    """Stylize one image.

    Args:
        function: the network or `compiled` (maps float32 (1, H, W, 3) -> same shape).
        image: float32 (H, W, 3), RGB in [0, 255], sides >= 16 px.

    Returns:
        float32 (H, W, 3), RGB in [0, 255].
    """
    height, width = image.shape[:2]
    pad_h, pad_w = (-height) % SIZE_MULTIPLE, (-width) % SIZE_MULTIPLE
    padded = np.pad(image, [(0, pad_h), (0, pad_w), (0, 0)], mode="reflect") if pad_h or pad_w else image
    result = np.asarray(function(tf.constant(padded[None], tf.float32)))[0]
    return result[:height, :width]


def collect_inputs(sources) -> list[Path]:
    """Image files named directly, plus every photo (.jpg/.jpeg/.png) below the named folders.

    Raises:
        FileNotFoundError: a source does not exist.
        ValueError: a folder without photos, or no source at all.
    """
    files = []
    for source in map(Path, sources):
        if source.is_dir():
            files += find_photos(source)
        elif source.is_file():
            files.append(source)
        else:
            raise FileNotFoundError(f"image not found: {source}")
    if not files:
        raise ValueError("give at least one image file or folder")
    return files


def load_input(path: Path, size: int | None) -> np.ndarray:
    """Decode an image (resized to long side ``size`` px when given); ValueError if a side is below 16 px."""
    image = images.read_rgb(path, "image")
    if size:
        image = images.resize_long_side(image, size)
    if min(image.shape[:2]) < images.MIN_SIDE_PX:
        raise ValueError(f"image {path} is too small ({image.shape[1]}x{image.shape[0]} px): the network needs "
                         f"at least {images.MIN_SIDE_PX} px per side")
    return image


def output_names(paths: list[Path]) -> list[str]:
    """``<stem>.png`` per input, with ``_2``, ``_3``, ... for repeated stems."""
    seen: dict[str, int] = {}
    names = []
    for path in paths:
        seen[path.stem] = seen.get(path.stem, 0) + 1
        names.append(f"{path.stem}.png" if seen[path.stem] == 1 else f"{path.stem}_{seen[path.stem]}.png")
    return names


def stylize_files(model_path, sources, out_dir, size: int | None = None) -> tuple[list[Path], Throughput]:
    """Stylize image files into ``out_dir`` (PNG, same stem).

    Every input is loaded and checked before the first output is written.

    Args:
        model_path: a ``model.keras`` written by `kerasopt.faststyle.run`.
        sources: image files and/or folders.
        out_dir: output folder (created).
        size: resize each image to this long side first (None: keep its size).

    Returns:
        (written files, `Throughput`).

    Raises:
        FileNotFoundError / ValueError: missing model or image, not a fast-style
            model, an undecodable or too small image (one line).
    """
    model = load_transformer(model_path)
    paths = collect_inputs(sources)
    inputs = [load_input(path, size) for path in paths]
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create output folder {out_dir}: {exc.strerror or exc}") from None
    function = compiled(model)
    stylize_array(function, inputs[0])  # warm-up: traces the function
    written, seconds = [], 0.0
    for image, name in zip(inputs, output_names(paths)):
        start = time.perf_counter()
        result = stylize_array(function, image)
        seconds += time.perf_counter() - start
        written.append(images.save_image(result, out_dir / name))
    pixels = sum(image.shape[0] * image.shape[1] for image in inputs)
    return written, Throughput(len(inputs), seconds, pixels)
