"""Image signatures of findings on the 3D CT phantom (HU changes inside the finding's anatomy).

Severity scales size or density with a per-case jitter (`synth_signs2d.strength`);
uncertain findings are drawn at half strength. Geometry-changing findings act on the
parameters before the anatomy is built (`modify_params`). Every signature also works on
one X slab of a large volume: choices that need the whole volume (where a nodule sits,
the lobe's posterior edge) come from ``g.ref``, a small full render of the same patient,
and textures are the slab's rows of the volume's field, so slabs join seamlessly.
"""

from __future__ import annotations

import numpy as np

from radkit.data.synth_common import smooth_noise, soft_step
from radkit.data.synth_findings import FindingSpec
from radkit.data.synth_phantom3d import HU, Ct3D, dome
from radkit.data.synth_signs2d import strength


def modify_params(p: dict, findings: list[FindingSpec]) -> dict:
    """Parameters after cardiomegaly (heart size), emphysema (flat, low domes), lower-lobe atelectasis."""
    p = dict(p)
    for f in findings:
        s = strength(f)
        if f.finding == "cardiomegaly":
            p["heart_factor"] = 1.0 + 0.42 * s
        elif f.finding == "emphysema":
            p["dome_k"] = 1.0 - 0.6 * s
            for side in ("right", "left"):
                p[f"dia_shift_{side}"] = p.get(f"dia_shift_{side}", 0.0) - 20 * s
        elif f.finding == "atelectasis" and "lower" in f.anatomy:
            p[f"dia_shift_{f.side}"] = p.get(f"dia_shift_{f.side}", 0.0) + 15 * s
    return p


def draw_findings(g: Ct3D, findings: list[FindingSpec]) -> None:
    """Add every finding's signature to ``g.hu`` in place."""
    for f in findings:
        _DRAW[f.finding](g, f, strength(f), np.random.default_rng([f.place_seed, 2]))


def _full(g: Ct3D, a) -> np.ndarray:
    return np.broadcast_to(a, g.hu.shape)


def _whole(g: Ct3D) -> Ct3D:
    """The render that sees the whole volume: ``g`` itself, or its reference when ``g`` is a slab."""
    return g if g.ref is None else g.ref


def _pick(g: Ct3D, anatomy: str, rng) -> tuple[float, float, float]:
    """A random point (mm) of ``anatomy``."""
    r = _whole(g)
    idx = np.flatnonzero(r.masks[anatomy])
    if idx.size == 0:
        return 0.0, 0.0, 0.0
    j = idx[rng.integers(idx.size)]
    return tuple(float(_full(r, a).flat[j]) for a in (r.x, r.y, r.z))


def _noise(g: Ct3D, rng, cells) -> np.ndarray:
    """``g``'s part of a band-limited noise field over the whole volume."""
    return smooth_noise(rng, g.full_size, cells, g.rows)


def _blend(g: Ct3D, weight, target: float) -> None:
    """Partial-volume blend of ``target`` HU into the volume with weights in [0, 1]."""
    g.hu += (target - g.hu) * weight


def _sphere(g: Ct3D, c, r) -> np.ndarray:
    d = np.sqrt((g.x - c[0]) ** 2 + (g.y - c[1]) ** 2 + (g.z - c[2]) ** 2)
    return soft_step(r - d, 0.35 * min(g.spacing))


def _nodule(g, f, s, rng):
    c = _pick(g, f.anatomy, rng)
    _blend(g, _sphere(g, c, (3 + 14 * s) * rng.uniform(0.85, 1.15)), 30.0)


def _consolidation(g, f, s, rng):
    lobe = g.masks[f.anatomy]
    patch = soft_step(_noise(g, rng, 6) - (0.9 - 2.2 * s), 0.3)
    bronch = soft_step(np.abs(_noise(g, rng, 14)) - 0.12, 0.05)  # air bronchograms stay dark
    _blend(g, lobe * patch * bronch * 0.95, 20.0)


def _atelectasis(g, f, s, rng):
    lobe, r = g.masks[f.anatomy], _whole(g)
    ys = np.where(r.masks[f.anatomy], _full(r, r.y), np.inf)
    y0 = float(ys.min()) if np.isfinite(ys).any() else 0.0
    # dependent (posterior) part of the lobe collapses into a dense wedge
    _blend(g, lobe * soft_step(y0 + 8 + 35 * s - g.y, 3.0), 35.0)


