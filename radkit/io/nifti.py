"""NIfTI (.nii, .nii.gz) reader on nibabel: affine kept, 3D volumes returned in RAS+ voxel order."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.filebasedimages import ImageFileError

from radkit.io.image import Image, spacing_from_affine
from radkit.io.validate import check_ct_intensity, describe_error

_LOAD_ERRORS = (ImageFileError, OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile, MemoryError)


def read_nifti(path: Path, modality: str | None = None, raw: bool = False) -> Image:
    """Read a NIfTI-1/2 file.

    Args:
        path: `.nii` or `.nii.gz` file.
        modality: "ct" (default: a 3D NIfTI in radkit is a CT in HU), "cxr" for a 2D image stored as NIfTI,
            or another modality name (no HU check; 4D allowed).
        raw: return the stored values (int16 when they fit) with `scl_slope`/`scl_inter` in meta instead of
            scaled float32.

    Returns:
        `Image`; 3D+ arrays are in RAS+ voxel order (closest RAS+ for oblique, `meta["oblique"]` says so).

    Raises:
        ValueError: unreadable/truncated file, 4D where 3D CT was expected, values contradicting HU.
    """
    modality = (modality or "ct").lower()
    try:
        img = nib.load(str(path))
    except _LOAD_ERRORS as exc:
        raise ValueError(
            f"{path}: not a readable NIfTI file ({describe_error(exc)}); expected a .nii/.nii.gz image. "
            "Fix: check the file is complete (re-copy or re-export it) and really NIfTI."
        ) from None
    shape = tuple(int(s) for s in img.shape)
    # A trailing singleton volume axis (X, Y, Z, 1) is a 3D image written by 4D-minded tools.
    keep = len(shape)
    while keep > 3 and shape[keep - 1] == 1:
        keep -= 1
    if modality == "cxr" and keep == 3 and shape[2] == 1:
        keep = 2
    if modality == "ct" and keep != 3:
        raise ValueError(
            f"{path}: NIfTI of shape {shape} ({keep}D) where a 3D CT volume was expected. Fix: extract one "
            "3D volume first, e.g. nibabel.funcs.four_to_three(img)[0] or img.slicer[..., 0], and save it; "
            "or pass modality='mr' (or another) to read a time series as-is."
        )
    try:
        if raw:
            data = np.asanyarray(img.dataobj.get_unscaled()) if hasattr(img.dataobj, "get_unscaled") else (
                np.asanyarray(img.dataobj))
        else:
            data = img.get_fdata(dtype=np.float32)
    except _LOAD_ERRORS as exc:
        raise ValueError(
            f"{path}: the NIfTI header is readable but the voxel data are not ({describe_error(exc)}); "
            "the file is probably truncated. Fix: re-copy or re-export it."
        ) from None
    data = data.reshape(shape[:keep])
    slope = float(getattr(img.dataobj, "slope", 1.0))
    inter = float(getattr(img.dataobj, "inter", 0.0))
    if raw and np.issubdtype(data.dtype, np.integer) and data.size and (
        data.min() >= np.iinfo(np.int16).min and data.max() <= np.iinfo(np.int16).max
    ):
        data = data.astype(np.int16, copy=False)
    units = "HU" if modality == "ct" else "raw"
    if modality == "ct":
        check_ct_intensity(data * np.float32(slope) + np.float32(inter) if raw else data, units, path)
    affine = np.asarray(img.affine, dtype=np.float64)
    meta = {
        "source_format": "nifti",
        "rescale_slope": slope,
        "rescale_intercept": inter,
        "units": units,
        "photometric": "MONOCHROME2",
        "window": None,
        "n_slices": int(shape[2]) if keep >= 3 else 1,
        "spacing_known": True,
        "qform_code": int(img.header["qform_code"]) if "qform_code" in img.header else None,
        "sform_code": int(img.header["sform_code"]) if "sform_code" in img.header else None,
    }
    image = Image(array=data, spacing=spacing_from_affine(affine, data.ndim), affine=affine,
                  modality=modality, meta=meta, path=str(path))
    if data.ndim >= 3:
        meta["oblique"] = image.is_oblique
        image = image.canonical(allow_oblique=True)
    if data.ndim == 4:
        image.spacing = image.spacing + (float(img.header.get_zooms()[3]),)
    return image
