"""CT series folders written from a known volume: order, spacing, HU, orientation, affine, bad series."""

import os
import shutil

import nibabel as nib
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radkit.io import read_image

sys.path.insert(0, str(Path(__file__).parent))
from io_dicom_builders import SeriesSpec, write_series  # noqa: E402

SLOPE, INTER = 2.0, -1024.0
AXIAL = SeriesSpec(row=(1, 0, 0), col=(0, 1, 0), spacing_rc=(0.7, 0.8), origin=(-20.0, 15.0, 100.0), step=(0, 0, 2.5))


def _stored(shape=(6, 5, 7), seed=0):
    # Stored values whose HU (x2 - 1024) span air to bone.
    return np.random.default_rng(seed).integers(0, 1500, size=shape).astype(np.int16)


def _assert_world_consistent(img, stored, spec, hu=True):
    """Every returned voxel holds the written value of the native voxel at the same world position."""
    expected = stored * SLOPE + INTER if hu else stored
    for idx in np.ndindex(*img.array.shape):
        world = (img.affine @ np.append(idx, 1.0))[:3]
        assert img.array[idx] == expected[spec.native_index(world)], idx


def test_axial_series_shuffled_files(tmp_path):
    stored = _stored()
    write_series(tmp_path / "s", stored, AXIAL, slope=SLOPE, intercept=INTER, thickness=5.0)
    img = read_image(tmp_path / "s")
    assert img.modality == "ct" and img.meta["units"] == "HU" and img.array.dtype == np.float32
    assert img.orientation == "RAS" and nib.aff2axcodes(img.affine) == ("R", "A", "S")
    # X runs along rows (column spacing 0.8), Y along columns (row spacing 0.7), Z from positions, not the
    # (deliberately wrong) SliceThickness of 5 mm.
    assert img.spacing == pytest.approx((0.8, 0.7, 2.5))
    assert img.array.shape == (6, 5, 7) and img.meta["n_slices"] == 7
    # DICOM x grows to the patient's left and y to posterior: RAS order flips both, keeps z.
    np.testing.assert_array_equal(img.array, (stored * SLOPE + INTER)[::-1, ::-1, :])
    _assert_world_consistent(img, stored, AXIAL)
    # The first written slice position (LPS) is the world point of its corner voxel.
    corner = img.affine @ np.array([5, 4, 0, 1.0])
    np.testing.assert_allclose(corner[:3], [20.0, -15.0, 100.0])


def test_raw_returns_stored_int16_with_rescale_in_meta(tmp_path):
    stored = _stored()
    write_series(tmp_path / "s", stored, AXIAL, slope=SLOPE, intercept=INTER)
    raw = read_image(tmp_path / "s", raw=True)
    hu = read_image(tmp_path / "s")
    assert raw.array.dtype == np.int16
    assert (raw.meta["rescale_slope"], raw.meta["rescale_intercept"]) == (SLOPE, INTER)
    np.testing.assert_array_equal(raw.array * SLOPE + INTER, hu.array)
    _assert_world_consistent(raw, stored, AXIAL, hu=False)


@pytest.mark.parametrize("spec, spacing", [
    (SeriesSpec((1, 0, 0), (0, 1, 0), (0.7, 0.8), (0, 0, 50.0), (0, 0, -3.0)), (0.8, 0.7, 3.0)),  # descending z
    (SeriesSpec((0, 1, 0), (0, 0, -1), (0.6, 0.9), (-30.0, 0, 0), (1.5, 0, 0)), (1.5, 0.9, 0.6)),  # sagittal
    (SeriesSpec((1, 0, 0), (0, 0, -1), (0.6, 0.9), (0, -40.0, 0), (0, 2.0, 0)), (0.9, 2.0, 0.6)),  # coronal
])
def test_other_orientations_become_ras(tmp_path, spec, spacing):
    stored = _stored(shape=(4, 3, 5), seed=1)
    write_series(tmp_path / "s", stored, spec, slope=SLOPE, intercept=INTER)
    img = read_image(tmp_path / "s")
    assert img.orientation == "RAS"
    assert img.spacing == pytest.approx(spacing)
    _assert_world_consistent(img, stored, spec)


def test_oblique_series_read_with_flag_and_canonical_refuses(tmp_path):
    t = np.radians(25)
    spec = SeriesSpec((np.cos(t), np.sin(t), 0), (-np.sin(t), np.cos(t), 0), (0.7, 0.8), (0, 0, 0), (0, 0, 2.0))
    stored = _stored(shape=(4, 3, 5), seed=2)
    write_series(tmp_path / "obl", stored, spec, slope=SLOPE, intercept=INTER)
    img = read_image(tmp_path / "obl")
    assert img.meta["oblique"] is True
    _assert_world_consistent(img, stored, spec)  # affine stays exact for oblique data
    with pytest.raises(ValueError, match=r"obl: the volume is oblique.*25\.0 degrees.*allow_oblique"):
        img.canonical()


def test_per_slice_rescale_applied_and_raw_refused(tmp_path):
    stored = _stored(shape=(3, 3, 4), seed=3)
    paths = write_series(tmp_path / "s", stored, AXIAL, slope=SLOPE, intercept=INTER)
    ds = pydicom.dcmread(paths[2])
    ds.RescaleIntercept = "-1000"
    ds.save_as(paths[2])
    img = read_image(tmp_path / "s")
    expected = (stored * SLOPE + INTER).astype(np.float32)
    expected[:, :, 2] += 24.0
    np.testing.assert_array_equal(img.array, expected[::-1, ::-1, :])
    with pytest.raises(ValueError, match=r"RescaleSlope/Intercept differ between slices.*raw=False"):
        read_image(tmp_path / "s", raw=True)


def test_real_two_slice_series_from_nibabel(tmp_path):
    data = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
    for name in ("1.dcm", "0.dcm"):
        shutil.copy(os.path.join(data, name), tmp_path / name)
    (tmp_path / "notes.txt").write_text("report lives elsewhere")
    img = read_image(tmp_path)
    d0, d1 = (pydicom.dcmread(os.path.join(data, n)) for n in ("0.dcm", "1.dcm"))
    iop = np.array(d0.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    gap = np.array(d1.ImagePositionPatient, float) - np.array(d0.ImagePositionPatient, float)
    assert img.modality == "mr" and img.meta["units"] == "raw" and img.meta["skipped_files"] == ["notes.txt"]
    assert img.meta["slice_step"] == pytest.approx(abs(gap @ normal))
    assert img.spacing == pytest.approx((float(d0.PixelSpacing[1]), float(d0.PixelSpacing[0]), np.linalg.norm(gap)))
    spec = SeriesSpec(iop[:3], iop[3:], tuple(float(v) for v in d0.PixelSpacing), d0.ImagePositionPatient, gap)
    native = np.stack([d0.pixel_array.T, d1.pixel_array.T], axis=-1).astype(np.float32)
    for idx in [(0, 0, 0), (255, 255, 1), (17, 200, 1), (128, 3, 0)]:
        world = (img.affine @ np.append(idx, 1.0))[:3]
        assert img.array[idx] == native[spec.native_index(world)]
