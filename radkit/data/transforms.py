"""MONAI preprocessing presets per modality, driven by a `PreprocessConfig`.

The config travels with the model (``preprocess.json`` in a model folder), so an
encoder is always fed the orientation, spacing, HU window, crop/pad and intensity
scaling it was trained with (USER_NEEDS.md item 3).

Outputs are channel-first float32 tensors: CXR ``(1, H, W)``, CT ``(1, X, Y, Z)``
with spatial axes in RAS+ order, intensities in ``output_range``.

CT configs that `radkit.ops.ct_preprocess` can express (orientation RAS, crop/pad) run through
that fused op (compiled CPU/CUDA build when available, its pure-torch reference otherwise;
``RADKIT_OPS=reference`` forces the reference); everything else uses the MONAI Compose, which
stays the definition both paths are tested against.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

SIZE_MODES = ("crop_pad", "resize")


@dataclass
class PreprocessConfig:
    """How one image becomes a model input.

    Attributes:
        modality: "cxr" or "ct".
        spatial_size: output size: [H, W] (CXR) or [X, Y, Z] (CT).
        orientation: axis codes the CT volume is reoriented to (MONAI Orientation), e.g. "RAS".
        spacing: target voxel spacing in mm (MONAI Spacing), or None to keep the input grid.
        hu_window: [low, high] HU clip window for CT (ScaleIntensityRange), e.g. [-1000, 1000].
        output_range: intensities are scaled into [low, high] ([-1, 1] as in RadIR).
        size_mode: "crop_pad" (centre crop/pad, pad value = output low) or "resize" (interpolate).
        expected_units: CT units the image header must declare ("HU"); CXR ignores it.
    """

    modality: str = "cxr"
    spatial_size: list[int] = field(default_factory=lambda: [224, 224])
    orientation: str | None = None
    spacing: list[float] | None = None
    hu_window: list[float] | None = None
    output_range: list[float] = field(default_factory=lambda: [-1.0, 1.0])
    size_mode: str = "resize"
    expected_units: str = "HU"

    def __post_init__(self):
        if self.modality not in ("cxr", "ct"):
            raise ValueError(f"preprocess.modality {self.modality!r} unknown; valid: cxr, ct")
        ndim = 2 if self.modality == "cxr" else 3
        self.spatial_size = [int(s) for s in self.spatial_size]
        if len(self.spatial_size) != ndim:
            raise ValueError(f"preprocess.spatial_size {self.spatial_size} must have {ndim} values for "
                             f"{self.modality}")
        if self.size_mode not in SIZE_MODES:
            raise ValueError(f"preprocess.size_mode {self.size_mode!r} unknown; valid: {', '.join(SIZE_MODES)}")
        if self.modality == "ct" and self.hu_window is None:
            self.hu_window = [-1000.0, 1000.0]
        if self.spacing is not None and len(self.spacing) != ndim:
            raise ValueError(f"preprocess.spacing {self.spacing} must have {ndim} values for {self.modality}")


def preset(modality: str, **overrides: Any) -> PreprocessConfig:
    """Default preset: CXR resize to 224x224, [-1, 1]; CT RAS, 1.5x1.5x3 mm, HU [-1000, 1000], crop/pad 224x224x112."""
    base = {"cxr": dict(spatial_size=[224, 224], size_mode="resize"),
            "ct": dict(spatial_size=[224, 224, 112], orientation="RAS", spacing=[1.5, 1.5, 3.0],
                       hu_window=[-1000.0, 1000.0], size_mode="crop_pad")}
    if modality not in base:
        raise ValueError(f"modality {modality!r} unknown; valid: cxr, ct")
    return PreprocessConfig(modality=modality, **{**base[modality], **overrides})


def fused_ct_reason(cfg: PreprocessConfig) -> str | None:
    """Why ``cfg`` cannot run through the fused `radkit.ops.ct_preprocess` (None: it can)."""
    if cfg.modality != "ct":
        return f"modality {cfg.modality!r} is not ct"
    if (cfg.orientation or "").upper() != "RAS":
        return f"orientation {cfg.orientation!r}: the fused op always outputs RAS"
    if cfg.size_mode != "crop_pad":
        return f"size_mode {cfg.size_mode!r}: the fused op centre-crops/pads, it does not resize"
    return None


def _fused_ct(cfg: PreprocessConfig, fallback: Callable) -> Callable[[np.ndarray, np.ndarray | None], torch.Tensor]:
    """``fn(array, affine)`` computing the MONAI CT chain with one `radkit.ops.ct_preprocess` call."""
    from radkit.ops import ct_preprocess
    from radkit.ops._geometry import spacing_and_orientation

    lo, hi = cfg.output_range

    def apply(array: np.ndarray, affine: np.ndarray | None = None) -> torch.Tensor:
        aff = np.eye(4) if affine is None else np.asarray(affine, dtype=np.float64)
        try:
            spacing, perm, _ = spacing_and_orientation(aff)
        except ValueError:  # oblique: MONAI keeps the rotation and resamples along the voxel axes
            return fallback(array, affine)
        # spacing None = keep the grid: target = input spacing per RAS axis (scale exactly 1)
        target = cfg.spacing or [float(spacing[p]) for p in perm]
        arr = np.asarray(array)
        if arr.dtype not in (np.int16, np.float32):  # the compiled builds take int16 or float32
            arr = arr.astype(np.float32)
        out = ct_preprocess(arr, affine=aff, target_spacing=target, hu_window=cfg.hu_window,
                            out_shape=cfg.spatial_size)  # window -> [0, 1], pad 0
        if (lo, hi) != (0.0, 1.0):  # ScaleIntensityRange's b_min/b_max; pad 0 -> lo as in MONAI
            out = out.mul_(hi - lo).add_(lo)
        return out[None].contiguous()

    return apply


def build_transform(cfg: PreprocessConfig, use_ops: bool = True) -> Callable[[np.ndarray, np.ndarray | None], torch.Tensor]:
    """Preprocessing for ``cfg``: ``fn(array, affine) -> (1, *spatial_size)`` float32 tensor.

    ``array`` is CXR (H, W) or CT (X, Y, Z) in the image's voxel order; ``affine`` the 4x4
    voxel-to-RAS matrix (CT; None means identity).

    Args:
        cfg: the preprocessing config.
        use_ops: CT configs accepted by :func:`fused_ct_reason` run through the fused
            `radkit.ops.ct_preprocess` (same output as the MONAI chain within 1e-4, see
            tests/data/test_transforms_ops.py); False always uses the MONAI Compose.
    """
    from monai.data import MetaTensor
    from monai.transforms import (Compose, Orientation, Resize, ResizeWithPadOrCrop, ScaleIntensity,
                                  ScaleIntensityRange, Spacing)

    lo, hi = cfg.output_range
    steps: list = []
    if cfg.modality == "ct":
        if cfg.orientation:
            with warnings.catch_warnings():  # MONAI's `labels` default-change notice
                warnings.simplefilter("ignore", FutureWarning)
                steps.append(Orientation(axcodes=cfg.orientation))
        if cfg.spacing:
            steps.append(Spacing(pixdim=cfg.spacing, mode="bilinear", dtype=np.float32))
        w0, w1 = cfg.hu_window
        steps.append(ScaleIntensityRange(a_min=w0, a_max=w1, b_min=lo, b_max=hi, clip=True))
    else:
        steps.append(ScaleIntensity(minv=lo, maxv=hi))  # per-image min-max: PNG/DICOM CXR have no units
    if cfg.size_mode == "crop_pad":
        steps.append(ResizeWithPadOrCrop(cfg.spatial_size, value=lo))  # pad = air/background
    else:
        steps.append(Resize(cfg.spatial_size, mode="bilinear" if cfg.modality == "cxr" else "trilinear"))
    pipeline = Compose(steps)

    def apply(array: np.ndarray, affine: np.ndarray | None = None) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(array, dtype=np.float32))[None]
        if cfg.modality == "ct":
            aff = torch.eye(4, dtype=torch.float64) if affine is None else torch.as_tensor(affine, dtype=torch.float64)
            x = MetaTensor(x, affine=aff)
        out = pipeline(x)
        if isinstance(out, MetaTensor):  # a MetaTensor would route every later op through MONAI's meta tracking
            out = out.as_tensor()
        return out.to(torch.float32).contiguous().clone()

    if use_ops and fused_ct_reason(cfg) is None:
        return _fused_ct(cfg, apply)
    return apply


def preprocess_image(image: Any, cfg: PreprocessConfig) -> torch.Tensor:
    """One `radkit.io.Image` (``.array``, ``.affine``, ``.modality``, ``.meta``) -> model input.

    Returns:
        (1, H, W) for CXR or (1, X, Y, Z) for CT, float32, intensities in ``cfg.output_range``.

    Raises:
        ValueError: modality mismatch, wrong array rank, or CT units contradicting ``cfg.expected_units``.
    """
    return build_transform(cfg)(validate_image(image, cfg), getattr(image, "affine", None))


def validate_image(image: Any, cfg: PreprocessConfig) -> np.ndarray:
    """The image's array, checked against ``cfg`` (modality, rank, CT units); RGB CXR -> gray."""
    mod = getattr(image, "modality", cfg.modality)
    if mod != cfg.modality:
        raise ValueError(f"image modality {mod!r} but the model expects {cfg.modality!r}; "
                         f"use a {mod} model")
    arr = np.asarray(image.array)
    ndim = 2 if cfg.modality == "cxr" else 3
    if arr.ndim == ndim + 1 and cfg.modality == "cxr" and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].mean(-1)  # RGB(A) export of a grayscale radiograph
    if arr.ndim != ndim:
        raise ValueError(f"{cfg.modality} image array has shape {arr.shape}; expected {ndim} dims")
    if cfg.modality == "ct":
        units = (getattr(image, "meta", None) or {}).get("units")
        if units is not None and str(units).upper() != cfg.expected_units.upper():
            raise ValueError(f"CT declares units {units!r}; the model expects {cfg.expected_units}; "
                             "convert with the header's rescale slope/intercept first")
    return arr
