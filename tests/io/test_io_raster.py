"""PNG/JPEG radiographs: grey values kept, colour converted, spacing flagged unknown, bad files refused."""

import numpy as np
import pytest
from PIL import Image as PILImage

from radkit.io import read_image


def test_8bit_png_values_and_unknown_spacing(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(37, 53), dtype=np.uint8)
    path = tmp_path / "cxr.png"
    PILImage.fromarray(pixels).save(path)
    img = read_image(path)
    assert img.modality == "cxr" and img.array.dtype == np.float32
    np.testing.assert_array_equal(img.array, pixels.astype(np.float32))  # (H, W): rows first
    assert img.spacing == (1.0, 1.0) and img.meta["spacing_known"] is False
    assert img.meta["value_range"] == (0.0, 255.0) and img.meta["source_format"] == "png"


def test_16bit_png_keeps_full_range(tmp_path):
    pixels = (np.arange(20 * 30, dtype=np.uint32).reshape(20, 30) * 97 % 65536).astype(np.uint16)
    path = tmp_path / "cxr16.png"
    PILImage.fromarray(pixels).save(path)
    img = read_image(path)
    np.testing.assert_array_equal(img.array, pixels.astype(np.float32))
    assert img.array.max() > 255


def test_rgb_png_becomes_luminance(tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
    path = tmp_path / "colour.png"
    PILImage.fromarray(rgb).save(path)
    img = read_image(path)
    # ITU-R 601 luma, as PIL's "L" conversion defines it (it rounds; allow 1 grey level).
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    assert img.array.shape == (16, 24)
    np.testing.assert_allclose(img.array, luma, atol=1.0)


def test_jpeg_close_to_source(tmp_path):
    yy, xx = np.mgrid[0:64, 0:48]
    pixels = (xx * 2 + yy).astype(np.uint8)
    path = tmp_path / "cxr.jpg"
    PILImage.fromarray(pixels).save(path, quality=95)
    img = read_image(path)
    assert img.meta["source_format"] == "jpg"
    assert np.abs(img.array - pixels).mean() < 2.0


def test_bad_pictures_are_refused(tmp_path):
    good = tmp_path / "good.png"
    PILImage.fromarray(np.random.default_rng(3).integers(0, 256, (200, 200), dtype=np.uint8)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"cut\.png.*not a readable PNG/JPEG.*Fix"):
        read_image(cut)
    fake = tmp_path / "fake.jpg"
    fake.write_text("not a picture")
    with pytest.raises(ValueError, match=r"fake\.jpg"):
        read_image(fake)
    with pytest.raises(ValueError, match=r"modality='ct' expects a 3D volume"):
        read_image(good, modality="ct")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.png.*empty"):
        read_image(empty)
    other = tmp_path / "table.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"table\.csv.*unrecognised image format"):
        read_image(other)
