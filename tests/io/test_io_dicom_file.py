"""Single DICOM files: pydicom's real CT/MR slices, CXR variants (window, VOI LUT, MONOCHROME1, spacing)."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from radkit.io import read_image

CT_SMALL = get_testdata_file("CT_small.dcm")
MR_SMALL = get_testdata_file("MR_small.dcm")


def _linear_window(x, center, width, y_min, y_max):
    """DICOM PS3.3 C.11.2.1.2.1 linear VOI function, written out independently."""
    x = x.astype(np.float64)
    c, w = center - 0.5, width - 1
    out = ((x - c) / w + 0.5) * (y_max - y_min) + y_min
    out[x <= c - w / 2] = y_min
    out[x > c + w / 2] = y_max
    return out


def _as_dx(tmp_path, name="cxr.dcm", **changes):
    """MR_small's real pixels under a DX (radiograph) header; `changes` set (value) or delete (None) tags."""
    ds = pydicom.dcmread(MR_SMALL)
    ds.Modality = "DX"
    for key, value in changes.items():
        if value is None:
            delattr(ds, key)
        else:
            setattr(ds, key, value)
    path = tmp_path / name
    ds.save_as(path)
    return path, ds


def test_ct_small_hu_spacing_and_affine():
    ds = pydicom.dcmread(CT_SMALL)
    img = read_image(CT_SMALL)
    assert img.modality == "ct" and img.meta["units"] == "HU"
    hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(img.array, hu.astype(np.float32))
    assert img.array.min() == pytest.approx(-896.0)  # stored 128 with intercept -1024
    assert img.spacing == pytest.approx(tuple(float(v) for v in ds.PixelSpacing))
    # Pixel (row r, column c) lies at IPP + c * row_cosine * col_spacing + r * col_cosine * row_spacing (LPS).
    iop, ipp = np.array(ds.ImageOrientationPatient, float), np.array(ds.ImagePositionPatient, float)
    ps = np.array(ds.PixelSpacing, float)
    for r, c in [(0, 0), (127, 0), (5, 99)]:
        lps = ipp + c * iop[:3] * ps[1] + r * iop[3:] * ps[0]
        np.testing.assert_allclose(img.affine @ [r, c, 0, 1], [-lps[0], -lps[1], lps[2], 1], atol=1e-9)
    raw = read_image(CT_SMALL, raw=True)
    assert raw.array.dtype == np.int16
    np.testing.assert_array_equal(raw.array, ds.pixel_array)


def test_radiograph_window_applied(tmp_path):
    path, ds = _as_dx(tmp_path)
    img = read_image(path)
    assert img.modality == "cxr" and img.meta["voi"] == "window" and img.meta["window"] == (600.0, 1600.0)
    bits = int(ds.BitsStored)  # signed 16 bit: output range is the signed stored range
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    np.testing.assert_allclose(img.array, _linear_window(ds.pixel_array, 600.0, 1600.0, lo, hi), rtol=1e-6, atol=0.01)
    assert img.meta["value_range"] == (lo, hi)
    assert img.spacing == pytest.approx((0.3125, 0.3125)) and img.meta["spacing_source"] == "PixelSpacing"


def test_monochrome1_inverted_after_window(tmp_path):
    path, ds = _as_dx(tmp_path, PhotometricInterpretation="MONOCHROME1")
    img = read_image(path)
    lo, hi = -(2**15), 2**15 - 1
    expected = lo + hi - _linear_window(ds.pixel_array, 600.0, 1600.0, lo, hi)
    np.testing.assert_allclose(img.array, expected, rtol=1e-6, atol=0.01)
    # Without a window the stored range itself is flipped.
    path2, ds2 = _as_dx(tmp_path, "m1.dcm", PhotometricInterpretation="MONOCHROME1", WindowCenter=None, WindowWidth=None)
    img2 = read_image(path2)
    x = ds2.pixel_array.astype(np.float32)
    np.testing.assert_array_equal(img2.array, x.max() + x.min() - x)
    assert img2.meta["voi"] is None and img2.meta["photometric"] == "MONOCHROME1"


