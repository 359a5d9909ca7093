"""Builders for DICOM test inputs (CT slices with known geometry); unique module name, imported by io tests."""

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def make_slice(pixels: np.ndarray, ipp, iop, spacing_rc, series_uid: str, slope=1.0, intercept=-1024.0,
               instance=1, modality="CT", thickness=5.0) -> Dataset:
    """A minimal valid single-frame CT slice; `pixels` is (rows, columns) int16."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = modality, "P1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.4", series_uid
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [f"{v:.6f}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in iop]
    ds.PixelSpacing = [f"{v:g}" for v in spacing_rc]
    ds.SliceThickness = f"{thickness:g}"
    ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = np.ascontiguousarray(pixels.astype("<i2")).tobytes()
    return ds


class SeriesSpec:
    """Geometry of a written series: native voxel (i=column, j=row, k=slice) -> LPS mm."""


    def __init__(self, row, col, spacing_rc, origin, step):
        self.row, self.col = np.asarray(row, float), np.asarray(col, float)
        self.spacing_rc, self.origin, self.step = spacing_rc, np.asarray(origin, float), np.asarray(step, float)


    @property
    def matrix(self) -> np.ndarray:
        return np.column_stack([self.row * self.spacing_rc[1], self.col * self.spacing_rc[0], self.step])


    def native_index(self, ras_world) -> tuple[int, int, int]:
        """Native (i, j, k) at a RAS+ world point, by solving the LPS geometry (independent of radkit)."""
        lps = np.array([-ras_world[0], -ras_world[1], ras_world[2]])
        ijk = np.linalg.solve(self.matrix, lps - self.origin)
        np.testing.assert_allclose(ijk, np.rint(ijk), atol=1e-3)
        return tuple(int(v) for v in np.rint(ijk))


def write_series(folder: Path, stored: np.ndarray, spec: SeriesSpec, slope=1.0, intercept=-1024.0,
           series_uid=None, seed=0, **slice_kw) -> list[Path]:
    """Write `stored` (int16, native (columns, rows, slices)) one file per slice, names in shuffled order."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    n = stored.shape[2]
    names = np.random.default_rng(seed).permutation(n)  # file name order != slice order
    paths = []
    iop = list(spec.row) + list(spec.col)
    for k in range(n):
        ds = make_slice(stored[:, :, k].T, spec.origin + k * spec.step, iop, spec.spacing_rc, series_uid,
                        slope=slope, intercept=intercept, instance=int(names[k]) + 1, **slice_kw)
        path = folder / f"IM{names[k]:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths  # paths[k] holds slice k
