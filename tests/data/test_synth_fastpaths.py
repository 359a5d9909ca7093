"""The speed-ups of the synthetic renderers: local boxes cover their structures, textures stay float32."""

import numpy as np
import pytest

from radkit.data import synth_phantom2d as ph
from radkit.data.synth import render
from radkit.data.synth_common import smooth_noise
from radkit.data.synth_findings import plan_cohort


@pytest.mark.parametrize("shape,rot_deg,scale", [((256, 256), 0.0, 1.0), ((96, 160), 9.0, 0.9), ((64, 48), -12.0, 1.04)])
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