def test_voi_lut_sequence_preferred_over_window(tmp_path):
    item = Dataset()
    first, n = 100, 1024
    lut = (np.arange(n) * 255 // (n - 1)).astype(np.uint16)[::-1].copy()  # a decreasing 8-bit LUT
    item.add_new(0x00283002, "US", [n, first, 8])  # LUTDescriptor: entries, first mapped value, bits
    item.add_new(0x00283006, "US", lut.tolist())  # LUTData
    path, ds = _as_dx(tmp_path, VOILUTSequence=Sequence([item]))
    img = read_image(path)
    assert img.meta["voi"] == "lut" and img.meta["value_range"] == (0.0, 255.0)
    expected = lut[np.clip(ds.pixel_array.astype(np.int64) - first, 0, n - 1)]
    np.testing.assert_array_equal(img.array, expected.astype(np.float32))


def test_imager_pixel_spacing_and_unknown_spacing(tmp_path):
    path, _ = _as_dx(tmp_path, PixelSpacing=None, ImagerPixelSpacing=[0.143, 0.139])
    img = read_image(path)
    assert img.spacing == pytest.approx((0.143, 0.139)) and img.meta["spacing_source"] == "ImagerPixelSpacing"
    path, _ = _as_dx(tmp_path, "nospacing.dcm", PixelSpacing=None)
    img = read_image(path)
    assert img.spacing == (1.0, 1.0) and img.meta["spacing_known"] is False


def test_patient_orientation_gives_axes(tmp_path):
    # PA chest film: rows run to the patient's left, columns to the feet.
    path, _ = _as_dx(tmp_path, ImageOrientationPatient=None, ImagePositionPatient=None, PatientOrientation=["L", "F"])
    img = read_image(path)
    assert img.meta["orientation_known"] is True
    assert img.orientation == "IL"  # axis 0 (down the rows) -> inferior, axis 1 (along a row) -> left


@pytest.mark.parametrize("name, match", [
    ("MR_truncated.dcm", r"MR_truncated\.dcm: pixel data are unreadable.*truncated.*Fix"),
    ("rtplan.dcm", r"rtplan\.dcm: the DICOM object has no pixel data.*RTPLAN.*Fix"),
    ("rtdose.dcm", r"rtdose\.dcm: multi-frame DICOM \(15 frames\).*dcm2niix"),
    ("JPEG-lossy.dcm", r"JPEG-lossy\.dcm: pixel data cannot be decoded.*Fix: install"),
    ("no_meta.dcm", r"no_meta\.dcm: not a DICOM file.*Fix"),
])
def test_bad_pydicom_files_refused(name, match):
    with pytest.raises(ValueError, match=match):
        read_image(get_testdata_file(name))


def test_other_bad_files(tmp_path):
    fake = tmp_path / "scan.dcm"
    fake.write_text("definitely not dicom" * 20)
    with pytest.raises(ValueError, match=r"scan\.dcm: not a DICOM file"):
        read_image(fake)
    with pytest.raises(ValueError, match=r"modality='ct' was requested but the header says Modality=MR"):
        read_image(MR_SMALL, modality="ct")
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(open(CT_SMALL, "rb").read()[:1000])
    with pytest.raises(ValueError, match=r"cut\.dcm.*(truncated|no pixel data)"):
        read_image(cut)


def test_real_j2k_ct_slice_in_hu():
    path = get_testdata_file("693_J2KI.dcm")
    ds = pydicom.dcmread(path)
    img = read_image(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(img.array, expected)
    assert img.array.shape == (512, 512) and img.meta["units"] == "HU"
    assert -1100 < np.median(img.array) < 1000  # a body slice: median between air and soft tissue
