"""Geometry plan of ct_preprocess: reorientation, resampled sizes, crop/pad offsets.

Shared by the reference and the compiled backends so both read the same plan; the
reference then applies it with plain torch ops and the kernels per output voxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# largest off-axis direction-cosine component accepted as "not oblique" (about 2.6 degrees)
OBLIQUE_TOL = 1e-3


@dataclass(frozen=True)
class CtPlan:
    """Per canonical (RAS) output axis ``w``: where it comes from and how it is sampled."""

    perm: tuple[int, int, int]  # source (input) axis of output axis w
    flip: tuple[bool, bool, bool]  # source axis runs against +R/+A/+S
    in_size: tuple[int, int, int]  # input voxels along the source axis
    scale: tuple[float, float, float]  # input voxels per resampled voxel = target / input spacing
    res_size: tuple[int, int, int]  # resampled length (MONAI Spacing rule)
    crop_off: tuple[int, int, int]  # resampled index = output index + crop_off
    out_size: tuple[int, int, int]

    def axis_params(self, in_shape: tuple[int, int, int]) -> np.ndarray:
        """(3, 7) float64 rows ``[out, crop_off, res, scale, in_size, stride, flip]`` for the kernels."""
        strides = (in_shape[1] * in_shape[2], in_shape[2], 1)
        return np.array([[self.out_size[w], self.crop_off[w], self.res_size[w], self.scale[w],
                          self.in_size[w], strides[self.perm[w]], float(self.flip[w])]
                         for w in range(3)], dtype=np.float64)


def spacing_and_orientation(affine: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int], tuple[bool, bool, bool]]:
    """Voxel spacing (mm, per input axis), source axis per RAS axis and flips from a 4x4 affine.

    Raises:
        ValueError: the affine is singular or oblique (not a permutation of the RAS axes).
    """
    a = np.asarray(affine, dtype=np.float64)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise ValueError(f"affine must be a finite 4x4 matrix, got shape {a.shape}")
    rzs = a[:3, :3]
    spacing = np.linalg.norm(rzs, axis=0)
    if np.any(spacing <= 0):
        raise ValueError(f"affine has a zero-length voxel axis (column norms {spacing.tolist()}); fix the header")
    cos = rzs / spacing
    world = np.argmax(np.abs(cos), axis=0)  # world axis each voxel axis points along
    off = np.abs(cos).copy()
    off[world, range(3)] = 0
    if sorted(world.tolist()) != [0, 1, 2] or off.max() > OBLIQUE_TOL:
        raise ValueError(
            f"oblique affine (direction cosines {np.round(cos, 4).tolist()}): ct_preprocess only reorients "
            "by axis flips/permutations; resample the volume to an axis-aligned grid first "
            "(e.g. monai.transforms.Spacing with diagonal=True)")
    perm = tuple(int(np.where(world == w)[0][0]) for w in range(3))
    flip = tuple(bool(cos[w, perm[w]] < 0) for w in range(3))
    return spacing, perm, flip  # type: ignore[return-value]


def plan_ct(in_shape: tuple[int, int, int], affine: np.ndarray, target_spacing, out_shape) -> CtPlan:
    """Plan for a volume of ``in_shape`` (X, Y, Z) with voxel-to-world ``affine``."""
    spacing, perm, flip = spacing_and_orientation(affine)
    tgt = np.asarray(target_spacing, dtype=np.float64)
    if tgt.shape != (3,) or np.any(tgt <= 0):
        raise ValueError(f"target_spacing must be 3 positive mm values, got {target_spacing!r}")
    out = tuple(int(v) for v in out_shape)
    if len(out) != 3 or min(out) < 1:
        raise ValueError(f"out_shape must be 3 positive sizes, got {out_shape!r}")
    in_size = tuple(int(in_shape[perm[w]]) for w in range(3))
    s_in = [float(spacing[perm[w]]) for w in range(3)]
    # MONAI compute_shape_offset (scale_extent=False): the first and last voxel centres span
    # (n - 1) * s_in mm; np.round (half to even) as MONAI does.
    res = tuple(int(np.round((n - 1) * s / t + 1.0)) for n, s, t in zip(in_size, s_in, tgt))
    # MONAI ResizeWithPadOrCrop: CenterSpatialCrop starts at n//2 - out//2, SpatialPad puts (out-n)//2 before
    crop = tuple(r // 2 - o // 2 if r >= o else -((o - r) // 2) for r, o in zip(res, out))
    scale = tuple(float(t / s) for s, t in zip(s_in, tgt))
    return CtPlan(perm=perm, flip=flip, in_size=in_size, scale=scale, res_size=res,  # type: ignore[arg-type]
                  crop_off=crop, out_size=out)  # type: ignore[arg-type]
