"""The speed-ups of the synthetic renderers: local boxes cover their structures, textures stay float32."""

import numpy as np
import pytest

from radkit.data import synth_phantom2d as ph
from radkit.data.synth import render
from radkit.data.synth_common import smooth_noise
from radkit.data.synth_findings import plan_cohort


@pytest.mark.parametrize("shape,rot_deg,scale",
                         [((256, 256), 0.0, 1.0), ((96, 160), 9.0, 0.9), ((64, 48), -12.0, 1.04)])
def test_box_covers_every_pixel_of_its_patient_rectangle(shape, rot_deg, scale):
    # _box inverts _grid's rotation/shift/scale; a box that misses pixels would cut structures off
    p = dict(rot=np.deg2rad(rot_deg), tx=0.03, ty=-0.05, scale=scale)
    a, b = ph._grid(shape, p)
    rng = np.random.default_rng(0)
    for _ in range(30):
        a0, b0 = rng.uniform(-0.6, 0.2, 2)  # rectangles well inside the image
        a1, b1 = a0 + rng.uniform(0.2, 0.4), b0 + rng.uniform(0.2, 0.4)
        inside = (a >= a0) & (a <= a1) & (b >= b0) & (b <= b1)
        rows, cols = ph._box(shape, p, a0, a1, b0, b1)
        covered = np.zeros(shape, bool)
        covered[rows, cols] = True
        assert not (inside & ~covered).any()
        if inside.any():  # and it is tight: at most a few pixels wider than the structure's extent
            r, c = np.nonzero(inside.any(1))[0], np.nonzero(inside.any(0))[0]
            assert rows.stop - rows.start <= r.max() - r.min() + 1 + 8
            assert cols.stop - cols.start <= c.max() - c.min() + 1 + 8


def test_renderers_stay_float32():
    # a float64 scalar (np.cos of a Python float, np.sign) silently doubles every array pass
    assert smooth_noise(np.random.default_rng(0), (40, 30), 5).dtype == np.float32
    plan = plan_cohort("cxr", 8, 0)[1]
    g = ph.build_anatomy((64, 64), ph.patient_params(plan.patient_seed, plan.acq_seed, plan.view))
    assert g.a.dtype == g.b.dtype == g.atten.dtype == g.markings.dtype == np.float32


def test_local_structures_match_full_grid_formulas():
    # the heart and trachea are computed in boxes; their masks must equal the full-grid formula
    plan = plan_cohort("cxr", 8, 0)[2]
    p = ph.patient_params(plan.patient_seed, plan.acq_seed, plan.view)
    g = ph.build_anatomy((128, 128), p)
    a, b = g.a, g.b
    px = 2.0 / 128 / p["scale"]
    trachea = ph.soft_step(0.035 - np.abs(a), px) * (b > -0.95) * (b < -0.28)
    np.testing.assert_array_equal(g.masks["trachea"], trachea > 0.5)
    hs = p["heart"] * p["mag"]
    hx, ry, rx = p["heart_dx"] + 0.04, 0.23 * hs, 0.3 * hs
    hy = float(ph.diaphragm(np.float32(hx), p, "left")) - 0.85 * ry
    heart = ph.soft_step(1 - ((a - hx) / rx) ** 2 - ((b - hy) / ry) ** 2, 0.04)
    np.testing.assert_array_equal(g.masks["heart"], heart > 0.5)
    assert g.masks["heart"].sum() > 100 and g.masks["trachea"].sum() > 20


def test_render_is_deterministic_bytes():
    plan = plan_cohort("cxr", 4, 5)[0]
    assert render(plan, (96, 96)).tobytes() == render(plan, (96, 96)).tobytes()


def test_noise_field_slabs_join_into_the_whole_field():
    # slab rendering relies on this: each slab is exactly its rows of the whole field
    from radkit.data.synth_common import _upsampled_std

    full = smooth_noise(np.random.default_rng(1), (50, 40, 30), (9, 8, 7))
    parts = [smooth_noise(np.random.default_rng(1), (50, 40, 30), (9, 8, 7), slice(i, min(i + 16, 50)))
             for i in range(0, 50, 16)]
    np.testing.assert_allclose(np.concatenate(parts), full, rtol=1e-5, atol=1e-6)
    coarse = np.random.default_rng(2).standard_normal((6, 5, 4)).astype(np.float32)
    up = coarse
    for ax, n in ((2, 23), (1, 31), (0, 17)):
        up = _upsample_axis_ref(up, n, ax)
    assert abs(_upsampled_std(coarse, (17, 31, 23)) - up.std()) < 1e-5


def _upsample_axis_ref(g, n, axis):
    """Independent linear interpolation (np.interp) along one axis."""
    pos = np.linspace(0, g.shape[axis] - 1, n)
    return np.apply_along_axis(lambda v: np.interp(pos, np.arange(v.size), v), axis, g)


@pytest.fixture(scope="module")
def ct_pairs():
    """Whole-volume (with masks) and slab renders of CT plans at 128x128x64 (a normal and findings)."""
    plans = plan_cohort("ct", 8, 2)
    picked = [p for p in plans if not p.findings][:1]
    for want in ("nodule", "pneumothorax", "effusion", "emphysema", "support device"):
        picked += [p for p in plans if any(f.finding == want for f in p.findings) and p not in picked][:1]
    out = []
    for p in picked:
        whole, masks = render(p, (128, 128, 64), masks=True)
        out.append((p, whole, masks, render(p, (128, 128, 64), slab_rows=24)))
    return out


def test_ct_slab_render_matches_whole_volume_statistics(ct_pairs):
    assert len(ct_pairs) >= 4
    for plan, whole, masks, slab in ct_pairs:
        assert slab.dtype == np.float32 and slab.shape == whole.shape
        # same anatomy, texture and noise; only whole-volume choices (finding sites) may move a little
        assert (np.abs(slab - whole) > 1).mean() < 0.01, [f.finding for f in plan.findings]
        for region in ("lung", "heart", "aorta", "vertebrae", "rib", "liver", "pleura", "mediastinum", "trachea"):
            a, b = whole[masks[region]], slab[masks[region]]
            # a finding site one voxel off moves a small region's mean (e.g. pneumothorax air over the aorta)
            assert abs(a.mean() - b.mean()) < max(5.0, 0.1 * a.std()), (region, a.mean(), b.mean(), a.std())
            np.testing.assert_allclose(np.percentile(b, [5, 95]), np.percentile(a, [5, 95]), atol=10,
                                       err_msg=f"{region} {[f.finding for f in plan.findings]}")


def test_ct_slab_render_is_deterministic_and_independent_of_slab_height(ct_pairs):
    plan, _, _, slab = ct_pairs[0]
    np.testing.assert_array_equal(render(plan, (128, 128, 64), slab_rows=24), slab)
    np.testing.assert_array_equal(render(plan, (128, 128, 64), slab_rows=50), slab)
    with pytest.raises(ValueError, match="masks=True"):
        render(plan, (128, 128, 64), masks=True, slab_rows=24)
