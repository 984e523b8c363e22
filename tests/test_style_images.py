"""Image decoding (every colour type converted), resizing, the generated pattern, one-line errors."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from kerasopt.style import images


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, size=(20, 30, 3), dtype=np.uint8)


def write(path: Path, array) -> Path:
    assert cv2.imwrite(str(path), array)
    return path


def test_rgb_png_round_trips_in_rgb_order(tmp_path, rgb):
    path = images.save_image(rgb, tmp_path / "a.png")
    decoded = images.read_rgb(path)
    assert decoded.dtype == np.float32 and decoded.shape == (20, 30, 3)
    np.testing.assert_array_equal(decoded, rgb)


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    gray = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    decoded = images.read_rgb(write(tmp_path / "g.png", gray))
    assert decoded.shape == (20, 30, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[..., channel], gray)


def test_rgba_is_composited_onto_white(tmp_path):
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 2] = 200  # red
    bgra[:2, :, 3] = 255  # top half opaque, bottom half transparent
    decoded = images.read_rgb(write(tmp_path / "a.png", bgra))
    np.testing.assert_array_equal(decoded[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(decoded[3, 0], [255, 255, 255])


def test_sixteen_bit_is_scaled_to_eight_bit_range(tmp_path):
    bgr16 = np.zeros((4, 4, 3), np.uint16)
    bgr16[..., 0] = 65535  # blue at full scale
    bgr16[..., 2] = 257 * 100  # red at 100
    decoded = images.read_rgb(write(tmp_path / "d.png", bgr16))
    np.testing.assert_allclose(decoded[0, 0], [100, 0, 255], atol=1e-3)


def test_palette_png_is_expanded_to_rgb(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    palette_image = pil.new("P", (6, 5))
    palette_image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    palette_image.putpixel((0, 0), 1)
    palette_image.save(tmp_path / "p.png")
    decoded = images.read_rgb(tmp_path / "p.png")
    np.testing.assert_array_equal(decoded[0, 0], [200, 100, 50])
    np.testing.assert_array_equal(decoded[1, 1], [10, 20, 30])


def test_missing_file_names_the_file():
    with pytest.raises(FileNotFoundError, match="content image not found: .*nope.jpg"):
        images.read_rgb("nope.jpg", "content image")


@pytest.mark.parametrize("content", [b"", b"not an image at all", None])
def test_corrupt_or_empty_file_is_a_value_error(tmp_path, content, rgb):
    path = tmp_path / "bad.jpg"
    if content is None:  # a truncated JPEG header
        ok, encoded = cv2.imencode(".jpg", rgb)
        content = encoded.tobytes()[:40]
    path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot decode style image .*bad.jpg"):
        images.read_rgb(path, "style image")


def test_unreadable_file_is_a_value_error(tmp_path, monkeypatch, rgb):
    path = images.save_image(rgb, tmp_path / "locked.png")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ValueError, match="cannot read content image .*locked.png: Permission denied"):
        images.read_rgb(path, "content image")


def test_too_small_images_are_rejected(tmp_path, rgb):
    tiny = images.save_image(rgb[:8, :8], tmp_path / "tiny.png")
    with pytest.raises(ValueError, match="too small .*at least 16 px"):
        images.load_image(str(tiny), 64, "content image")
    wide = images.save_image(np.zeros((20, 200, 3), np.uint8), tmp_path / "wide.png")
    with pytest.raises(ValueError, match="becomes 64x6 px at --size 64"):
        images.load_image(str(wide), 64, "content image")


def test_load_image_resizes_long_side_and_keeps_aspect():
    image = images.load_image("tubingen", 64, "content image")  # bundled 1024x768
    assert image.shape == (48, 64, 3) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 255


def test_pattern_is_colourful_and_seamless():
    pattern = images.load_image("pattern", 64, "style image")
    assert pattern.shape == (64, 64, 3)
    assert pattern.std(axis=(0, 1)).min() > 20  # every channel varies
    saturation = cv2.cvtColor(pattern.astype(np.uint8), cv2.COLOR_RGB2HSV)[..., 1]
    assert saturation.mean() > 100  # colourful, not gray
    tiled = np.tile(pattern, (2, 2, 1))
    seam = np.abs(np.diff(tiled, axis=1))[:, 63].mean()  # jump across the tile edge
    typical = np.abs(np.diff(tiled, axis=1)).mean()
    assert seam < 3 * typical


def test_save_image_to_unwritable_place_is_one_line_oserror(tmp_path, rgb):
    with pytest.raises(OSError, match="cannot write image .*missing_dir"):
        images.save_image(rgb, tmp_path / "missing_dir" / "x.png")


def test_resized_shape_is_what_load_image_returns():
    for size in (33, 64, 100):
        expected = images.image_shape("tubingen", size, "content image")
        assert images.load_image("tubingen", size, "content image").shape[:2] == expected
        assert max(expected) == size
    assert images.image_shape("pattern", 40, "style image") == (40, 40)
    assert images.resized_shape(768, 1024, 100) == (75, 100)


def test_memory_estimate_grows_with_the_pixels_and_refuses_what_cannot_fit():
    small, large = images.estimate_run_bytes(100, 100), images.estimate_run_bytes(1000, 1000)
    assert small < large and large - small == 990_000 * images.BYTES_PER_PIXEL
    needed = images.check_memory("tubingen", "starry-night", 512, available=2**40)
    assert needed == images.estimate_run_bytes(384, 512)  # the larger image (Tübingen is 4:3, the painting 8:5)
    with pytest.raises(ValueError, match=r"^--size 2000 needs about 19.3 GiB of memory \(2000x2000 px: image, "
                                         r"vgg19 activations and gradients\) but only 1.0 GiB is available"):
        images.check_memory("pattern", "pattern", 2000, "vgg19", available=2**30)


def test_available_memory_is_positive_and_below_the_physical_ram():
    available = images.available_memory_bytes()
    assert available is not None  # Linux: /proc/meminfo
    assert 0 < available <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
