"""The `Image` record every reader returns: voxels, geometry (spacing, affine) and header facts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from nibabel.orientations import (
    aff2axcodes,
    apply_orientation,
    axcodes2ornt,
    inv_ornt_aff,
    io_orientation,
    ornt_transform,
)

# A voxel axis whose direction is further than this from every world axis makes the image oblique.
OBLIQUE_TOLERANCE_DEG = 1.0

# Keys every `read_image` result carries in `meta` (None where the format has no such fact).
META_KEYS = (
    "source_format", "units", "rescale_slope", "rescale_intercept", "photometric", "window", "voi",
    "value_range", "n_slices", "series_uid", "spacing_known", "orientation_known", "oblique",
)

# DICOM patient coordinates are LPS+, radkit (like NIfTI/nibabel) uses RAS+: negate x and y.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class Image:
    """One medical image with its geometry and the header facts the pipeline needs.

    Attributes:
        array: voxels. CXR `(H, W)` float32 (rows, columns in display order); CT `(X, Y, Z)` float32
            in Hounsfield units (rescale slope/intercept applied), or int16 stored values when read with
            `raw=True`.
        spacing: voxel size in mm, one value per array axis (`spacing[a]` is the norm of affine column a).
        affine: `(4, 4)` float64 mapping a voxel index `(i, j, k, 1)` to RAS+ world mm. 2D images use
            `k = 0`; their third column is the slice normal.
        modality: "cxr", "ct" or another DICOM modality in lower case ("mr", ...).
        meta: header facts: `rescale_slope`, `rescale_intercept`, `units` ("HU" or "raw"),
            `photometric`, `window`, `source_format`, `n_slices`, `series_uid`, `oblique`,
            `spacing_known`, ... (readers document what they set).
        path: the file or folder the image was read from.
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    affine: np.ndarray
    modality: str
    meta: dict = field(default_factory=dict)
    path: str = ""

    @property
    def orientation(self) -> str:
        """Axis codes of the array axes in RAS+ world, e.g. "RAS" or "LPS" (as nibabel's aff2axcodes)."""
        codes = aff2axcodes(self.affine)
        return "".join(c if c is not None else "?" for c in codes[: min(self.array.ndim, 3)])

    @property
    def is_oblique(self) -> bool:
        """True when a spatial voxel axis is more than `OBLIQUE_TOLERANCE_DEG` off every world axis."""
        return obliquity_deg(self.affine, min(self.array.ndim, 3)) > OBLIQUE_TOLERANCE_DEG

    def canonical(self, allow_oblique: bool = False) -> Image:
        """Reorder and flip the spatial axes so the array is in RAS+ voxel order (no resampling).

        The affine is updated so every voxel keeps its world position. 2D projection images (CXR) are
        returned unchanged: they are not volumes and their display order is the convention.

        Args:
            allow_oblique: for an oblique volume, reorient to the closest RAS+ order instead of refusing.

        Returns:
            A new `Image`; `orientation` is "RAS" for non-oblique 3D input.

        Raises:
            ValueError: the volume is oblique and `allow_oblique` is False.
        """
        if self.array.ndim < 3:
            return replace(self, meta=dict(self.meta))
        angle = obliquity_deg(self.affine, 3)
        if angle > OBLIQUE_TOLERANCE_DEG and not allow_oblique:
            raise ValueError(
                f"{self.path}: the volume is oblique (a voxel axis is {angle:.1f} degrees off the nearest "
                f"world axis; limit {OBLIQUE_TOLERANCE_DEG}), so axis flips/permutations cannot make it "
                "RAS+. Fix: call canonical(allow_oblique=True) for the closest RAS+ order (affine stays "
                "exact), or resample it (e.g. MONAI Spacingd/Orientationd) first."
            )
        current = io_orientation(self.affine)
        transform = ornt_transform(current, axcodes2ornt("RAS"))
        array = np.ascontiguousarray(apply_orientation(self.array, transform))
        affine = self.affine @ inv_ornt_aff(transform, self.array.shape)
        meta = dict(self.meta)
        meta.setdefault("orientation_original", self.orientation)
        spacing = spacing_from_affine(affine, array.ndim)
        return replace(self, array=array, affine=affine, spacing=spacing, meta=meta)


def obliquity_deg(affine: np.ndarray, ndim: int) -> float:
    """Largest angle in degrees between a voxel axis (affine column) and its nearest world axis."""
    worst = 0.0
    for col in range(ndim):
        vec = np.asarray(affine[:3, col], dtype=np.float64)
        norm = np.linalg.norm(vec)
        if norm == 0:
            continue
        cosine = min(1.0, float(np.max(np.abs(vec)) / norm))
        worst = max(worst, float(np.degrees(np.arccos(cosine))))
    return worst


def spacing_from_affine(affine: np.ndarray, ndim: int) -> tuple[float, ...]:
    """Voxel size in mm per array axis: the norms of the first `ndim` (at most 3) affine columns."""
    return tuple(float(np.linalg.norm(affine[:3, a])) for a in range(min(ndim, 3)))
