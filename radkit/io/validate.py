"""Checks shared by the readers: file existence and CT intensities that must agree with their units."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Plausible Hounsfield range for body tissue, air, bone and common metal.
HU_MIN, HU_MAX = -2000.0, 5000.0
# Below HU_MIN is fill, not tissue: scanners pad outside the reconstruction circle (-2000, -2048, -3024 HU) and
# lossy JPEG 2000 rings around that edge (pydicom's 693_J2KI.dcm reaches -3995 HU). Tolerated while it is not
# the bulk of the volume; a sub-air bulk means a wrong or doubly applied intercept.
MAX_BELOW_FRACTION = 0.5
# Above HU_MAX only a few metal/ringing voxels are tolerated; more means a wrong slope or unscaled data.
MAX_ABOVE_FRACTION = 0.001


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

    Checked: no NaN/inf; not all one value; for `units == "HU"` voxels lie in [`HU_MIN`, `HU_MAX`]:
    at most `MAX_ABOVE_FRACTION` above (metal), at most `MAX_BELOW_FRACTION` below (field-of-view fill and
    compression ringing), not counting voxels equal to the declared `padding_value`.

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
    body = array if padding_value is None else array[array != padding_value]
    if body.size == 0:
        return
    below = float(np.mean(body < HU_MIN))
    above = float(np.mean(body > HU_MAX))
    if below > MAX_BELOW_FRACTION or above > MAX_ABOVE_FRACTION:
        b_lo, b_hi = float(body.min()), float(body.max())
        raise ValueError(
            f"{path}: CT declared in Hounsfield units but values span [{b_lo:g}, {b_hi:g}] with "
            f"{below:.1%} below {HU_MIN:g} and {above:.2%} above {HU_MAX:g} HU, outside the plausible "
            f"[{HU_MIN:g}, {HU_MAX:g}] HU (air is -1000, water 0, bone up to ~3000). The rescale "
            "slope/intercept are probably wrong, applied twice, or the data are not CT. Fix: correct "
            "RescaleSlope/RescaleIntercept in the header (or the NIfTI scl_slope/scl_inter); for data that "
            "are not CT, pass their modality (e.g. modality='mr')."
        )
