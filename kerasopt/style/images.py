"""Image files in and out: decode any common format to RGB float32, resize, save.

Every image inside the style workload is a float32 NumPy array of shape
(H, W, 3), RGB, values in [0, 255] (8-bit pixel scale, not normalised). The
bundled inputs are named ``tubingen`` (content photo) and ``starry-night``
(style painting); ``pattern`` is a colourful seamless pattern generated here.
Credits of the bundled files: kerasopt/assets/SOURCES.md.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from kerasopt.memory import available_memory_bytes
from kerasopt.image_header import check_decoded_size

MIN_SIDE_PX = 16
"""Shortest image side the network accepts: VGG halves the resolution four times
before block5_conv1, so a side below 16 px leaves no block5 feature."""

BUNDLED = {"tubingen": "tubingen.jpg", "starry-night": "starry_night.jpg", "rocket": "rocket.jpg"}
PATTERN = "pattern"

BYTES_PER_PIXEL = 4900
"""Memory a style run needs per pixel of the optimized image: the image, the VGG activations of
the forward pass (about 300 float32 values per pixel up to block5_conv1), their gradients and
TensorFlow's workspace. Measured (benchmarks/style_sizes.py, docs/performance.md "Style at 512 px"):
peak RSS is about 1100 MiB + 4.9 kB per pixel for lbfgs and adam at 256, 512 and 768 px (two
threads); the earlier 2600 bytes + 512 MiB estimated half of every measured peak."""

FIXED_BYTES = 1100 * 2**20
"""Size-independent part of a style run: network weights, TensorFlow workspaces."""

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def bundled_path(name: str) -> Path:
    """Path of a bundled image (``tubingen`` or ``starry-night``) inside the installed package."""
    return Path(str(resources.files("kerasopt") / "assets" / BUNDLED[name]))


def describe_source(source: str) -> str:
    """The file path a source name stands for (bundled names resolved), or ``pattern``."""
    if source in BUNDLED:
        return str(bundled_path(source))
    return source


def read_rgb(path: str | os.PathLike, role: str = "image") -> np.ndarray:
    """Decode an image file to RGB float32 in [0, 255].

    Grayscale is replicated to 3 channels, palette images are expanded, an alpha
    channel is composited onto white, and 16-bit images are scaled by 255/65535.

    Args:
        path: image file (any format OpenCV decodes: JPEG, PNG, TIFF, BMP, WebP, ...).
        role: word used in error messages ("content image", "style image").

    Returns:
        float32 array (H, W, 3), RGB, values in [0, 255].

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be read or decoded (corrupt, not an image), or its header
            declares more pixels than fit in memory (`kerasopt.image_header`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{role} not found: {path}")
    try:
        data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    except OSError as exc:
        raise ValueError(f"cannot read {role} {path}: {exc.strerror or exc}") from None
    check_decoded_size(data.tobytes(), f"{role} {path}", available_memory_bytes())
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if decoded is None:
        raise ValueError(f"cannot decode {role} {path}: corrupt or not an image file")
    return _to_rgb_float(decoded, role, path)


def _to_rgb_float(decoded: np.ndarray, role: str, path: Path) -> np.ndarray:
    scale = {np.dtype(np.uint8): 1.0, np.dtype(np.uint16): 255.0 / 65535.0}.get(decoded.dtype)
    if scale is None:  # float TIFF/EXR: assume [0, 1]
        if not np.issubdtype(decoded.dtype, np.floating):
            raise ValueError(f"unsupported pixel type {decoded.dtype} in {role} {path}")
        scale = 255.0
    pixels = decoded.astype(np.float32) * np.float32(scale)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    channels = pixels.shape[2]
    if channels == 1:
        return np.repeat(pixels, 3, axis=2).clip(0, 255)
    if channels == 2:  # gray + alpha
        pixels = np.concatenate([np.repeat(pixels[..., :1], 3, axis=2), pixels[..., 1:]], axis=2)
    elif channels == 3:
        return pixels[..., ::-1].clip(0, 255).copy()
    elif channels == 4:
        pixels = np.concatenate([pixels[..., 2::-1], pixels[..., 3:]], axis=2)
    else:
        raise ValueError(f"unsupported channel count {channels} in {role} {path}")
    alpha = pixels[..., 3:] / 255.0
    return (pixels[..., :3] * alpha + 255.0 * (1.0 - alpha)).clip(0, 255).astype(np.float32)


def resize_long_side(image: np.ndarray, size: int) -> np.ndarray:
    """Resize so that the longer side is ``size`` px, keeping the aspect ratio.

    Args:
        image: float32 (H, W, 3) in [0, 255].
        size: target long side in px (> 0).

    Returns:
        float32 (H', W', 3), max(H', W') == size, values in [0, 255].
    """
    height, width = image.shape[:2]
    new_height, new_width = resized_shape(height, width, size)
    interpolation = cv2.INTER_AREA if size < max(height, width) else cv2.INTER_CUBIC
    return cv2.resize(image, (new_width, new_height), interpolation=interpolation).clip(0, 255).astype(np.float32)


def resized_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) after `resize_long_side` to long side ``size`` (aspect ratio kept, sides >= 1)."""
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def make_pattern(height: int, width: int) -> np.ndarray:
    """A colourful seamless (tileable) pattern, the procedural stand-in for the paper's second style.

    Hue, saturation and value are sums of sinusoids with integer numbers of
    periods across the image, so opposite edges match and the pattern tiles.

    Args:
        height, width: size in px (> 0).

    Returns:
        float32 (height, width, 3), RGB in [0, 255]; deterministic.
    """
    v, u = np.meshgrid(np.arange(height) / height, np.arange(width) / width, indexing="ij")
    two_pi = 2.0 * np.pi
    field = (np.sin(two_pi * (3 * u + 2 * v)) + np.sin(two_pi * (-2 * u + 5 * v))
             + np.cos(two_pi * 4 * u) * np.cos(two_pi * 4 * v))
    hue = (np.mod(field / 3.0 + u + v, 1.0) * 180.0).astype(np.float32)  # OpenCV hue range [0, 180)
    saturation = (200.0 + 55.0 * np.sin(two_pi * 6 * v)).astype(np.float32)
    value = (170.0 + 85.0 * np.abs(np.sin(two_pi * (4 * u - 3 * v)))).astype(np.float32)
    hsv = np.stack([hue, saturation, value], axis=-1).round().clip(0, 255).astype(np.uint8)
    hsv[..., 0] = np.minimum(hsv[..., 0], 179)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)


def load_image(source: str, size: int, role: str) -> np.ndarray:
    """Load a bundled name, ``pattern`` or a file, resized to long side ``size``.

    Args:
        source: ``tubingen``, ``starry-night``, ``pattern`` or an image path.
        size: long side in px.
        role: "content image" or "style image" (for messages).

    Returns:
        float32 (H, W, 3), RGB in [0, 255], max(H, W) == size.

    Raises:
        FileNotFoundError / ValueError: see `read_rgb`; ValueError also when the
            image (or its resized version) has a side below `MIN_SIDE_PX`.
    """
    if source == PATTERN:
        return make_pattern(size, size)
    image = read_rgb(describe_source(source), role)
    _check_side(image, f"{role} {source} is too small ({image.shape[1]}x{image.shape[0]} px)")
    resized = resize_long_side(image, size)
    _check_side(resized, f"{role} {source} becomes {resized.shape[1]}x{resized.shape[0]} px at --size {size}")
    return resized


def _check_side(image: np.ndarray, what: str) -> None:
    if min(image.shape[:2]) < MIN_SIDE_PX:
        raise ValueError(f"{what}: the network needs at least {MIN_SIDE_PX} px per side")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float (H, W, 3) in [0, 255] -> uint8, rounded and clipped."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def save_image(image: np.ndarray, path: str | os.PathLike, quality: int = 95) -> Path:
    """Write an RGB image (float in [0, 255] or uint8) as PNG/JPEG (by extension).

    Raises:
        OSError: the file cannot be written (one line naming the path).
    """
    path = Path(path)
    bgr = cv2.cvtColor(to_uint8(image), cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", bgr, params)
        if not ok:
            raise OSError("encoding failed")
        path.write_bytes(encoded.tobytes())
    except (OSError, cv2.error) as exc:
        raise OSError(f"cannot write image {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return path


def estimate_run_bytes(height: int, width: int) -> int:
    """Rough peak memory of a style run whose images are ``height`` x ``width`` px.

    `BYTES_PER_PIXEL` per pixel (image, VGG activations and their gradients) plus `FIXED_BYTES`.
    """
    return int(height) * int(width) * BYTES_PER_PIXEL + FIXED_BYTES


def image_shape(source: str, size: int, role: str) -> tuple[int, int]:
    """(height, width) that `load_image` will return, without resizing anything.

    Raises:
        FileNotFoundError / ValueError: as `read_rgb` (missing or undecodable file).
    """
    if source == PATTERN:
        return size, size
    height, width = read_rgb(describe_source(source), role).shape[:2]
    return resized_shape(height, width, size)


def check_memory(content: str, style: str, size: int, network: str | None = None,
                 available: int | None = None) -> int:
    """Refuse up front an image size whose tensors would not fit in memory.

    The content and style images at long side ``size`` are sized (`image_shape`), the larger
    one's peak is estimated (`estimate_run_bytes`) and compared with `available_memory_bytes`
    (or ``available``); when memory cannot be read the check passes.

    Args:
        content, style: sources as in `load_image`.
        size: long side in px (``--size``).
        network: feature network, only for the message.
        available: bytes available (default: measured now).

    Returns:
        The estimate in bytes.

    Raises:
        ValueError: one line naming the size, the estimate and the memory available.
        FileNotFoundError / ValueError: an image cannot be read (as `read_rgb`).
    """
    shapes = [image_shape(content, size, "content image"), image_shape(style, size, "style image")]
    height, width = max(shapes, key=lambda shape: shape[0] * shape[1])
    needed = estimate_run_bytes(height, width)
    available = available_memory_bytes() if available is None else available
    if available is not None and needed > available:
        raise ValueError(
            f"--size {size} needs about {_gib(needed)} of memory ({width}x{height} px: image, "
            f"{network or 'VGG'} activations and gradients) but only {_gib(available)} is available; "
            f"use a smaller --size")
    return needed


def _gib(count: int) -> str:
    return f"{count / 2**30:,.1f} GiB"
