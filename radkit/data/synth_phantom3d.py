"""3D chest CT phantom in Hounsfield units: anatomy geometry and region masks.

Voxel axes are RAS+ (x to the patient's right, y anterior, z superior), the
order `radkit.io.read_image` returns, with the volume centred at the origin.
Coordinates are millimetres, so any grid size gives the same anatomy (default
64x64x48 at 5.5x5.5x6 mm covers a 352x352x288 mm chest field of view).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radkit.data.synth_common import smooth_noise, soft_step

FOV_MM = (352.0, 352.0, 288.0)
HU = {"air": -1000.0, "lung": -850.0, "fat": -100.0, "soft": 40.0, "fluid": 10.0, "blood": 45.0,
      "bone": 450.0, "cortex": 900.0, "liver": 60.0}


@dataclass
class Ct3D:
    """Geometry of one rendered CT: coordinates (mm), parameters, masks and the HU volume (X, Y, Z)."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    p: dict
    spacing: tuple[float, float, float]
    masks: dict = field(default_factory=dict)
    hu: np.ndarray | None = None
    vessels: np.ndarray | None = None


def patient_params(patient_seed: int, acq_seed: int) -> dict:
    """Patient build (shared by a patient's studies) plus this scan's positioning and noise."""
    r = np.random.default_rng([patient_seed, 12])
    p = dict(body_w=r.uniform(140, 168), body_d=r.uniform(100, 122), heart=r.normal(1.0, 0.06),
             dia=r.uniform(-120, -95), dia_l_extra=r.uniform(-15, 0), lung_w=r.uniform(0.92, 1.06),
             rib_pitch=r.uniform(24, 30), rib_phase=r.uniform(0, 1), fat=r.uniform(8, 25),
             fissure=r.normal(0, 8), texture_seed=int(r.integers(2**31)), granuloma=float(r.random() < 0.3),
             feature_seed=int(r.integers(2**31)))
    q = np.random.default_rng([acq_seed, 13])
    p.update(rot=np.deg2rad(q.normal(0, 3)), tx=q.normal(0, 6), ty=q.normal(0, 6), tz=q.normal(0, 8),
             noise=q.uniform(8, 25), insp=q.uniform(-10, 10), noise_seed=int(q.integers(2**31)))
    return p


def grid_spacing(size: tuple[int, int, int]) -> tuple[float, float, float]:
    """Voxel size (mm) that makes a grid of ``size`` cover the chest field of view."""
    return tuple(f / n for f, n in zip(FOV_MM, size))


def lung_margin(x, y, z, p, side: str) -> np.ndarray:
    """Signed margin (mm, > 0 inside) of one lung, ignoring the diaphragm."""
    sgn = 1 if side == "right" else -1
    cx, rx, ry = sgn * 68 * p["lung_w"], 52 * p["lung_w"], 78
    t = np.clip((135 - z) / 110, 0, 1)
    shrink = np.sqrt(t * (2 - t)) + 1e-3  # rounded apex
    q = ((x - cx) / (rx * shrink)) ** 2 + ((y + 8) / (ry * shrink)) ** 2
    return (1 - q) * 30


def dome(x, y, p, side: str) -> np.ndarray:
    """Height (mm) of the hemidiaphragm under each (x, y)."""
    sgn = 1 if side == "right" else -1
    base = p["dia"] + p["insp"] + (0 if side == "right" else p["dia_l_extra"]) + p.get(f"dia_shift_{side}", 0.0)
    return base + 40 * p.get("dome_k", 1.0) * np.clip(1 - ((x - sgn * 68) / 70) ** 2 - ((y + 5) / 90) ** 2, 0, 1)


