"""`read_image`: one entry point that recognises DICOM files/series, NIfTI and PNG/JPEG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radkit.io.image import META_KEYS, Image
from radkit.io.validate import require_path

_EXPECTED = "a DICOM file, a DICOM series folder, a NIfTI (.nii/.nii.gz) or a PNG/JPEG"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def read_image(path: str | Path, modality: str | None = None, raw: bool = False) -> Image:
    """Read a medical image, recognising the format from what `path` is.

    - folder: a DICOM series (CT), sorted along the slice normal, rescaled to HU, RAS+ voxel order.
    - DICOM file: a radiograph or single slice, `(H, W)`, MONOCHROME1 inverted, VOI LUT/window applied.
    - `.nii` / `.nii.gz`: NIfTI via nibabel, RAS+ voxel order, affine kept.
    - `.png` / `.jpg`: grayscale picture, spacing unknown (`meta["spacing_known"] = False`).

    Args:
        path: file or folder.
        modality: override/declare the modality ("cxr", "ct", "mr", ...); default from the header
            (DICOM), "ct" for NIfTI, "cxr" for pictures.
        raw: CT only: return stored integers (int16) with `rescale_slope`/`rescale_intercept` in `meta`
            instead of float32 HU.

    Returns:
        `Image` (array, spacing in mm, RAS+ affine, modality, meta, path). 3D volumes come back in RAS+
        voxel order (`Image.orientation == "RAS"` unless oblique; `meta["oblique"]` then is True).

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: unknown format, truncated or non-image file, no pixel data, wrong dimensionality,
            inconsistent series, or intensities contradicting the declared units. Messages name the path,
            what was expected and the fix.

    Example:
        >>> img = read_image("scan_dir/")            # doctest: +SKIP
        >>> img.array.shape, img.spacing, img.orientation  # doctest: +SKIP
        ((512, 512, 120), (0.7, 0.7, 2.5), 'RAS')
    """
    p = require_path(path, _EXPECTED)
    if modality is not None:
        modality = modality.lower()
    image = _dispatch(p, modality, raw)
    _complete_meta(image)
    return image


def _dispatch(p: Path, modality: str | None, raw: bool) -> Image:
    if p.is_dir():
        from radkit.io.dicom_series import read_dicom_series

        return read_dicom_series(p, modality=modality, raw=raw)
    fmt = sniff_format(p)
    if fmt == "nifti":
        from radkit.io.nifti import read_nifti

        return read_nifti(p, modality=modality, raw=raw)
    if fmt == "raster":
        from radkit.io.raster import read_raster

        return read_raster(p, modality=modality)
    from radkit.io.dicom_file import read_dicom_file

    return read_dicom_file(p, modality=modality, raw=raw)


def _complete_meta(image: Image) -> None:
    """Give every reader's meta the same keys (`META_KEYS`), so callers never need format checks."""
    meta = image.meta
    meta.setdefault("oblique", image.is_oblique)
    meta.setdefault("orientation_known", True)
    meta.setdefault("voi", None)
    meta.setdefault("series_uid", None)
    if "value_range" not in meta and image.array.size:
        meta["value_range"] = (float(np.min(image.array)), float(np.max(image.array)))
    for key in META_KEYS:
        meta.setdefault(key, None)


def sniff_format(path: Path) -> str:
    """Return "nifti", "raster" or "dicom" for a file, from its name and first bytes.

    Raises:
        ValueError: empty file or a format radkit does not read.
    """
    name = path.name.lower()
    try:
        with open(path, "rb") as fh:
            head = fh.read(352)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc}). Fix: check permissions.") from None
    if not head:
        raise ValueError(f"{path}: the file is empty; expected {_EXPECTED}. Fix: re-copy or re-export it.")
    if name.endswith((".nii", ".nii.gz")) or head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "nifti"
    if head.startswith(_PNG_MAGIC) or head.startswith(_JPEG_MAGIC) or name.endswith((".png", ".jpg", ".jpeg")):
        return "raster"
    if head[128:132] == b"DICM" or name.endswith((".dcm", ".dicom", ".ima")) or "." not in name:
        return "dicom"
    raise ValueError(
        f"{path}: unrecognised image format (suffix {path.suffix!r}); expected {_EXPECTED}. "
        "Fix: convert it (e.g. dcm2niix for other medical formats) or rename it with the right suffix."
    )
