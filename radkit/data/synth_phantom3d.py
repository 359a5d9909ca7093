"""3D chest CT phantom in Hounsfield units: anatomy geometry and region masks.

Voxel axes are RAS+ (x to the patient's right, y anterior, z superior), the
order `radkit.io.read_image` returns, with the volume centred at the origin.
Coordinates are millimetres, so any grid size gives the same anatomy (default
64x64x48 at 5.5x5.5x6 mm covers a 352x352x288 mm chest field of view).
"""

from __future__ import annotations

import math
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
    rows: slice | None = None  # the X slab this object holds (None: the whole volume)
    full_size: tuple[int, int, int] | None = None
    ref: "Ct3D | None" = None  # for a slab: a small render of the whole volume (global choices)


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


def _lung_q(x, y, z, p, side: str) -> tuple[np.ndarray, np.ndarray]:
    """`lung_margin` split into an in-plane (X, Y, 1) part q0 and a per-slice (1, 1, Z) part sh2:
    margin > k  <=>  q0 < sh2 * (1 - k / 30), one 3D comparison instead of six 3D float passes."""
    sgn = 1 if side == "right" else -1
    cx, rx, ry = sgn * 68 * p["lung_w"], 52 * p["lung_w"], 78
    t = np.clip((135 - z) / 110, 0, 1)
    shrink = np.sqrt(t * (2 - t)) + 1e-3
    return ((x - cx) / rx) ** 2 + ((y + 8) / ry) ** 2, shrink * shrink


def dome(x, y, p, side: str) -> np.ndarray:
    """Height (mm) of the hemidiaphragm under each (x, y)."""
    sgn = 1 if side == "right" else -1
    base = p["dia"] + p["insp"] + (0 if side == "right" else p["dia_l_extra"]) + p.get(f"dia_shift_{side}", 0.0)
    return base + 40 * p.get("dome_k", 1.0) * np.clip(1 - ((x - sgn * 68) / 70) ** 2 - ((y + 5) / 90) ** 2, 0, 1)


