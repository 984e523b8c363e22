"""Images whose header declares more pixels than fit in memory are refused before decoding."""

import struct
import zlib

import numpy as np
import pytest

from kerasopt.image_header import MAX_PIXELS, check_decoded_size


def png_header(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes that declares ``width`` x ``height`` 8-bit RGB pixels (no pixel data)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


@pytest.fixture
def bomb(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(30000, 30000))
    return path


def test_header_size_is_checked_against_the_pixel_cap_and_the_memory_given():
    check_decoded_size(png_header(64, 64), "small")  # fine
    with pytest.raises(ValueError, match="30000 x 30000 pixels"):
        check_decoded_size(png_header(30000, 30000), "bomb")
    with pytest.raises(ValueError, match="1000 x 1000 pixels"):
        check_decoded_size(png_header(1000, 1000), "tight", available_bytes=1000 * 1000)
    assert 30000 * 30000 > MAX_PIXELS
    check_decoded_size(b"not an image", "other")  # the decoder reports files Pillow cannot identify


def test_style_loader_refuses_the_bomb_before_decoding(bomb):
    from kerasopt.style.images import read_rgb

    with pytest.raises(ValueError, match=r"style image .*bomb.png: 30000 x 30000 pixels .* refused before decoding"):
        read_rgb(bomb, "style image")


def test_defects_loader_refuses_the_bomb_before_decoding(bomb):
    from kerasopt.defects.data import read_image

    with pytest.raises(ValueError, match=r"bomb.png: 30000 x 30000 pixels"):
        read_image(bomb)
    assert read_image(_small_png(bomb.parent)).shape == (4, 5, 3)


def _small_png(folder):
    import cv2

    path = folder / "small.png"
    cv2.imwrite(str(path), np.zeros((4, 5, 3), np.uint8))
    return path
