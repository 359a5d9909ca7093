"""Bad CT series are refused with a message naming the offending file(s) and the fix."""

import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radkit.io import read_image

sys.path.insert(0, str(Path(__file__).parent))
from io_dicom_builders import SeriesSpec, write_series  # noqa: E402

AXIAL = SeriesSpec(row=(1, 0, 0), col=(0, 1, 0), spacing_rc=(0.7, 0.7), origin=(0, 0, 0), step=(0, 0, 2.0))


def _stored(n=6):
    return np.random.default_rng(5).integers(0, 2000, size=(4, 4, n)).astype(np.int16)


def test_mixed_series_names_both_uids(tmp_path):
    write_series(tmp_path, _stored(), AXIAL, series_uid="1.2.826.0.1.1")
    extra = SeriesSpec((1, 0, 0), (0, 1, 0), (0.7, 0.7), (0, 0, 1.0), (0, 0, 2.0))
    paths = write_series(tmp_path / "tmp", _stored(2), extra, series_uid="1.2.826.0.1.2")
    for p in paths:
        p.rename(tmp_path / f"other_{p.name}")
    with pytest.raises(ValueError, match=r"2 series: 1\.2\.826\.0\.1\.1 \(6 files.*1\.2\.826\.0\.1\.2 \(2 files, e\.g\. other_"):
        read_image(tmp_path)


def test_missing_slice_names_neighbours(tmp_path):
    paths = write_series(tmp_path, _stored(), AXIAL)
    paths[3].unlink()
    with pytest.raises(ValueError, match=rf"gap of 4\.000 mm between {paths[2].name} and {paths[4].name}.*1 slice\(s\) missing.*Fix"):
        read_image(tmp_path)


def test_duplicate_position_names_both_files(tmp_path):
    paths = write_series(tmp_path, _stored(), AXIAL)
    ds = pydicom.dcmread(paths[1])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(tmp_path / "copy_of_slice1.dcm")
    with pytest.raises(ValueError, match=r"same slice position.*remove the duplicate") as info:
        read_image(tmp_path)
    assert paths[1].name in str(info.value) and "copy_of_slice1.dcm" in str(info.value)


def test_inconsistent_orientation_names_the_file(tmp_path):
    paths = write_series(tmp_path, _stored(), AXIAL)
    ds = pydicom.dcmread(paths[4])
    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
    ds.save_as(paths[4])
    with pytest.raises(ValueError, match=rf"{paths[4].name} \(1 file\(s\)\): ImageOrientationPatient "
                       r"\[1, 0, 0, 0, 0, -1\] differs from the other 5.*localizer"):
        read_image(tmp_path)


def test_truncated_slice_names_the_file(tmp_path):
    paths = write_series(tmp_path, _stored(), AXIAL)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: len(data) - 20])
    with pytest.raises(ValueError, match=rf"{paths[2].name}.*truncated"):
        read_image(tmp_path)


@pytest.mark.parametrize("index, attribute, message", [
    (0, "PixelData", "the DICOM object has no pixel data"),
    (5, "ImagePositionPatient", "lacks ImagePositionPatient"),
])
def test_slice_missing_an_attribute_names_the_file(tmp_path, index, attribute, message):
    paths = write_series(tmp_path, _stored(), AXIAL)
    ds = pydicom.dcmread(paths[index])
    delattr(ds, attribute)
    ds.save_as(paths[index])
    with pytest.raises(ValueError, match=rf"{paths[index].name}: {message}"):
        read_image(tmp_path)


@pytest.mark.parametrize("slope, intercept, fill, match", [
    (100.0, -1024.0, None, r"Hounsfield.*outside the plausible"),  # slope far too large
    (1.0, -1024.0, 500, r"every voxel equals -524"),  # blank volume
])
def test_intensity_contradicting_units_refused(tmp_path, slope, intercept, fill, match):
    stored = _stored() if fill is None else np.full((4, 4, 6), fill, np.int16)
    write_series(tmp_path, stored, AXIAL, slope=slope, intercept=intercept)
    with pytest.raises(ValueError, match=match):
        read_image(tmp_path)
    with pytest.raises(ValueError, match=match):
        read_image(tmp_path, raw=True)  # raw values are still checked through their rescale


def test_folders_without_dicom(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: no DICOM files found"):
        read_image(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "report.txt").write_text("no acute findings")
    with pytest.raises(ValueError, match=r"text: no DICOM files found \(1 other files: report\.txt\)"):
        read_image(tmp_path / "text")
    with pytest.raises(FileNotFoundError, match=r"nowhere.*expected a DICOM file, a DICOM series folder"):
        read_image(tmp_path / "nowhere")
