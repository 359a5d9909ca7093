"""Checks shared by the readers: file existence and CT intensities that must agree with their units."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Plausible Hounsfield range for body tissue, air, bone and common metal.
HU_MIN, HU_MAX = -2000.0, 5000.0
# Scanners fill voxels outside the reconstruction circle with one constant below air
# (-2000, -2048, -3024, -3072 HU are all seen); such a plateau at the minimum is not tissue.
_PADDING_FLOOR = -3100.0


def describe_error(exc: BaseException) -> str:
    """A library exception as one line ("Type: message"), for wrapping into radkit's own errors."""
    return f"{type(exc).__name__}: " + " ".join(str(exc).split())


def require_path(path: str | Path, what: str) -> Path:
    """Return `path` as a Path, or raise FileNotFoundError naming it and what was expected."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(
            f"{p}: no such file or folder; expected {what}. Fix: check the path (cwd is {Path.cwd()})."
        )
    return p


def check_ct_intensity(
    array: np.ndarray, units: str, path: str | Path, padding_value: float | None = None
) -> None:
    """Refuse a CT volume whose values contradict its declared units.

    Checked: no NaN/inf; not all one value; for `units == "HU"` every voxel lies in
    [`HU_MIN`, `HU_MAX`], except a padding value (the declared `padding_value`, or a constant plateau at the
    minimum between -3100 and -2000 HU that scanners write outside the field of view).

    Args:
        array: CT voxels, any shape, already rescaled when `units == "HU"`.
        units: "HU" (rescaled Hounsfield units) or "raw" (stored values; only the generic checks apply).
        path: where the volume came from, for the message.
        padding_value: the header's pixel padding value in the same units as `array`, if declared.

    Raises:
        ValueError: naming the path, the observed range, what was expected and the fix.
    """
    if array.size == 0:
        raise ValueError(f"{path}: the CT volume is empty (shape {array.shape}); expected voxels. "
                         "Fix: check the export (all slices present, pixel data not stripped).")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(
            f"{path}: {int((~finite).sum())} voxels are NaN or infinite; expected finite CT values. "
            "Fix: re-export the volume, or replace the non-finite voxels (e.g. with -1024 HU) first."
        )
    lo, hi = float(array.min()), float(array.max())
    if lo == hi:
        raise ValueError(
            f"{path}: every voxel equals {lo:g}; a CT volume has air, tissue and bone. "
            "Fix: the pixel data was probably blanked or mis-exported; re-export the series."
        )
    if units != "HU":
        return
    body = array
    if padding_value is not None:
        body = body[body != padding_value]
    if body.size and float(body.min()) < HU_MIN and float(body.min()) >= _PADDING_FLOOR:
        body = body[body != body.min()]
    if body.size == 0:
        return
    b_lo, b_hi = float(body.min()), float(body.max())
    if b_lo < HU_MIN or b_hi > HU_MAX:
        raise ValueError(
            f"{path}: CT declared in Hounsfield units but values span [{b_lo:g}, {b_hi:g}], outside the "
            f"plausible [{HU_MIN:g}, {HU_MAX:g}] HU (air is -1000, water 0, bone up to ~3000). The rescale "
            "slope/intercept are probably wrong, applied twice, or the data are not CT. Fix: correct "
            "RescaleSlope/RescaleIntercept in the header (or the NIfTI scl_slope/scl_inter), or read with "
            "raw=True and rescale yourself."
        )