def build_anatomy(size: tuple[int, int, int], p: dict, rows: slice | None = None, ref: Ct3D | None = None) -> Ct3D:
    """Coordinates, masks and the normal HU volume (X, Y, Z) float32 of a chest CT.

    Args:
        size: the full grid (X, Y, Z).
        p: patient parameters (`patient_params`, after `modify_params`).
        rows: render only this slab of the X axis (slab rendering of large volumes); the
            result's arrays then have shape (len(rows), Y, Z).
        ref: for a slab, a full render of the same patient at a small size: choices that need
            the whole volume (e.g. where the granuloma sits) are taken from it, so every slab agrees.
    """
    sp = grid_spacing(size)
    xs, ys, zs = (((np.arange(n, dtype=np.float32) - (n - 1) / 2) * s) for n, s in zip(size, sp))
    if rows is not None:
        xs = xs[rows]
    c, s_ = math.cos(p["rot"]), math.sin(p["rot"])  # Python floats keep the grid float32
    X, Y = xs[:, None, None] - p["tx"], ys[None, :, None] - p["ty"]
    x, y = c * X + s_ * Y, -s_ * X + c * Y
    z = (zs - p["tz"])[None, None, :]
    g = Ct3D(x, y, z, p, sp)
    g.rows, g.full_size, g.ref = rows, tuple(size), ref
    m = g.masks
    shape = (len(xs), size[1], size[2])
    ell = (x / p["body_w"]) ** 2 + (y / p["body_d"]) ** 2
    body = np.broadcast_to(ell < 1, shape)
    inner = np.broadcast_to(ell < (1 - p["fat"] / p["body_d"]) ** 2, shape)
    hu = np.full(shape, HU["air"], np.float32)
    hu[body] = HU["fat"]
    hu[inner] = HU["soft"]
    lungs = np.zeros(shape, bool)
    qs = {}
    for side in ("right", "left"):
        q0, sh2 = qs[side] = _lung_q(x, y, z, p, side)
        lung = (q0 < sh2) & (z < 135) & (z > dome(x, y, p, side))
        m[f"{side} lung"] = lung
        m[f"_{side} envelope"] = (q0 < 1.2 * sh2) & (z < 138) & (z > dome(x, y, p, side) - 6) & inner
        lungs |= lung
        below = inner & (z <= dome(x, y, p, side)) & ((x > 0) if side == "right" else (x <= 0))
        hu[below] = HU["liver"] if side == "right" else HU["soft"]
    m["lung"] = lungs
    m["pleura"] = (m["_right envelope"] | m["_left envelope"]) & ~np.broadcast_to(
        (qs["right"][0] < 0.8 * qs["right"][1]) | (qs["left"][0] < 0.8 * qs["left"][1]), shape)
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
    v = np.abs(smooth_noise(tex, size, coarse, rows)[lungs])
    # hilar weight is separable: exp(-(r_xy^2 + r_z^2)) = exp(-r_xy^2) * exp(-r_z^2); lung voxels only
    hilar = (np.broadcast_to(np.exp(-(((np.abs(x) - 45) ** 2 + (y + 5) ** 2) / 60 ** 2)), shape)[lungs]
             * np.broadcast_to(np.exp(-((z - 10) / 90) ** 2), shape)[lungs])
    vessels = (v > 1.6 - 0.6 * hilar).astype(np.float32) * (0.4 + hilar)
    hu[lungs] = (HU["lung"] + 25 * smooth_noise(tex, size, coarse, rows)[lungs]) + 500 * vessels
    del v, hilar, vessels
    # mediastinum: fat with heart, aorta, trachea, spine
    medi = inner & ~lungs & (np.abs(x) < 55) & (y > -60) & (z > p["dia"] - 10) & (z < 120)
    m["mediastinum"] = medi
    hs = p["heart"] * p.get("heart_factor", 1.0)
    hb = local_box(g, (-22.0, 30.0, p["dia"] + 55), 62 * hs)  # holds the heart ellipsoid
    heart = _in_box(g, hb, lambda x, y, z: ((x + 22) / (62 * hs)) ** 2 + ((y - 30) / (50 * hs)) ** 2
                    + ((z - p["dia"] - 55) / (48 * hs)) ** 2 < 1)
    heart &= inner
    m["heart"] = heart
    m["pericardium"] = heart & ~_in_box(g, hb, lambda x, y, z: ((x + 22) / (56 * hs)) ** 2
                                        + ((y - 30) / (44 * hs)) ** 2 + ((z - p["dia"] - 55) / (42 * hs)) ** 2 < 1)
    hu[medi & ~heart] = HU["fat"] + 20
    hu[heart] = HU["blood"]
    m["lung"] = lungs.copy()
    not_heart = ~heart[hb]
    for k in [k for k in m if "lung" in k and not k.startswith("_")]:
        m[k][hb] &= not_heart  # every lung mask is its own array; the heart only exists inside hb
    aorta = ((x + 22) ** 2 + (y + 30) ** 2 < 13 ** 2) & (z > p["dia"]) & (z < 85)
    aorta |= ((x + 10) ** 2 + (y - 20) ** 2 < 15 ** 2) & (z > 15) & (z < 85)
    aorta |= _in_box(g, local_box(g, (-15.0, -5.0, 85.0), 42.0),  # the arch: torus, radii 26 and 13 mm
                     lambda x, y, z: (((x + 15) ** 2 + (y + 5) ** 2) ** 0.5 - 26) ** 2 + (z - 85) ** 2 < 13 ** 2)
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
    bronch = np.zeros(shape, bool)
    zb = _zband(z, 5, 40)  # main bronchi: 5 < z <= 40 only
    t = np.clip((40 - z[..., zb]) / 35, 0, 1)
    bronch[..., zb] = (((np.abs(x) - 30 * t) ** 2 + (y + 15) ** 2) < 6 ** 2) & (z[..., zb] <= 40) & (z[..., zb] > 5)
    m["trachea"], m["bronchie"] = trachea, bronch & ~lungs
    hu[trachea | bronch] = HU["air"]
    # bones: vertebral bodies with discs, ribs in the chest wall, sternum
    vb = (x ** 2 + (y + 78) ** 2 < 18 ** 2) & inner
    disc = np.abs(np.mod(z, 26) - 13) > 11
    m["vertebrae"] = vb
    hu[vb] = np.broadcast_to(np.where(disc, 70.0, HU["bone"]), shape)[vb]
    ring = ((ell > 0.8) & (ell < 0.9) & (y < 0.8 * p["body_d"]))[..., 0]  # (X, Y): ribs live in this shell
    zz = z.ravel()
    rphase = (zz[None, :] + 0.35 * y[..., 0][ring][:, None]) / p["rib_pitch"] + p["rib_phase"]
    rphase -= np.floor(rphase)  # == np.mod(rphase, 1) bit for bit, much cheaper
    rib = np.zeros(shape, bool)
    rib[ring] = (np.abs(rphase - 0.5) < 0.17) & (zz > p["dia"] - 30) & (zz < 130)
    m["right rib"], m["left rib"] = rib & (x > 0), rib & (x <= 0)
    m["rib"] = rib
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
        r = ref if ref is not None else g
        idx = np.flatnonzero(r.masks["lung"])
        if idx.size:
            j = idx[np.random.default_rng(p["feature_seed"]).integers(idx.size)]
            cx, cy, cz = (float(np.broadcast_to(a, r.hu.shape).flat[j]) for a in (r.x, r.y, r.z))
            w = local_box(g, (cx, cy, cz), 12.0)  # 4 sigma: exp(-16) * 600 HU < 1e-4 HU
            xw, yw, zw = x[w[0], w[1]], y[w[0], w[1]], z[:, :, w[2]]
            hu[w] += 600 * np.exp(-((xw - cx) ** 2 + (yw - cy) ** 2 + (zw - cz) ** 2) / 3.0 ** 2)
    return g