def _effusion(g, f, s, rng):
    side = f.side or "right"
    env = g.masks[f"_{side} envelope"] | g.masks[f"{side} lung"]
    height = dome(g.x, g.y, g.p, side) + 20 + 110 * s
    w = env * soft_step(-g.p["body_d"] * (0.55 - 0.9 * s) - g.y, 4.0) * soft_step(height - g.z, 5.0)
    _blend(g, w, HU["fluid"])


def _pneumothorax(g, f, s, rng):
    side = f.side or "right"
    lung, r = g.masks[f"{side} lung"], _whole(g)
    ys = np.where(r.masks[f"{side} lung"], _full(r, r.y), -np.inf)
    ytop = float(ys.max()) if np.isfinite(ys).any() else 0.0
    # supine patient: free air collects anteriorly; no vessels cross it
    w = lung * soft_step(g.y - (ytop - 8 - 55 * s), 2.0)
    _blend(g, w, HU["air"])


def _cardiomegaly(g, f, s, rng):
    pass  # drawn through modify_params (heart_factor)


def _edema(g, f, s, rng):
    lung = g.masks["lung"]
    hilar = np.exp(-(((np.abs(g.x) - 40) ** 2 + (g.y + 5) ** 2) / (55 + 40 * s) ** 2 + ((g.z - 10) / 100) ** 2))
    g.hu += lung * (60 + 320 * s * hilar) * (0.8 + 0.2 * _noise(g, rng, 10))


def _emphysema(g, f, s, rng):
    lung = g.masks[f.anatomy] if f.anatomy in g.masks else g.masks["lung"]
    holes = soft_step(_noise(g, rng, 18) - (1.8 - 0.9 * s), 0.1)
    g.hu -= lung * (50 * s + 80 * holes)
    np.maximum(g.hu, -1000, out=g.hu)


def _fracture(g, f, s, rng):
    mask = g.masks[f.anatomy]
    c = _pick(g, f.anatomy, rng)
    if f.anatomy == "vertebrae":  # compression: a wedge of the body loses height
        gap = mask & (np.abs(g.z - c[2]) < 3 + 6 * s) & (g.y > -78 + 8 - 20 * s)
        g.hu[gap] = 60.0
        return
    gap = mask & (((g.x - c[0]) ** 2 + (g.y - c[1]) ** 2 + (g.z - c[2]) ** 2) < (4 + 8 * s) ** 2)
    g.hu[gap] = 40.0


def _lymphadenopathy(g, f, s, rng):
    sites = [(12, -5, 70), (-20, 5, 60), (0, -20, 25), (35, -10, 20), (-35, -10, 20)]
    for i in rng.permutation(len(sites))[: 1 + int(rng.integers(1, 3))]:
        _blend(g, _sphere(g, sites[i], 7 + 12 * s) * ~g.masks["aorta"], 38.0)


def _tube(g, x_of_z, y_of_z, z0, z1, r, hu):
    d = np.sqrt((g.x - x_of_z(g.z)) ** 2 + (g.y - y_of_z(g.z)) ** 2)
    return soft_step(r - d, 0.35 * min(g.spacing)) * ((g.z > z0) & (g.z < z1)), hu


def _support_device(g, f, s, rng):
    if f.anatomy == "trachea":
        tip = rng.uniform(55, 80)
        outer, _ = _tube(g, lambda z: 0 * z, lambda z: -15 + 0 * z, tip, 150, 6.5, 0)
        inner_, _ = _tube(g, lambda z: 0 * z, lambda z: -15 + 0 * z, tip, 150, 4.5, 0)
        _blend(g, np.clip(outer - inner_, 0, 1), 250.0)
    else:
        sgn = 1 if (f.side or "right") == "right" else -1
        x0, tip = sgn * rng.uniform(30, 45), rng.uniform(35, 60)
        w, _ = _tube(g, lambda z: 12 + (x0 - 12) * np.clip((z - tip) / 100, 0, 1), lambda z: 15 + 0 * z,
                     tip, 150, 2.5, 0)
        _blend(g, w, 1500.0)


_DRAW = {"nodule": _nodule, "consolidation": _consolidation, "atelectasis": _atelectasis, "effusion": _effusion,
         "pneumothorax": _pneumothorax, "cardiomegaly": _cardiomegaly, "edema": _edema, "emphysema": _emphysema,
         "fracture": _fracture, "lymphadenopathy": _lymphadenopathy, "support device": _support_device}
