"""Files written by radkit.io.write (the synthesiser's writers) read back to the same voxels and geometry."""

import nibabel as nib
import numpy as np
import pytest

from radkit.io import read_image
from radkit.io.write import orientation_affine, write_dicom_cxr, write_dicom_series, write_nifti


@pytest.mark.parametrize("code", ["RAS", "LPS", "PIR"])
def test_dicom_series_roundtrip(tmp_path, code):
    rng = np.random.default_rng(7)
    vol = rng.integers(-1000, 1500, size=(5, 4, 6)).astype(np.float64)
    spacing = (0.8, 0.6, 2.5)
    affine = orientation_affine(code, spacing, vol.shape)
    write_dicom_series(tmp_path / "ct", vol, spacing, affine, slope=1.0, intercept=-1024.0)
    img = read_image(tmp_path / "ct")
    assert img.orientation == "RAS" and img.meta["n_slices"] == 6
    ref = nib.as_closest_canonical(nib.Nifti1Image(vol.astype(np.float32), affine))
    np.testing.assert_array_equal(img.array, ref.get_fdata(dtype=np.float32))
    np.testing.assert_allclose(img.affine, ref.affine, atol=1e-4)
    assert img.spacing == pytest.approx(ref.header.get_zooms()[:3], abs=1e-5)


def test_nifti_roundtrip(tmp_path):
    vol = np.random.default_rng(8).normal(0, 300, size=(4, 5, 3)).astype(np.float32)
    affine = orientation_affine("LAI", (1.0, 2.0, 3.0), vol.shape)
    write_nifti(tmp_path / "v.nii.gz", vol, affine)
    img = read_image(tmp_path / "v.nii.gz")
    ref = nib.as_closest_canonical(nib.Nifti1Image(vol, affine))
    np.testing.assert_allclose(img.array, ref.get_fdata(dtype=np.float32), atol=1e-3)
    np.testing.assert_allclose(img.affine, ref.affine, atol=1e-5)


def test_dicom_cxr_monochrome1_reads_like_monochrome2(tmp_path):
    pixels = np.random.default_rng(9).integers(0, 4096, size=(12, 10))
    write_dicom_cxr(tmp_path / "m2.dcm", pixels, (0.15, 0.2), photometric="MONOCHROME2")
    write_dicom_cxr(tmp_path / "m1.dcm", pixels, (0.15, 0.2), photometric="MONOCHROME1")
    m2, m1 = read_image(tmp_path / "m2.dcm"), read_image(tmp_path / "m1.dcm")
    assert m2.modality == m1.modality == "cxr" and m1.meta["photometric"] == "MONOCHROME1"
    np.testing.assert_allclose(m1.array, m2.array, atol=1e-3)
    np.testing.assert_allclose(m2.array, pixels, atol=1e-3)  # window 2048/4096 over 12 bits is the identity
    assert m2.spacing == pytest.approx((0.15, 0.2))
