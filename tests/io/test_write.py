"""Writers round-trip through pydicom / nibabel / PIL with correct spacing, HU and orientation."""

import os

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from radkit.io.write import orientation_affine, write_dicom_cxr, write_dicom_series, write_nifti, write_png


def _volume():
    x, y, z = np.meshgrid(np.arange(6), np.arange(5), np.arange(4), indexing="ij")
    return (-1000 + 100 * x + 10 * y + z).astype(np.float64)  # each voxel's HU encodes its index


def _series(folder):
    dss = [pydicom.dcmread(folder / f) for f in sorted(os.listdir(folder))]
    return sorted(dss, key=lambda d: float(d.ImagePositionPatient[2]))


def test_dicom_series_hu_spacing_and_positions(tmp_path):
    vol, sp = _volume(), (0.7, 0.8, 2.5)
    aff = orientation_affine("RAS", sp, vol.shape)
    folder = write_dicom_series(tmp_path / "series", vol, sp, aff)
    dss = _series(folder)
    assert len(dss) == 4 and {d.Modality for d in dss} == {"CT"}
    d0 = dss[0]
    assert d0.pixel_array.dtype == np.int16 and (d0.Rows, d0.Columns) == (5, 6)
    assert [float(v) for v in d0.PixelSpacing] == [0.8, 0.7] and float(d0.SliceThickness) == 2.5
    for k, d in enumerate(dss):
        hu = d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept)
        np.testing.assert_array_equal(hu.T, vol[:, :, k])  # pixel (row r, col c) = voxel (c, r, k)
        # world (LPS) position of pixel (r, c) from the header equals the affine's position of voxel (c, r, k)
        row_dir, col_dir = np.array(d.ImageOrientationPatient[:3]), np.array(d.ImageOrientationPatient[3:])
        ipp = np.array(d.ImagePositionPatient, float)
        r, c = 3, 2
        lps = ipp + c * float(d.PixelSpacing[1]) * row_dir + r * float(d.PixelSpacing[0]) * col_dir
        ras = aff @ np.array([c, r, k, 1.0])
        np.testing.assert_allclose(lps, [-ras[0], -ras[1], ras[2]], atol=1e-6)


def test_dicom_series_slope_and_errors(tmp_path):
    vol = _volume() * 2
    folder = write_dicom_series(tmp_path / "s", vol, (1, 1, 1), "RAS", slope=2.0, intercept=-2048)
    d = _series(folder)[1]
    np.testing.assert_array_equal(d.pixel_array * 2.0 - 2048, vol[:, :, 1].T)
    with pytest.raises(ValueError, match="spacing"):
        write_dicom_series(tmp_path / "x", vol, (1, 1, 2), orientation_affine("RAS", (1, 1, 1), vol.shape))
    with pytest.raises(ValueError, match="int16"):
        write_dicom_series(tmp_path / "x", vol * 100, (1, 1, 1), "RAS")
    with pytest.raises(ValueError, match="orientation"):
        write_dicom_series(tmp_path / "x", vol, (1, 1, 1), "RAR")
    assert not (tmp_path / "x").exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_dicom_series_replaces_atomically(tmp_path):
    write_dicom_series(tmp_path / "s", _volume(), (1, 1, 1), "RAS")
    write_dicom_series(tmp_path / "s", _volume()[:, :, :2], (1, 1, 1), "RAS")
    assert len(os.listdir(tmp_path / "s")) == 2 and sorted(os.listdir(tmp_path)) == ["s"]


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_dicom_cxr(tmp_path, photometric):
    img = np.linspace(0, 1, 40 * 30).reshape(40, 30)
    write_dicom_cxr(tmp_path / "a.dcm", img, (0.15, 0.2), photometric)
    d = pydicom.dcmread(tmp_path / "a.dcm")
    assert d.PhotometricInterpretation == photometric and [float(v) for v in d.PixelSpacing] == [0.15, 0.2]
    px = d.pixel_array.astype(float)
    if photometric == "MONOCHROME1":
        px = 4095 - px
    np.testing.assert_allclose(px / 4095, img, atol=1 / 4095)
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        write_dicom_cxr(tmp_path / "b.dcm", img * 2, (1, 1))


@pytest.mark.parametrize("name", ["v.nii", "v.nii.gz"])
def test_nifti(tmp_path, name):
    vol, aff = _volume(), orientation_affine("LPS", (0.5, 0.6, 3.0), (6, 5, 4))
    write_nifti(tmp_path / name, vol, aff)
    img = nib.load(tmp_path / name)
    np.testing.assert_allclose(img.affine, aff)
    np.testing.assert_allclose(img.header.get_zooms(), (0.5, 0.6, 3.0))
    assert nib.aff2axcodes(img.affine) == ("L", "P", "S")
    np.testing.assert_array_equal(np.asarray(img.dataobj), vol)
    assert img.get_data_dtype() == np.int16
    with pytest.raises(ValueError, match=".nii"):
        write_nifti(tmp_path / "v.img", vol, aff)


def test_png(tmp_path):
    img = np.linspace(0, 1, 64).reshape(8, 8)
    write_png(tmp_path / "a.png", img)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.round(img * 255).astype(np.uint8))
    u16 = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    write_png(tmp_path / "b.png", u16)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b.png")), u16)
    with pytest.raises(ValueError, match="2D"):
        write_png(tmp_path / "c.png", np.zeros((2, 2, 2)))


@pytest.mark.parametrize("shape,dtype", [((37, 53), np.uint8), ((1, 1), np.uint8), ((19, 7), np.uint16)])
def test_encode_png_random_pixels_decode_exactly(tmp_path, shape, dtype):
    # the hand-written Sub filter must wrap modulo 256 on every byte (16-bit: both bytes, big-endian)
    from radkit.io.write import encode_png

    a = np.random.default_rng(0).integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)
    (tmp_path / "r.png").write_bytes(encode_png(a))
    with Image.open(tmp_path / "r.png") as im:
        im.load()  # PIL checks the chunk CRCs and the zlib stream here
        np.testing.assert_array_equal(np.asarray(im), a)
    assert encode_png(a) == encode_png(a.copy())
    with pytest.raises(ValueError, match="uint8/uint16"):
        encode_png(a.astype(np.float32))
