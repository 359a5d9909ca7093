"""DICOM helpers shared by the file and series readers: guarded reads, pixel decoding, geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from radkit.io.image import LPS_TO_RAS
from radkit.io.validate import describe_error

# Projection radiography modalities that radkit treats as chest X-ray.
CXR_MODALITIES = {"CR", "DX", "DR", "RG"}
_DECODE_FIX = (
    "Fix: install a decoder for its transfer syntax (pip install pylibjpeg pylibjpeg-libjpeg "
    "pylibjpeg-openjpeg, or python-gdcm), or decompress it first (e.g. gdcmconv --raw)."
)


def read_dataset(path: Path, stop_before_pixels: bool = False) -> Dataset:
    """dcmread with every pydicom/OS failure turned into a ValueError naming the file and the fix."""
    try:
        return pydicom.dcmread(str(path), stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        raise ValueError(
            f"{path}: not a DICOM file (no 'DICM' marker at byte 128); expected a DICOM image. "
            "Fix: pass a real DICOM file, or convert the file to DICOM/NIfTI/PNG first."
        ) from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(
            f"{path}: the DICOM file cannot be parsed ({describe_error(exc)}); it is probably "
            "truncated or corrupt. Fix: re-copy or re-export it from the PACS."
        ) from None


def pixels(ds: Dataset, path: Path) -> np.ndarray:
    """Decoded stored pixel values (no LUTs); ValueError when absent, truncated or not decodable."""
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise ValueError(
            f"{path}: the DICOM object has no pixel data (SOP class {ds.get('SOPClassUID', 'unknown')}, "
            f"modality {ds.get('Modality', 'unknown')}); expected an image. Fix: pass the image files, "
            "not structured reports, RT plans or presentation states."
        )
    try:
        return ds.pixel_array
    except (RuntimeError, NotImplementedError, ImportError) as exc:
        raise ValueError(f"{path}: pixel data cannot be decoded ({describe_error(exc)}). {_DECODE_FIX}") from None
    except (ValueError, EOFError, OSError, TypeError, AttributeError, KeyError) as exc:
        raise ValueError(
            f"{path}: pixel data are unreadable ({describe_error(exc)}); the file is probably "
            "truncated or its image header (rows, columns, bits) is wrong. Fix: re-export it."
        ) from None


def radkit_modality(ds: Dataset, requested: str | None, path: Path) -> str:
    """The radkit modality: `requested` if given (checked against a CT request), else from the header."""
    header = str(ds.get("Modality", "") or "").upper()
    if requested is not None:
        if requested == "ct" and header and header != "CT":
            raise ValueError(
                f"{path}: modality='ct' was requested but the header says Modality={header}; Hounsfield "
                f"units only exist for CT. Fix: pass modality={header.lower()!r} or leave it None."
            )
        return requested
    if header in CXR_MODALITIES:
        return "cxr"
    return header.lower() or "unknown"


def rescale(ds: Dataset) -> tuple[float, float]:
    """(RescaleSlope, RescaleIntercept) with the DICOM defaults (1, 0) when absent."""
    slope = ds.get("RescaleSlope", None)
    inter = ds.get("RescaleIntercept", None)
    return (float(slope) if slope not in (None, "") else 1.0, float(inter) if inter not in (None, "") else 0.0)


def ct_units(ds: Dataset) -> str:
    """"HU" for CT unless RescaleType names another unit."""
    rtype = str(ds.get("RescaleType", "") or "").upper()
    return "HU" if rtype in ("", "HU") else "raw"


def window(ds: Dataset) -> tuple[float, float] | None:
    """First (WindowCenter, WindowWidth) pair in the header, or None."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return None
    center, width = ds.WindowCenter, ds.WindowWidth
    center = center[0] if isinstance(center, pydicom.multival.MultiValue) else center
    width = width[0] if isinstance(width, pydicom.multival.MultiValue) else width
    return float(center), float(width)


def pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str]:
    """(row spacing, column spacing) in mm and where it came from (PixelSpacing, ImagerPixelSpacing or none)."""
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(tag, None)
        if value is not None and len(value) == 2 and float(value[0]) > 0 and float(value[1]) > 0:
            return (float(value[0]), float(value[1])), tag
    return None, "none"


def orientation_vectors(ds: Dataset) -> tuple[np.ndarray, np.ndarray] | None:
    """Unit row and column direction cosines (LPS) from ImageOrientationPatient, or None."""
    iop = ds.get("ImageOrientationPatient", None)
    if iop is None or len(iop) != 6:
        return None
    row = np.asarray([float(v) for v in iop[:3]])
    col = np.asarray([float(v) for v in iop[3:]])
    return row / np.linalg.norm(row), col / np.linalg.norm(col)


def affine_ras(row: np.ndarray, col: np.ndarray, spacing_rc: tuple[float, float], origin_lps: np.ndarray,
               third_lps: np.ndarray, index_order: str) -> np.ndarray:
    """RAS+ affine for DICOM geometry.

    Args:
        row, col: unit direction cosines (LPS) of increasing column index and increasing row index.
        spacing_rc: PixelSpacing (between rows, between columns) in mm.
        origin_lps: position of the first transmitted pixel.
        third_lps: world step (LPS mm) of the third array axis (slice step or slice normal).
        index_order: "rc" when array axes are (row, column, ...) (2D files), "cr" when (column, row, slice).
    """
    step_col_index = row * spacing_rc[1]  # moving one column goes along the row cosine
    step_row_index = col * spacing_rc[0]
    lps = np.eye(4)
    first, second = (step_row_index, step_col_index) if index_order == "rc" else (step_col_index, step_row_index)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = first, second, third_lps, origin_lps
    return LPS_TO_RAS @ lps


def as_int16(stored: np.ndarray) -> np.ndarray:
    """Stored integers as int16 when they fit (the fused CT kernel's input type), else unchanged."""
    if np.issubdtype(stored.dtype, np.integer) and stored.size and (
        int(stored.min()) >= -32768 and int(stored.max()) <= 32767
    ):
        return stored.astype(np.int16, copy=False)
    return stored
