"""PNG/JPEG reader for chest X-rays exported as ordinary pictures (no physical spacing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from radkit.io.image import Image
from radkit.io.validate import describe_error

# PIL modes that already hold one grey channel (8-bit, 16-bit, 32-bit integer, float).
_GREY_MODES = {"L", "I;16", "I;16B", "I;16L", "I", "F"}


def read_raster(path: Path, modality: str | None = None) -> Image:
    """Read a PNG or JPEG radiograph as a grayscale `(H, W)` float32 image.

    Colour pictures are converted to luminance (ITU-R 601, PIL's "L"); 16-bit PNG values are kept.
    Spacing is unknown in these formats: `(1.0, 1.0)` with `meta["spacing_known"] = False`.

    Args:
        path: `.png`, `.jpg` or `.jpeg` file.
        modality: "cxr" (default); a picture cannot be a CT volume.

    Returns:
        `Image` with `array` `(H, W)` float32, `meta["value_range"]` the nominal range of the pixel type.

    Raises:
        ValueError: not a picture, truncated file, or a 3D modality requested.
    """
    modality = (modality or "cxr").lower()
    if modality == "ct":
        raise ValueError(
            f"{path}: a PNG/JPEG is a 2D picture, but modality='ct' expects a 3D volume. "
            "Fix: read the CT as a DICOM series folder or a NIfTI file, or pass modality='cxr'."
        )
    try:
        with PILImage.open(path) as pic:
            pic.load()
            mode = pic.mode
            if mode not in _GREY_MODES:
                pic = pic.convert("L")
            array = np.asarray(pic, dtype=np.float32).copy()
            n_frames = getattr(pic, "n_frames", 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(
            f"{path}: not a readable PNG/JPEG ({describe_error(exc)}); expected a grayscale radiograph "
            "picture. Fix: check the file is complete (re-copy/re-export it) and really an image."
        ) from None
    if array.ndim != 2:
        raise ValueError(f"{path}: picture of shape {array.shape}; expected a 2D grayscale image. "
                         "Fix: save the radiograph as a single-channel PNG.")
    value_range = (0.0, 255.0) if mode not in _GREY_MODES or mode == "L" else (
        (0.0, 65535.0) if mode.startswith("I;16") else (float(array.min()), float(array.max())))
    meta = {
        "source_format": Path(path).suffix.lower().lstrip(".").replace("jpeg", "jpg"),
        "rescale_slope": 1.0,
        "rescale_intercept": 0.0,
        "units": "raw",
        "photometric": "MONOCHROME2",
        "window": None,
        "n_slices": 1,
        "n_frames": int(n_frames),
        "spacing_known": False,
        "orientation_known": False,
        "pil_mode": mode,
        "value_range": value_range,
    }
    # Unknown geometry: identity affine (rows -> x, columns -> y), 1 mm nominal pixels.
    return Image(array=array, spacing=(1.0, 1.0), affine=np.eye(4), modality=modality, meta=meta, path=str(path))
