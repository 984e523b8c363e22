"""Refusing images whose decoded size would not fit in memory, from the file header alone.

A PNG of a few hundred bytes can declare 30000 x 30000 pixels and decode to
gigabytes. `check_decoded_size` reads only the header (Pillow's lazy ``open``) and
raises one ValueError before any decoder allocates the pixels. Both image loaders
(`kerasopt.style.images.read_rgb`, `kerasopt.defects.data.read_image`) call it.
"""

from __future__ import annotations

import io
import threading

MAX_PIXELS = 2**27
"""Largest image accepted (134 Mpx, e.g. 11585 x 11585): decoded, then as float32 RGB, about 2 GiB."""
DECODED_BYTES_PER_PIXEL = 16
"""Peak bytes per pixel while loading: the decoded array (up to 4 channels x 16 bit) and its float32 RGB copy."""
_PILLOW_LIMIT = threading.Lock()  # tf.data may load images on several threads


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) declared by an image file's header, or None when Pillow cannot identify the format
    (the decoder then reports the file). Only the header is read, whatever size it declares."""
    from PIL import Image, UnidentifiedImageError

    with _PILLOW_LIMIT:  # Pillow's own bomb check would refuse before telling the size; ours follows
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.size
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def check_decoded_size(data: bytes, what: str, available_bytes: int | None = None) -> None:
    """ValueError naming ``what`` when the image in ``data`` would decode to more than `MAX_PIXELS`
    pixels or (given ``available_bytes``) more memory than is available."""
    size = header_size(data)
    if size is None:
        return
    width, height = size
    needed = width * height * DECODED_BYTES_PER_PIXEL
    if width * height > MAX_PIXELS or (available_bytes is not None and needed > available_bytes):
        raise ValueError(f"{what}: {width} x {height} pixels would need about {needed / 2**30:.1f} GiB to decode "
                         f"(at most {MAX_PIXELS:,} pixels, and the memory available); refused before decoding")
