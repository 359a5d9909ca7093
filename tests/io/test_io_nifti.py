"""NIfTI reading against nibabel's shipped example files and volumes with a known geometry."""

import os

import nibabel as nib
import numpy as np
import pytest

from radkit.io import read_image

NIB_DATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")


def _world(affine, idx):
    return (affine @ np.append(np.asarray(idx, float), 1.0))[:3]


def test_anatomical_matches_nibabel_closest_canonical():
    path = os.path.join(NIB_DATA, "anatomical.nii")
    ref = nib.as_closest_canonical(nib.load(path))
    img = read_image(path, modality="mr")
    assert nib.aff2axcodes(nib.load(path).affine) == ("L", "A", "S")  # the file is stored LAS
    assert img.orientation == "RAS"
    assert img.meta["orientation_original"] == "LAS"
    np.testing.assert_array_equal(img.array, ref.get_fdata(dtype=np.float32))
    np.testing.assert_allclose(img.affine, ref.affine)
    assert img.spacing == pytest.approx(ref.header.get_zooms()[:3])
    assert img.array.dtype == np.float32 and img.modality == "mr"


def test_every_voxel_keeps_its_world_position(tmp_path):
    rng = np.random.default_rng(0)
    vol = rng.integers(-1000, 2000, size=(5, 6, 7)).astype(np.int16)
    # Stored as L, P, I with anisotropic voxels and a shifted origin.
    affine = np.array([[-0.7, 0, 0, 10.0], [0, -0.9, 0, -20.0], [0, 0, -2.5, 30.0], [0, 0, 0, 1]])
    path = tmp_path / "ct.nii.gz"
    nib.save(nib.Nifti1Image(vol, affine), path)
    img = read_image(path)
    assert img.modality == "ct" and img.meta["units"] == "HU" and img.orientation == "RAS"
    assert img.spacing == pytest.approx((0.7, 0.9, 2.5))
    assert img.array.shape == (5, 6, 7)
    inv = np.linalg.inv(affine)
    for idx in [(0, 0, 0), (4, 5, 6), (1, 2, 3), (3, 0, 5)]:
        native = np.rint(inv @ np.append(_world(img.affine, idx), 1.0))[:3].astype(int)
        assert img.array[idx] == vol[tuple(native)]
    # The flip is also visible directly: canonical x runs opposite the stored x.
    np.testing.assert_array_equal(img.array, vol[::-1, ::-1, ::-1].astype(np.float32))


def test_scl_slope_applied_and_raw_keeps_stored_ints(tmp_path):
    stored = np.arange(-20, 40, dtype=np.int16).reshape(3, 4, 5)
    nii = nib.Nifti1Image(stored, np.eye(4))
    nii.header.set_slope_inter(2.0, -1024.0)
    path = tmp_path / "scaled.nii"
    nib.save(nii, path)
    hu = read_image(path)
    np.testing.assert_allclose(hu.array, stored * 2.0 - 1024.0)
    raw = read_image(path, raw=True)
    assert raw.array.dtype == np.int16
    np.testing.assert_array_equal(raw.array, stored)
    assert (raw.meta["rescale_slope"], raw.meta["rescale_intercept"]) == (2.0, -1024.0)


def test_4d_refused_for_ct_but_readable_as_mr():
    path = os.path.join(NIB_DATA, "example4d.nii.gz")
    with pytest.raises(ValueError, match=r"example4d.*4D.*3D CT.*Fix"):
        read_image(path)
    img = read_image(path, modality="mr")
    assert img.array.shape[3] == 2 and len(img.spacing) == 4 and img.orientation == "RAS"


def test_4d_with_singleton_last_axis_is_squeezed(tmp_path):
    vol = np.linspace(-1000, 1000, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6, 1)
    path = tmp_path / "one_volume.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.diag([1.0, 1.0, 2.0, 1.0])), path)
    img = read_image(path)
    assert img.array.shape == (4, 5, 6)
    np.testing.assert_allclose(img.array, vol[..., 0])
    assert img.spacing == pytest.approx((1.0, 1.0, 2.0))


@pytest.mark.parametrize("values, match", [
    (np.full((4, 4, 4), 7.0), "every voxel equals 7"),
    (np.linspace(0, 30000, 64).reshape(4, 4, 4), r"Hounsfield.*\[0, 30000\].*Fix"),
    (np.linspace(-10000, 100, 64).reshape(4, 4, 4), r"Hounsfield.*-10000"),
])
def test_intensities_contradicting_hu_are_refused(tmp_path, values, match):
    path = tmp_path / "bad.nii.gz"
    nib.save(nib.Nifti1Image(values.astype(np.float32), np.eye(4)), path)
    with pytest.raises(ValueError, match=match):
        read_image(path)


def test_truncated_and_fake_nifti_name_the_path(tmp_path):
    good = tmp_path / "good.nii.gz"
    nib.save(nib.Nifti1Image(np.arange(4000, dtype=np.float32).reshape(10, 20, 20) - 1000, np.eye(4)), good)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.nii\.gz.*truncated|cut\.nii\.gz.*not a readable"):
        read_image(cut)
    fake = tmp_path / "notes.nii"
    fake.write_text("this is a radiology report, not a volume\n" * 20)
    with pytest.raises(ValueError, match=r"notes\.nii.*NIfTI.*Fix"):
        read_image(fake)
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        read_image(tmp_path / "missing.nii.gz")


def test_every_reader_fills_the_common_meta_keys(tmp_path):
    """Callers read meta without format checks: every reader sets every META_KEYS entry."""
    import pydicom
    from PIL import Image as PILImage

    from radkit.io.image import META_KEYS

    png = tmp_path / "a.png"
    PILImage.fromarray(np.zeros((4, 5), np.uint8)).save(png)
    paths = [png, os.path.join(NIB_DATA, "anatomical.nii"), pydicom.data.get_testdata_file("CT_small.dcm")]
    for path in paths:
        img = read_image(path, modality="mr" if str(path).endswith(".nii") else None)
        assert set(META_KEYS) <= set(img.meta), (path, set(META_KEYS) - set(img.meta))
        assert img.meta["source_format"] in ("png", "nifti", "dicom")
