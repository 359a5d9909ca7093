"""Image writers (PNG, DICOM CXR file, DICOM CT series, NIfTI), all atomic.

Files are encoded in memory and written with a temp file + rename; a DICOM series
is written into a temp folder next to the target and renamed into place, so a
failure never leaves a half-written image or series behind.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import io
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from radkit.fileio import atomic_write_bytes

_AXIS_CODES = {"R": (1, 0, 0), "L": (-1, 0, 0), "A": (0, 1, 0), "P": (0, -1, 0), "S": (0, 0, 1), "I": (0, 0, -1)}


def _to_uint(array: np.ndarray, bits: int) -> np.ndarray:
    a = np.asarray(array)
    if a.ndim != 2:
        raise ValueError(f"expected a 2D (H, W) image, got shape {a.shape}; pass one grayscale image")
    top = 2 ** bits - 1
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("image has NaN/inf values; clean it before writing")
        if a.min() < 0 or a.max() > 1:
            raise ValueError(f"float image must be in [0, 1], got [{a.min():.3g}, {a.max():.3g}]; rescale it first")
        return np.round(a * top).astype(np.uint16 if bits > 8 else np.uint8)
    if a.min() < 0 or a.max() > top:
        raise ValueError(f"integer image values [{a.min()}, {a.max()}] do not fit {bits} bits; rescale first")
    return a.astype(np.uint16 if bits > 8 else np.uint8)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of a grayscale uint8 or uint16 (H, W) image.

    Every row uses the "Sub" filter (difference to the left pixel) and deflate with Huffman
    coding only: on noisy radiographs this is ~5x faster than PIL's adaptive filtering at zlib
    level 1 and the files are no larger. Deterministic (no timestamps).
    """
    a = np.asarray(img)
    if a.ndim != 2 or a.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"encode_png needs a 2D uint8/uint16 image, got {a.dtype} {a.shape}; convert it first")
    h, w = a.shape
    bpp = a.dtype.itemsize
    rows = a.astype(">u2").view(np.uint8).reshape(h, w * bpp) if bpp == 2 else a
    filt = np.empty((h, w * bpp + 1), np.uint8)
    filt[:, 0] = 1  # filter type 1 (Sub): byte - byte bpp to the left, modulo 256
    filt[:, 1:bpp + 1] = rows[:, :bpp]
    np.subtract(rows[:, bpp:], rows[:, :-bpp], out=filt[:, bpp + 1:])
    z = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    idat = z.compress(filt.tobytes()) + z.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8 * bpp, 0, 0, 0, 0)  # grey, deflate, adaptive-filter method, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def write_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a grayscale image (H, W) as PNG: float in [0, 1] -> 8 bit, uint8 as is, uint16 as 16 bit."""
    a = np.asarray(array)
    atomic_write_bytes(path, encode_png(_to_uint(a, 16 if a.dtype == np.uint16 else 8)))
    return Path(path)


def _base_dataset(modality: str, sop_class: str, study_uid: str | None, series_uid: str | None):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.Modality = modality
    ds.PatientName, ds.PatientID = "SYNTHETIC^RADKIT", "radkit-synth"
    ds.StudyDate = _dt.date.today().strftime("%Y%m%d")
    ds.SamplesPerPixel = 1
    return ds


def _dataset_bytes(ds) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_dicom_cxr(path: str | os.PathLike, array: np.ndarray, spacing: tuple[float, float],
                    photometric: str = "MONOCHROME2") -> Path:
    """Write a CXR (H, W) as a single-frame DICOM (12-bit unsigned, Modality DX).

    Args:
        array: float in [0, 1] (bright = dense) or integers in [0, 4095].
        spacing: (row, column) pixel spacing in mm.
        photometric: "MONOCHROME2" (stored as is) or "MONOCHROME1" (stored inverted,
            so a reader that honours MONOCHROME1 recovers the same image).
    """
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ValueError(f"photometric {photometric!r} invalid; use 'MONOCHROME2' or 'MONOCHROME1'")
    px = _to_uint(array, 12).astype(np.uint16)
    if photometric == "MONOCHROME1":
        px = (4095 - px).astype(np.uint16)
    ds = _base_dataset("DX", "1.2.840.10008.5.1.4.1.1.1.1", None, None)
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = px.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    ds.ImagerPixelSpacing = ds.PixelSpacing
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.ViewPosition = "PA"
    ds.PixelData = px.tobytes()
    atomic_write_bytes(path, _dataset_bytes(ds))
    return Path(path)


def orientation_affine(code: str, spacing: tuple[float, float, float], shape: tuple[int, int, int]) -> np.ndarray:
    """4x4 affine (RAS+ world, mm) for voxel axes named by a 3-letter code ('RAS', 'LPS', ...), centred at 0."""
    code = code.upper()
    axes = sorted(int(np.argmax(np.abs(_AXIS_CODES[c]))) for c in code if c in _AXIS_CODES)
    if len(code) != 3 or axes != [0, 1, 2]:
        raise ValueError(f"orientation {code!r} invalid; use three letters, one of R/L, A/P, S/I each, e.g. 'RAS'")
    aff = np.eye(4)
    for i, c in enumerate(code):
        aff[:3, i] = np.array(_AXIS_CODES[c], float) * spacing[i]
    aff[:3, 3] = -aff[:3, :3] @ ((np.array(shape) - 1) / 2)
    return aff