def build_anatomy(size: tuple[int, int, int], p: dict) -> Ct3D:
    """Coordinates, masks and the normal HU volume (X, Y, Z) float32 of a chest CT."""
    sp = grid_spacing(size)
    xs, ys, zs = (((np.arange(n, dtype=np.float32) - (n - 1) / 2) * s) for n, s in zip(size, sp))
    c, s_ = np.cos(p["rot"]), np.sin(p["rot"])
    X, Y = xs[:, None, None] - p["tx"], ys[None, :, None] - p["ty"]
    x, y = c * X + s_ * Y, -s_ * X + c * Y
    z = (zs - p["tz"])[None, None, :]
    g = Ct3D(x, y, z, p, sp)
    m = g.masks
    shape = tuple(size)
    ell = (x / p["body_w"]) ** 2 + (y / p["body_d"]) ** 2
    body = np.broadcast_to(ell < 1, shape)
    inner = np.broadcast_to(ell < (1 - p["fat"] / p["body_d"]) ** 2, shape)
    hu = np.full(shape, HU["air"], np.float32)
    hu[body] = HU["fat"]
    hu[inner] = HU["soft"]
    lungs = np.zeros(shape, bool)
    for side in ("right", "left"):
        marg = lung_margin(x, y, z, p, side)
        lung = (marg > 0) & (z < 135) & (z > dome(x, y, p, side))
        m[f"{side} lung"] = lung
        m[f"_{side} envelope"] = (marg > -6) & (z < 138) & (z > dome(x, y, p, side) - 6) & inner
        lungs |= lung
        below = inner & (z <= dome(x, y, p, side)) & ((x > 0) if side == "right" else (x <= 0))
        hu[below] = HU["liver"] if side == "right" else HU["soft"]
    m["lung"] = lungs
    m["pleura"] = (m["_right envelope"] | m["_left envelope"]) & ~np.broadcast_to(
        (lung_margin(x, y, z, p, "right") > 6) | (lung_margin(x, y, z, p, "left") > 6), shape)
    fz = -(y - p["fissure"]) + 20  # oblique fissure: lower lobes are posterior-inferior
    lower = z < fz
    rl, ll = m["right lung"], m["left lung"]
    m["right lung lower lobe"] = rl & lower
    m["right lung upper lobe"] = rl & ~lower & (z > 5 + p["fissure"])
    m["right lung middle lobe"] = rl & ~lower & ~m["right lung upper lobe"]
    m["left lung lower lobe"] = ll & lower
    m["left lung upper lobe"] = ll & ~lower
    tex = np.random.default_rng(p["texture_seed"])
    coarse = tuple(max(4, int(round(f / 14))) for f in FOV_MM)
    v = np.abs(smooth_noise(tex, shape, coarse))
    hilar = np.exp(-(((np.abs(x) - 45) ** 2 + (y + 5) ** 2) / 60 ** 2 + ((z - 10) / 90) ** 2))
    g.vessels = (v > 1.6 - 0.6 * hilar).astype(np.float32) * (0.4 + hilar)
    hu[lungs] = HU["lung"] + 25 * smooth_noise(tex, shape, coarse)[lungs]
    hu += np.where(lungs, 500 * g.vessels, 0).astype(np.float32)
    # mediastinum: fat with heart, aorta, trachea, spine
    medi = inner & ~lungs & (np.abs(x) < 55) & (y > -60) & (z > p["dia"] - 10) & (z < 120)
    m["mediastinum"] = medi
    hs = p["heart"] * p.get("heart_factor", 1.0)
    heart = ((x + 22) / (62 * hs)) ** 2 + ((y - 30) / (50 * hs)) ** 2 + ((z - p["dia"] - 55) / (48 * hs)) ** 2 < 1
    heart &= inner
    m["heart"] = heart
    m["pericardium"] = heart & ~(((x + 22) / (56 * hs)) ** 2 + ((y - 30) / (44 * hs)) ** 2
                                 + ((z - p["dia"] - 55) / (42 * hs)) ** 2 < 1)
    hu[medi & ~heart] = HU["fat"] + 20
    hu[heart] = HU["blood"]
    lungs_or_heart = lungs & ~heart
    m["lung"] = lungs_or_heart
    for k in [k for k in m if "lung" in k and not k.startswith("_")]:
        m[k] = m[k] & ~heart
    aorta = ((x + 22) ** 2 + (y + 30) ** 2 < 13 ** 2) & (z > p["dia"]) & (z < 85)
    aorta |= ((x + 10) ** 2 + (y - 20) ** 2 < 15 ** 2) & (z > 15) & (z < 85)
    aorta |= (((x + 15) ** 2 + (y + 5) ** 2) ** 0.5 - 26) ** 2 + (z - 85) ** 2 < 13 ** 2
    aorta &= inner
    m["aorta"] = aorta
    hu[aorta] = HU["blood"]
    pa = ((x - 5) ** 2 + (y - 10) ** 2 < 14 ** 2) & (z > 10) & (z < 40) & inner & ~aorta
    m["pulmonary artery"] = pa
    hu[pa] = HU["blood"]
    eso = ((x + 5) ** 2 + (y + 45) ** 2 < 7 ** 2) & (z > p["dia"]) & (z < 135)
    m["esophagus"] = eso
    hu[eso] = HU["soft"]
    trachea = (x ** 2 + (y + 15) ** 2 < 9 ** 2) & (z > 40) & (z < 140)
    t = np.clip((40 - z) / 35, 0, 1)
    bronch = (((np.abs(x) - 30 * t) ** 2 + (y + 15) ** 2) < 6 ** 2) & (z <= 40) & (z > 5)
    m["trachea"], m["bronchie"] = trachea, bronch & ~lungs
    hu[trachea | bronch] = HU["air"]
    # bones: vertebral bodies with discs, ribs in the chest wall, sternum
    vb = (x ** 2 + (y + 78) ** 2 < 18 ** 2) & inner
    disc = np.abs(np.mod(z, 26) - 13) > 11
    m["vertebrae"] = vb
    hu[vb] = np.broadcast_to(np.where(disc, 70.0, HU["bone"]), shape)[vb]
    ring = (ell > 0.8) & (ell < 0.9) & (y < 0.8 * p["body_d"])
    rphase = (z + 0.35 * y) / p["rib_pitch"] + p["rib_phase"]
    rib = ring & (np.abs(np.mod(rphase, 1) - 0.5) < 0.17) & (z > p["dia"] - 30) & (z < 130)
    m["right rib"], m["left rib"] = rib & (x > 0), rib & (x <= 0)
    m["rib"] = rib
    g.p["_rib_phase"] = rphase
    hu[rib] = HU["cortex"]
    sternum = (np.abs(x) < 14) & (y > p["body_d"] - p["fat"] - 14) & inner & (z > p["dia"]) & (z < 110)
    m["sternum"] = sternum
    hu[sternum] = HU["bone"]
    m["bone"] = vb | rib | sternum
    m["liver"] = inner & (x > 0) & (z <= dome(x, y, p, "right"))
    for k in list(m):
        m[k] = np.broadcast_to(m[k], shape)
    g.hu = hu
    if p["granuloma"]:  # calcified granuloma: a tiny bright nodule mimic
        idx = np.flatnonzero(m["lung"])
        if idx.size:
            j = idx[np.random.default_rng(p["feature_seed"]).integers(idx.size)]
            cx, cy, cz = (np.broadcast_to(a, shape).flat[j] for a in (x, y, z))
            hu += 600 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / 3.0 ** 2)
    return g


def add_noise(g: Ct3D) -> np.ndarray:
    """Final HU volume (X, Y, Z) float32: scanner noise added, clipped to [-1024, 3071]."""
    r = np.random.default_rng(g.p["noise_seed"])
    hu = g.hu + g.p["noise"] * r.standard_normal(g.hu.shape, dtype=np.float32)
    return np.clip(hu, -1024, 3071).astype(np.float32)
