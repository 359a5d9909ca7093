"""Preprocessing presets (MONAI) against numpy references, and the model's preprocess_image."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from radkit.data.transforms import PreprocessConfig, preprocess_image, preset


def test_ct_window_and_crop_pad_match_numpy():
    rng = np.random.default_rng(0)
    vol = rng.uniform(-1500, 1500, size=(6, 10, 4)).astype(np.float32)
    cfg = PreprocessConfig(modality="ct", spatial_size=[8, 8, 6], orientation="RAS", spacing=None,
                           hu_window=[-1000, 1000], size_mode="crop_pad")
    out = preprocess_image(SimpleNamespace(array=vol, affine=np.eye(4), modality="ct", meta={"units": "HU"}), cfg)
    ref = np.full((8, 8, 6), -1.0, np.float32)  # pad value = output low (air)
    win = np.clip(vol, -1000, 1000) / 1000.0
    ref[1:7, :, 1:5] = win[:, 1:9, :]  # symmetric pad of X, Z; centre crop of Y
    assert out.shape == (1, 8, 8, 6)
    np.testing.assert_allclose(out[0].numpy(), ref, atol=1e-6)


def test_ct_orientation_follows_affine():
    vol = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 10 - 100
    flip_x = np.diag([-1.0, 1.0, 1.0, 1.0])  # voxel x runs right-to-left (LAS)
    cfg = PreprocessConfig(modality="ct", spatial_size=[2, 3, 4], orientation="RAS", hu_window=[-1000, 1000],
                           size_mode="crop_pad")
    out = preprocess_image(SimpleNamespace(array=vol, affine=flip_x, modality="ct"), cfg)
    np.testing.assert_allclose(out[0].numpy(), vol[::-1] / 1000.0, atol=1e-6)


def test_ct_spacing_halves_grid():
    vol = np.zeros((8, 8, 8), np.float32)
    cfg = PreprocessConfig(modality="ct", spatial_size=[4, 4, 4], orientation="RAS", spacing=[2.0, 2.0, 2.0],
                           hu_window=[-1000, 1000], size_mode="crop_pad")
    out = preprocess_image(SimpleNamespace(array=vol, affine=np.eye(4), modality="ct"), cfg)
    np.testing.assert_allclose(out.numpy(), 0.0, atol=1e-6)  # 8 mm at 1 mm -> 4 voxels at 2 mm, no padding


def test_cxr_resize_and_range():
    img = np.tile(np.linspace(0, 255, 20, dtype=np.float32), (10, 1))
    out = preprocess_image(SimpleNamespace(array=img, modality="cxr"), preset("cxr", spatial_size=[10, 20]))
    assert out.shape == (1, 10, 20)
    np.testing.assert_allclose(out[0].numpy(), img / 127.5 - 1.0, atol=1e-5)  # same size: min-max only


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="units 'raw'"):
        preprocess_image(SimpleNamespace(array=np.zeros((2, 2, 2)), modality="ct", meta={"units": "raw"}), preset("ct"))
    with pytest.raises(ValueError, match="expects 'cxr'"):
        preprocess_image(SimpleNamespace(array=np.zeros((2, 2, 2)), modality="ct"), preset("cxr"))
    with pytest.raises(ValueError, match="3 values"):
        PreprocessConfig(modality="ct", spatial_size=[4, 4])


def test_model_preprocess_uses_stored_config(tiny_cxr):
    img = SimpleNamespace(array=np.random.default_rng(0).uniform(0, 4095, (100, 80)), modality="cxr")
    x = tiny_cxr.preprocess_image(img)
    assert x.shape == (1, 64, 64) and x.dtype == torch.float32
    assert -1.0 - 1e-6 <= x.min() and x.max() <= 1.0 + 1e-6
    assert tiny_cxr.encode_image(x[None]).shape == (1, 64)


@pytest.mark.parametrize("modality", ["cxr", "ct"])
def test_transform_returns_a_plain_tensor(modality):
    """A MetaTensor output would make every model op pay MONAI's metadata tracking."""
    from radkit.data.transforms import build_transform, preset

    size = [8, 8] if modality == "cxr" else [8, 8, 8]
    arr = np.zeros([12] * len(size), np.float32)
    out = build_transform(preset(modality, spatial_size=size))(arr, None)
    assert type(out) is torch.Tensor and out.shape == (1, *size)
