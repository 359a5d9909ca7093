"""The fused CT path of radkit.data.transforms (radkit.ops.ct_preprocess) against the MONAI Compose."""

import os
from types import SimpleNamespace

import nibabel
import numpy as np
import pytest
import torch

import radkit.ops.reference as ops_ref
from radkit.data.synth import ct_affine, generate_study
from radkit.data.transforms import build_transform, fused_ct_reason, preprocess_image, preset
from radkit.models import get_model_config
from radkit.ops import build

# Output range [-1, 1]. MONAI's Spacing resamples in float32 (grid coordinates included) while the op
# computes coordinates in float64: observed <= 1e-5 on HU volumes and <= 3e-5 on anatomical.nii (values
# up to 30393, i.e. float32 ulps of 2e-3 before the window), so 1e-4 leaves headroom.
ATOL = 1e-4
SIZE = (48, 40, 32)
# voxel axes (A, R, S) with R flipped: exercises the permutation and the flip of the reorientation
PERM_FLIP = np.array([[0, -7.3, 0, 170], [8.8, 0, 0, -170], [0, 0, 9.0, -140], [0, 0, 0, 1.0]])


def _cfg(name, **overrides):
    cfg = get_model_config(name, modality="ct").preprocess
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="module")
def synth_ct():
    vol, _ = generate_study(np.random.default_rng(3), "ct", size=SIZE)
    return vol  # float32 HU, RAS voxel order


def _both(cfg, array, affine):
    return build_transform(cfg)(array, affine), build_transform(cfg, use_ops=False)(array, affine)


@pytest.mark.parametrize("geometry", ["ras", "perm_flip"])
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float64])
def test_ct_base_config_matches_monai_on_synthetic_ct(synth_ct, geometry, dtype):
    cfg = _cfg("radir-ct-base")
    assert fused_ct_reason(cfg) is None
    vol, aff = synth_ct, ct_affine(SIZE)
    if geometry == "perm_flip":  # same scan stored as (A, L->R flipped, S)
        vol, aff = np.ascontiguousarray(vol.transpose(1, 0, 2)[:, ::-1]), PERM_FLIP
    fused, monai = _both(cfg, np.rint(vol).astype(dtype), aff)
    assert fused.shape == monai.shape == (1, 192, 192, 96) and fused.dtype == torch.float32
    torch.testing.assert_close(fused, monai, atol=ATOL, rtol=0)
    assert monai.min() == -1.0 and monai.max() > 0  # pads and window really exercised


@pytest.mark.parametrize("cfg", [
    preset("ct", spatial_size=[30, 44, 20], spacing=[2.1, 1.7, 3.3], hu_window=[0, 200], output_range=[0, 1]),
    preset("ct", spatial_size=[20, 50, 31], spacing=None, output_range=[-1, 1]),  # keep grid, crop + pad
    preset("ct", spatial_size=[40, 40, 40], spacing=[0.8, 0.8, 0.8], hu_window=[-100, 900], output_range=[-0.5, 2]),
], ids=["window01", "no-spacing", "upsample"])
def test_other_crop_pad_configs_match_monai_on_nibabel_nifti(cfg):
    nii = nibabel.load(os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii"))
    arr = np.asarray(nii.dataobj)  # big-endian int16, LAS affine (flipped x)
    for a in (arr.astype(np.int16), arr.astype(np.float32)):
        fused, monai = _both(cfg, a, nii.affine)
        assert fused.shape == (1, *cfg.spatial_size)
        torch.testing.assert_close(fused, monai, atol=ATOL, rtol=0)
        assert monai.std() > 0.05


def test_resize_config_keeps_monai(synth_ct):
    cfg = _cfg("radir-tiny")  # size_mode "resize": the op does not resize
    assert "size_mode" in fused_ct_reason(cfg)
    fused, monai = _both(cfg, synth_ct, ct_affine(SIZE))
    assert torch.equal(fused, monai)
    # the same tiny config with crop/pad and no target spacing is expressible by the op
    cfg = _cfg("radir-tiny", size_mode="crop_pad")
    assert fused_ct_reason(cfg) is None
    fused, monai = _both(cfg, synth_ct, ct_affine(SIZE))
    torch.testing.assert_close(fused, monai, atol=ATOL, rtol=0)
    assert "orientation" in fused_ct_reason(preset("ct", orientation=None))
    assert "modality" in fused_ct_reason(preset("cxr"))


def test_oblique_affine_falls_back_to_monai(synth_ct):
    rot = ct_affine(SIZE)
    c, s = np.cos(0.2), np.sin(0.2)
    rot[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ rot[:3, :3]
    cfg = preset("ct", spatial_size=[24, 24, 16], spacing=[8.0, 8.0, 9.0])
    fused, monai = _both(cfg, synth_ct, rot)
    assert torch.equal(fused, monai)


def _count_reference(monkeypatch):
    calls = []
    real = ops_ref.ct_preprocess_one_ref

    def counting(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(ops_ref, "ct_preprocess_one_ref", counting)
    return calls


def test_dispatch_backend_choice(synth_ct, monkeypatch):
    cfg = preset("ct", spatial_size=[24, 20, 16], spacing=[8.0, 9.0, 10.0])
    image = SimpleNamespace(array=synth_ct, affine=ct_affine(SIZE), modality="ct", meta={"units": "HU"})
    monai = build_transform(cfg, use_ops=False)(synth_ct, image.affine)
    calls = _count_reference(monkeypatch)
    monkeypatch.setenv("RADKIT_OPS", "reference")
    torch.testing.assert_close(preprocess_image(image, cfg), monai, atol=ATOL, rtol=0)
    assert calls == [1]  # forced pure-torch reference
    monkeypatch.delenv("RADKIT_OPS")
    calls.clear()
    torch.testing.assert_close(preprocess_image(image, cfg), monai, atol=ATOL, rtol=0)
    if build.toolchain_reasons("cpu"):
        assert calls == [1]  # no compiler: the reference is the fallback
    else:
        assert calls == []  # the compiled CPU build ran
