"""`Image.canonical` and `Image.orientation` against nibabel's own orientation functions."""

import nibabel as nib
import numpy as np
import pytest

from radkit.io import Image, check_ct_intensity


def _rot_z(deg):
    t = np.radians(deg)
    r = np.eye(4)
    r[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    return r


@pytest.mark.parametrize("perm, signs", [((0, 1, 2), (1, 1, 1)), ((2, 0, 1), (-1, 1, -1)), ((1, 2, 0), (1, -1, 1))])
def test_canonical_is_ras_and_keeps_world_positions(perm, signs):
    rng = np.random.default_rng(4)
    vol = rng.normal(size=(3, 4, 5)).astype(np.float32)
    affine = np.zeros((4, 4))
    for col, (row, sign) in enumerate(zip(perm, signs)):
        affine[row, col] = sign * (col + 1.5)  # distinct spacing per axis
    affine[:, 3] = [5.0, -7.0, 11.0, 1.0]
    img = Image(array=vol, spacing=(1.5, 2.5, 3.5), affine=affine, modality="ct", path="mem")
    assert img.orientation == "".join(nib.aff2axcodes(affine))
    can = img.canonical()
    assert can.orientation == "RAS"
    assert sorted(can.spacing) == pytest.approx([1.5, 2.5, 3.5])
    inv = np.linalg.inv(affine)
    for idx in np.ndindex(*can.array.shape):
        world = can.affine @ np.append(idx, 1.0)
        native = tuple(np.rint(inv @ world)[:3].astype(int))
        assert can.array[idx] == vol[native]


def test_oblique_refused_unless_allowed():
    affine = _rot_z(20) @ np.diag([0.8, 0.8, 2.0, 1.0])
    img = Image(array=np.zeros((2, 3, 4), np.float32), spacing=(0.8, 0.8, 2.0), affine=affine, modality="ct", path="obl")
    assert img.is_oblique
    with pytest.raises(ValueError, match=r"obl: the volume is oblique.*20\.0 degrees.*allow_oblique=True"):
        img.canonical()
    assert img.canonical(allow_oblique=True).orientation == "RAS"
    slight = Image(array=np.zeros((2, 3, 4), np.float32), spacing=(1, 1, 1), affine=_rot_z(0.3), modality="ct", path="x")
    assert not slight.is_oblique and slight.canonical().orientation == "RAS"


def test_2d_canonical_is_unchanged():
    img = Image(array=np.arange(6, dtype=np.float32).reshape(2, 3), spacing=(0.2, 0.3),
                affine=np.diag([0.2, 0.3, 1, 1]), modality="cxr", path="cxr")
    np.testing.assert_array_equal(img.canonical().array, img.array)
    assert len(img.orientation) == 2


def test_check_ct_intensity_padding_and_units():
    body = np.linspace(-1000, 1500, 1000).astype(np.float32)
    # Field-of-view fill and ringing below -2000 HU are tolerated while they are not the bulk.
    check_ct_intensity(np.concatenate([body, np.full(300, -3024.0), [-3995.0, -2500.0]]), "HU", "ok")
    with pytest.raises(ValueError, match=r"p1: CT declared in Hounsfield.*51\.\d% below -2000"):
        check_ct_intensity(np.concatenate([body, np.full(1050, -2048.0)]), "HU", "p1")  # bulk is sub-air
    check_ct_intensity(np.concatenate([body, np.full(1050, -2048.0)]), "HU", "p2", padding_value=-2048.0)
    check_ct_intensity(np.concatenate([body, [6000.0]]), "HU", "metal")  # one metal voxel in 1001
    with pytest.raises(ValueError, match=r"p3: .*above 5000"):
        check_ct_intensity(np.concatenate([body, [6000.0, 7000.0]]), "HU", "p3")  # 0.2% above
    check_ct_intensity(body + 20000, "raw", "p4")  # raw values are not held to HU
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_ct_intensity(np.array([0.0, np.nan]), "HU", "p5")
