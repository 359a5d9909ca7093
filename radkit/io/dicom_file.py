"""Single DICOM file reader: radiographs (CXR) and single slices, `(H, W)` in display order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from radkit.io import dicom_common as dc
from radkit.io.image import Image
from radkit.io.validate import check_ct_intensity

# Letters of PatientOrientation (0020,0020) as LPS unit vectors.
_LETTERS = {"L": (1, 0, 0), "R": (-1, 0, 0), "P": (0, 1, 0), "A": (0, -1, 0), "H": (0, 0, 1), "F": (0, 0, -1)}


def read_dicom_file(path: Path, modality: str | None = None, raw: bool = False) -> Image:
    """Read one DICOM image file.

    CT slices are rescaled to HU (no windowing). Other modalities get the modality LUT (rescale); CXR also
    gets the VOI LUT or window center/width when the header has one, then MONOCHROME1 is inverted so
    bright means dense, as in MONOCHROME2.

    Args:
        path: DICOM file.
        modality: radkit modality override ("cxr", "ct", ...); default from the header (CR/DX -> "cxr").
        raw: return stored pixel values (int16 where they fit) without any LUT or inversion.

    Returns:
        `Image` with `array` `(H, W)` float32 (rows, columns). `meta["value_range"]` is the nominal output
        range after the VOI step (before inversion they are the same range), `meta["voi"]` what was applied.

    Raises:
        ValueError: not DICOM, truncated, no pixel data, multi-frame, undecodable, or HU out of range.
    """
    ds = dc.read_dataset(path)
    modality = dc.radkit_modality(ds, modality, path)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ValueError(
            f"{path}: multi-frame DICOM ({frames} frames); radkit reads single-frame files and series folders. "
            "Fix: convert it to NIfTI (e.g. dcm2niix) and read the .nii.gz."
        )
    stored = dc.pixels(ds, path)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if stored.ndim == 3 and stored.shape[-1] == 3:
        # Colour (RGB after pydicom's YBR conversion): ITU-R 601 luma, as for colour PNGs.
        stored = stored[..., 0] * 0.299 + stored[..., 1] * 0.587 + stored[..., 2] * 0.114
    if stored.ndim != 2:
        raise ValueError(f"{path}: pixel array of shape {stored.shape}; expected a 2D image. "
                         "Fix: convert it to NIfTI (e.g. dcm2niix) first.")
    slope, inter = dc.rescale(ds)
    meta = {
        "source_format": "dicom",
        "dicom_modality": str(ds.get("Modality", "")),
        "rescale_slope": slope,
        "rescale_intercept": inter,
        "photometric": photometric,
        "window": dc.window(ds),
        "n_slices": 1,
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "study_uid": str(ds.get("StudyInstanceUID", "")),
        "view": str(ds.get("ViewPosition", "") or "") or None,
    }
    if raw:
        array = dc.as_int16(stored)
        if modality == "ct":
            pad = ds.get("PixelPaddingValue", None)
            check_ct_intensity(stored.astype(np.float64) * slope + inter, dc.ct_units(ds), path,
                               None if pad is None else float(pad) * slope + inter)
        meta.update(units="raw", voi=None, value_range=(float(array.min()), float(array.max())))
    elif modality == "ct":
        units = dc.ct_units(ds)
        array = (stored.astype(np.float64) * slope + inter).astype(np.float32)
        pad = ds.get("PixelPaddingValue", None)
        check_ct_intensity(array, units, path, None if pad is None else float(pad) * slope + inter)
        meta.update(units=units, voi=None, value_range=(float(array.min()), float(array.max())))
    else:
        array, voi, value_range = _display_values(ds, stored, modality)
        if photometric == "MONOCHROME1":
            # MONOCHROME1 shows low values white; flip within the range so bright means dense everywhere.
            array = value_range[0] + value_range[1] - array
        meta.update(units="raw", voi=voi, value_range=value_range)
    spacing_rc, source = dc.pixel_spacing(ds)
    meta["spacing_known"] = spacing_rc is not None
    meta["spacing_source"] = source
    spacing_rc = spacing_rc or (1.0, 1.0)
    affine, known = _affine_2d(ds, spacing_rc)
    meta["orientation_known"] = known
    return Image(array=np.ascontiguousarray(array, dtype=array.dtype), spacing=spacing_rc, affine=affine,
                 modality=modality, meta=meta, path=str(path))


def _display_values(ds: Dataset, stored: np.ndarray, modality: str) -> tuple[np.ndarray, str | None, tuple]:
    """Modality LUT, then (CXR only) the VOI LUT/window; returns values, what VOI ran, the nominal range."""
    values = apply_modality_lut(stored, ds)
    voi = None
    if modality == "cxr":
        if "VOILUTSequence" in ds:
            voi = "lut"
        elif dc.window(ds) is not None:
            voi = "window"
        if voi == "lut":
            values = _apply_lut_sequence(values, ds)
        elif voi == "window":
            values = apply_voi_lut(values, ds, prefer_lut=False)
    values = np.asarray(values, dtype=np.float32)
    if voi == "lut":
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        value_range = (0.0, float(2**bits - 1))
    elif voi == "window":
        value_range = _window_output_range(ds)
    else:
        value_range = (float(values.min()), float(values.max()))
    return values, voi, value_range


def _apply_lut_sequence(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """First VOI LUT of the header (PS3.3 C.11.2.1.1): below/above the mapped range take the end entries.

    Written here because pydicom 3.0's apply_voi_lut stores inputs in the LUT's 8-bit type and wraps
    stored values above 255.
    """
    item = ds.VOILUTSequence[0]
    n, first, _ = (int(v) for v in item.LUTDescriptor)
    n = n or 2**16
    if first >= 2**15 and int(ds.get("PixelRepresentation", 0)) == 1:
        first -= 2**16  # a signed first-mapped value written as US
    data = item.LUTData
    if isinstance(data, bytes):
        little = ds.file_meta.TransferSyntaxUID.is_little_endian if hasattr(ds, "file_meta") else True
        lut = np.frombuffer(data, dtype="<u2" if little else ">u2")[:n]
    else:
        lut = np.asarray(data, dtype=np.int64)
    index = np.clip(np.rint(np.asarray(values, dtype=np.float64)).astype(np.int64) - first, 0, n - 1)
    return lut[index]


def _window_output_range(ds: Dataset) -> tuple[float, float]:
    """Output range of DICOM linear windowing: the stored range after the modality LUT (PS3.3 C.11.2.1.2)."""
    bits = int(ds.BitsStored)
    if int(ds.get("PixelRepresentation", 0)) == 0:
        lo, hi = 0, 2**bits - 1
    else:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if "ModalityLUTSequence" not in ds and "RescaleSlope" in ds and "RescaleIntercept" in ds:
        slope, inter = dc.rescale(ds)
        lo, hi = lo * slope + inter, hi * slope + inter
    return float(lo), float(hi)


def _affine_2d(ds: Dataset, spacing_rc: tuple[float, float]) -> tuple[np.ndarray, bool]:
    """RAS+ affine of an `(H, W)` image: from IOP/IPP, else PatientOrientation letters, else spacing only."""
    vectors = dc.orientation_vectors(ds)
    ipp = ds.get("ImagePositionPatient", None)
    if vectors is None:
        vectors = _patient_orientation(ds)
    if vectors is None:
        return np.diag([spacing_rc[0], spacing_rc[1], 1.0, 1.0]), False
    row, col = vectors
    normal = np.cross(row, col)
    thickness = float(ds.get("SliceThickness", 0) or 0) or 1.0
    has_ipp = ipp is not None and len(ipp) == 3
    origin = np.asarray([float(v) for v in ipp], dtype=np.float64) if has_ipp else np.zeros(3)
    return dc.affine_ras(row, col, spacing_rc, origin, normal * thickness, index_order="rc"), True


def _patient_orientation(ds: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """Row/column directions from PatientOrientation (e.g. ["L", "F"] for a PA chest film)."""
    value = ds.get("PatientOrientation", None)
    if value is None or len(value) != 2:
        return None
    out = []
    for letters in value:
        vec = np.sum([_LETTERS[c] for c in str(letters).upper() if c in _LETTERS], axis=0)
        if np.ndim(vec) == 0 or not np.any(vec):
            return None
        out.append(np.asarray(vec, dtype=np.float64) / np.linalg.norm(vec))
    return out[0], out[1]

