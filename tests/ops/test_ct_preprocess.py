"""ct_preprocess: compiled CPU build vs the pure-torch reference, and the reference vs MONAI."""

import os

import nibabel
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, NormalizeIntensity, Orientation, ResizeWithPadOrCrop, ScaleIntensityRange, Spacing

import radkit.ops as ops
from radkit.ops.reference import ct_preprocess_ref

# compiled vs reference: both float32; they differ only in the order of the lerps, so the bound is
# a few float32 ulps of the largest HU magnitude (3000) over the window width, 5 * 2**-23 * 3000/2000.
ATOL_COMPILED = 5 * 2.0**-23 * 1.5 + 1e-7
# reference vs MONAI (float64 resampling): float32 HU rounding, observed <= 2e-6 on the z-scored output
ATOL_MONAI = 1e-5

PERM_FLIP = np.array([[0, -0.7, 0, 5], [0, 0, 2.5, 1], [-0.8, 0, 0, 2], [0, 0, 0, 1.0]])  # axes (Z, -X, Y)


def _vol(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-1024, 3000, shape, dtype=torch.int16, generator=g)


@pytest.mark.parametrize("affine,shape,tgt,out", [
    (np.diag([0.7, 0.7, 2.5, 1]), (37, 29, 23), (1.5, 1.5, 3.0), (20, 31, 17)),  # anisotropic, crop+pad
    (PERM_FLIP, (31, 40, 19), (1.7, 2.3, 3.1), (9, 40, 25)),  # permuted + flipped, odd sizes
    (np.diag([-1.1, -0.9, 3.0, 1]), (1, 5, 7), (0.5, 0.5, 1.0), (3, 8, 21)),  # size-1 axis, upsampling
])
def test_compiled_matches_reference(cpu_ext, affine, shape, tgt, out):
    v = _vol((2, *shape))
    kw = dict(affine=affine, target_spacing=tgt, out_shape=out, slope=1.5, intercept=-100, hu_window=(-500, 1500))
    got = ops.ct_preprocess(v, backend="cpu", **kw)
    want = ct_preprocess_ref(v, **kw)
    assert got.shape == (2, *out) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=ATOL_COMPILED, rtol=0)
    assert 0.0 <= got.min() and got.max() <= 1.0


def test_list_input_zscore_and_numpy(cpu_ext):
    vols = [_vol((20, 18, 9), 1).numpy(), _vol((15, 22, 11), 2).numpy()]
    kw = dict(affine=[np.diag([1.0, 1.2, 2.0, 1]), PERM_FLIP], intercept=[-1024, 0], out_shape=(12, 14, 10),
              mode="zscore")
    got = ops.ct_preprocess(vols, backend="cpu", **kw)
    want = ct_preprocess_ref(vols, **kw)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert torch.allclose(got.mean((1, 2, 3)), torch.zeros(2), atol=1e-5)
    single = ops.ct_preprocess(vols[0], affine=kw["affine"][0], intercept=-1024, out_shape=(12, 14, 10))
    assert single.shape == (12, 14, 10)


def test_oblique_refused_and_bad_inputs():
    rot = np.eye(4)
    c, s = np.cos(0.3), np.sin(0.3)
    rot[:2, :2] = [[c, -s], [s, c]]
    with pytest.raises(ValueError, match="oblique"):
        ops.ct_preprocess(_vol((8, 8, 8)), affine=rot)
    with pytest.raises(ValueError, match="spacing_in"):
        ops.ct_preprocess(_vol((8, 8, 8)))
    with pytest.raises(ValueError, match="hu_window"):
        ops.ct_preprocess(_vol((8, 8, 8)), spacing_in=(1, 1, 1), hu_window=(10, 10))
    with pytest.raises(ValueError, match="mode"):
        ops.ct_preprocess(_vol((8, 8, 8)), spacing_in=(1, 1, 1), mode="robust")


def test_float32_hu_compiled_and_float64_reference(cpu_ext):
    # float32 HU (radkit.io's default CT array) runs in the compiled build; non-integer HU too
    v = _vol((10, 11, 12)).float() * 0.75 + 0.3
    kw = dict(affine=PERM_FLIP, out_shape=(8, 9, 7), target_spacing=(1.1, 1.3, 0.9))
    torch.testing.assert_close(ops.ct_preprocess(v, backend="cpu", **kw), ct_preprocess_ref(v, **kw),
                               atol=ATOL_COMPILED, rtol=0)
    # other dtypes only run in the reference
    with pytest.raises(RuntimeError, match="dtype float64 not supported"):
        ops.ct_preprocess(v.double(), backend="cpu", **kw)
    torch.testing.assert_close(ops.ct_preprocess(v.double(), **kw), ct_preprocess_ref(v.double(), **kw))


def _monai(vol, affine, tgt, win, out, zscore=False):
    chain = [Orientation(axcodes="RAS", labels=(("L", "R"), ("P", "A"), ("I", "S"))), Spacing(pixdim=tgt, mode="bilinear", padding_mode="border"),
             ScaleIntensityRange(a_min=win[0], a_max=win[1], b_min=0.0, b_max=1.0, clip=True), ResizeWithPadOrCrop(out)]
    if zscore:
        chain.append(NormalizeIntensity())
    img = MetaTensor(torch.as_tensor(vol, dtype=torch.float32)[None], affine=torch.as_tensor(affine, dtype=torch.float64))
    return Compose(chain)(img)[0].as_tensor()


@pytest.mark.parametrize("tgt,out", [((3.0, 2.5, 4.0), (22, 40, 10)), ((1.7, 2.3, 3.1), (45, 30, 20))])
def test_reference_matches_monai_on_nibabel_nifti(tgt, out):
    img = nibabel.load(os.path.join(os.path.dirname(nibabel.__file__), "tests", "data", "anatomical.nii"))
    vol = np.asarray(img.dataobj).astype(np.int16)  # LAS orientation: exercises the flip
    want = _monai(vol, img.affine, tgt, (-700, 30000), out)
    got = ct_preprocess_ref(vol, affine=img.affine, target_spacing=tgt, hu_window=(-700, 30000), out_shape=out)
    torch.testing.assert_close(got, want, atol=ATOL_MONAI, rtol=0)


@pytest.mark.parametrize("mode", ["minmax", "zscore"])
def test_reference_matches_monai_on_synthetic_ct(mode):
    vol = _vol((64, 60, 30), 3).numpy()
    want = _monai(vol.astype(np.float32) - 1024, PERM_FLIP, (1.5, 1.5, 3.0), (-1000, 1000), (32, 24, 28),
                  zscore=mode == "zscore")
    got = ct_preprocess_ref(vol, affine=PERM_FLIP, intercept=-1024, out_shape=(32, 24, 28), mode=mode)
    torch.testing.assert_close(got, want, atol=ATOL_MONAI, rtol=0)