def write_dicom_series(folder: str | os.PathLike, volume_hu: np.ndarray, spacing: tuple[float, float, float],
                       affine_or_orientation: np.ndarray | str = "RAS", slope: float = 1.0,
                       intercept: float = -1024.0) -> Path:
    """Write a CT volume (X, Y, Z) in HU as a DICOM series folder, one file per slice (int16 stored).

    Args:
        folder: the series folder to create (replaced atomically if it exists).
        volume_hu: (X, Y, Z) Hounsfield units; voxel axes as given by the affine.
        spacing: (sx, sy, sz) voxel size in mm; must match the affine's column norms.
        affine_or_orientation: 4x4 voxel->RAS+ world affine (mm), or an axis code like "RAS".
        slope, intercept: stored = round((HU - intercept) / slope), written as RescaleSlope/Intercept.

    Returns:
        The folder path.
    """
    vol = np.asarray(volume_hu, np.float64)
    if vol.ndim != 3:
        raise ValueError(f"volume must be 3D (X, Y, Z), got shape {vol.shape}; pass one CT volume")
    if slope <= 0:
        raise ValueError(f"slope {slope} must be > 0")
    spacing = tuple(float(s) for s in spacing)
    aff = (orientation_affine(affine_or_orientation, spacing, vol.shape) if isinstance(affine_or_orientation, str)
           else np.asarray(affine_or_orientation, np.float64))
    if aff.shape != (4, 4):
        raise ValueError(f"affine must be 4x4, got {aff.shape}; or pass an orientation code like 'RAS'")
    norms = np.linalg.norm(aff[:3, :3], axis=0)
    if not np.allclose(norms, spacing, rtol=1e-4, atol=1e-4):
        raise ValueError(f"spacing {spacing} does not match the affine's voxel sizes {tuple(norms.round(4))}; "
                         "pass the spacing of the affine")
    stored = np.round((vol - intercept) / slope)
    if stored.min() < -32768 or stored.max() > 32767:
        raise ValueError(f"HU range [{vol.min():.0f}, {vol.max():.0f}] does not fit int16 with slope {slope} "
                         f"and intercept {intercept}; clip the volume or raise the slope")
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ aff  # DICOM patient coordinates are LPS
    # pixel (row r, column c) of slice k is voxel (c, r, k): columns run along voxel axis 0
    row_dir, col_dir = lps[:3, 0] / norms[0], lps[:3, 1] / norms[1]
    from pydicom.uid import generate_uid

    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        for k in range(vol.shape[2]):
            ds = _base_dataset("CT", "1.2.840.10008.5.1.4.1.1.2", study_uid, series_uid)
            ds.FrameOfReferenceUID = frame_uid
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows, ds.Columns = vol.shape[1], vol.shape[0]
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.PixelSpacing = [spacing[1], spacing[0]]  # (row spacing, column spacing)
            ds.SliceThickness = spacing[2]
            ds.ImageOrientationPatient = [float(v) for v in (*row_dir, *col_dir)]
            ds.ImagePositionPatient = [float(v) for v in (lps @ np.array([0, 0, k, 1.0]))[:3]]
            ds.InstanceNumber = k + 1
            ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = slope, intercept, "HU"
            ds.WindowCenter, ds.WindowWidth = -600, 1500
            ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).astype(np.int16).tobytes()
            (tmp / f"slice_{k:04d}.dcm").write_bytes(_dataset_bytes(ds))
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def write_nifti(path: str | os.PathLike, volume: np.ndarray, affine: np.ndarray) -> Path:
    """Write a volume (X, Y, Z) with its 4x4 voxel->RAS+ affine (mm) as .nii or .nii.gz.

    Integer-valued volumes within int16 (e.g. HU) are stored as int16, others as float32.
    """
    import nibabel as nib

    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise ValueError(f"NIfTI path {path} must end with .nii or .nii.gz")
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise ValueError(f"volume must be 3D (X, Y, Z), got shape {vol.shape}")
    if np.issubdtype(vol.dtype, np.integer) or (np.all(np.mod(vol, 1) == 0) and np.abs(vol).max() < 32768):
        vol = vol.astype(np.int16)
    else:
        vol = vol.astype(np.float32)
    img = nib.Nifti1Image(vol, np.asarray(affine, np.float64))
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_qform(img.affine, code=1)
    img.header.set_sform(img.affine, code=1)
    data = img.to_bytes()
    atomic_write_bytes(path, gzip.compress(data, compresslevel=1, mtime=0) if path.name.endswith(".gz") else data)
    return path