def _in_box(g: Ct3D, box: tuple[slice, slice, slice], fn) -> np.ndarray:
    """Bool array of ``g``'s shape: ``fn(x, y, z)`` inside ``box``, False outside."""
    out = np.zeros((g.x.shape[0], g.y.shape[1], g.z.shape[2]), bool)
    out[box] = fn(g.x[box[0], box[1]], g.y[box[0], box[1]], g.z[..., box[2]])
    return out


def _zband(z: np.ndarray, lo: float, hi: float) -> slice:
    """Slice of the (ascending) slice positions z (1, 1, Z) that covers lo <= z <= hi."""
    zz = z.ravel()
    return slice(int(np.searchsorted(zz, lo, "left")), int(np.searchsorted(zz, hi, "right")))


def local_box(g: Ct3D, centre: tuple[float, float, float], radius: float) -> tuple[slice, slice, slice]:
    """Voxel slices of ``g``'s arrays that hold every voxel within ``radius`` mm of ``centre`` (patient mm)."""
    p, sp, n = g.p, g.spacing, g.full_size
    c, s = math.cos(p["rot"]), math.sin(p["rot"])
    # invert the in-plane rotation and shift of build_anatomy (distances are preserved)
    X, Y = c * centre[0] - s * centre[1] + p["tx"], s * centre[0] + c * centre[1] + p["ty"]
    out = []
    for ax, v in enumerate((X, Y, centre[2] + p["tz"])):
        i = v / sp[ax] + (n[ax] - 1) / 2
        r = radius / sp[ax] + 1
        lo, hi = int(np.clip(math.floor(i - r), 0, n[ax])), int(np.clip(math.ceil(i + r) + 1, 0, n[ax]))
        out.append((lo, hi))
    r0 = g.rows.start if g.rows is not None else 0
    rows = g.x.shape[0]
    (a0, a1), (b0, b1), (c0, c1) = out
    return slice(min(max(a0 - r0, 0), rows), min(max(a1 - r0, 0), rows)), slice(b0, b1), slice(c0, c1)


def add_noise(g: Ct3D, rng: np.random.Generator | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Final HU volume (X, Y, Z) float32: scanner noise added, clipped to [-1024, 3071].

    Slabs pass one ``rng`` in X order: C-order draws of consecutive X slabs are exactly the
    draws of the whole volume, so slab and whole renders get the same noise. ``out``: where to write.
    """
    r = np.random.default_rng(g.p["noise_seed"]) if rng is None else rng
    noise = r.standard_normal(g.hu.shape, dtype=np.float32)
    noise *= g.p["noise"]
    noise += g.hu
    return np.clip(noise, -1024, 3071, out=noise if out is None else out)
