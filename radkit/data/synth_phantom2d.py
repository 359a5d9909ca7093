"""2D chest radiograph phantom: anatomy geometry, region masks and the X-ray projection.

Coordinates: the image spans a, b in [-1, 1] (a left->right, b top->bottom). The
image is displayed in radiological convention, so the patient's right lung is on
the image left (a < 0). Anatomy is drawn in "patient" coordinates derived from the
image grid by the acquisition's rotation, shift and scale, so normal variation
(patient size, rotation, inspiration, exposure, noise) moves every structure.
Intensities are line integrals of attenuation (A) mapped by 1 - exp(-gain * A).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from radkit.data.synth_common import smooth_noise, soft_step


@dataclass
class Cxr2D:
    """Geometry of one rendered CXR (patient + acquisition), the grids and the layers.

    Attributes:
        a, b: (H, W) patient coordinates of each pixel.
        p: patient/acquisition parameters (dict of floats).
        masks: anatomy name -> (H, W) bool region.
        atten: (H, W) float32 attenuation map (findings add to it).
        markings: (H, W) float32 lung-marking layer (pneumothorax removes it).
    """

    a: np.ndarray
    b: np.ndarray
    p: dict
    masks: dict = field(default_factory=dict)
    atten: np.ndarray | None = None
    markings: np.ndarray | None = None


def patient_params(patient_seed: int, acq_seed: int, view: str | None) -> dict:
    """Patient build (stable across a patient's studies) plus this acquisition's settings."""
    r = np.random.default_rng([patient_seed, 2])
    p = dict(scale=r.uniform(0.9, 1.04), heart=r.normal(1.0, 0.06), heart_dx=r.normal(0.07, 0.02),
             dia_r=r.uniform(0.34, 0.46), dia_l_extra=r.uniform(0.0, 0.08), dome=r.uniform(0.16, 0.26),
             lung_w=r.uniform(0.92, 1.06), body_w=r.uniform(0.82, 0.95), rib_pitch=r.uniform(0.118, 0.138),
             rib_phase=r.uniform(0, 1), marking=r.uniform(0.7, 1.3), breast=float(r.random() < 0.45),
             granuloma=float(r.random() < 0.3), nipples=float(r.random() < 0.25), scar=float(r.random() < 0.15),
             fissure=r.normal(-0.05, 0.04), texture_seed=int(r.integers(2**31)),
             feature_seed=int(r.integers(2**31)))
    q = np.random.default_rng([acq_seed, 3])
    ap = view == "AP"
    p.update(rot=np.deg2rad(q.normal(0, 2.5)), tx=q.normal(0, 0.03), ty=q.normal(0, 0.03),
             mag=1.08 if ap else 1.0, insp=q.uniform(0.0, 0.06) + (0.05 if ap else 0.0),
             gain=q.uniform(1.6, 2.4), gamma=q.uniform(0.8, 1.25), noise=q.uniform(0.012, 0.035),
             heel=q.uniform(-0.06, 0.06), noise_seed=int(q.integers(2**31)))
    return p


@lru_cache(maxsize=8)
def _unit_axes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, 1) and (1, W) float32 image coordinates in [-1, 1], cached per size (read-only)."""
    v = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    u = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    v.flags.writeable = u.flags.writeable = False
    return v, u


def _grid(shape: tuple[int, int], p: dict) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 patient coordinates; the rotation is applied by broadcasting row and column terms."""
    v, u = _unit_axes(*shape)
    k = 1.0 / p["scale"]
    c, s = float(np.cos(p["rot"])) * k, float(np.sin(p["rot"])) * k
    u, v = u - np.float32(p["tx"]), v - np.float32(p["ty"])
    return (c * u) + (s * v), (-s * u) + (c * v)


def _box(shape: tuple[int, int], p: dict, a0: float, a1: float, b0: float, b1: float) -> tuple[slice, slice]:
    """Image (rows, cols) slices covering the patient-space rectangle [a0, a1] x [b0, b1] (+1 pixel).

    Local structures are evaluated only inside their box and are exactly zero outside it,
    which saves most of the full-image array passes (inverse of `_grid`'s rotation).
    """
    h, w = shape
    c, s = math.cos(p["rot"]), math.sin(p["rot"])
    us, vs = [], []
    for a in (a0, a1):
        for b in (b0, b1):
            us.append(p["scale"] * (c * a - s * b) + p["tx"])
            vs.append(p["scale"] * (s * a + c * b) + p["ty"])
    i0, i1 = ((min(vs) + 1) / 2 * (h - 1), (max(vs) + 1) / 2 * (h - 1))
    j0, j1 = ((min(us) + 1) / 2 * (w - 1), (max(us) + 1) / 2 * (w - 1))
    rows = slice(int(np.clip(math.floor(i0) - 1, 0, h)), int(np.clip(math.ceil(i1) + 2, 0, h)))
    return rows, slice(int(np.clip(math.floor(j0) - 1, 0, w)), int(np.clip(math.ceil(j1) + 2, 0, w)))


def _local(a: np.ndarray, b: np.ndarray, box: tuple[slice, slice], fn, dtype=np.float32) -> np.ndarray:
    """Full-size array that is ``fn(a[box], b[box])`` inside ``box`` and 0 elsewhere."""
    out = np.zeros(a.shape, dtype)
    out[box] = fn(a[box], b[box])
    return out


def _add_local(out: np.ndarray, a: np.ndarray, b: np.ndarray, box: tuple[slice, slice], fn) -> None:
    """``out[box] += fn(a[box], b[box])`` (Gaussian blobs: boxes reach 4 sigma, where exp < 1.2e-7)."""
    out[box] += fn(a[box], b[box])


def diaphragm(a: np.ndarray, p: dict, side: str) -> np.ndarray:
    """Vertical position of the hemidiaphragm dome under each column (higher = smaller b)."""
    ac = (-0.36 if side == "right" else 0.36) * p["lung_w"]
    top = p["dia_r"] + (p["dia_l_extra"] if side == "left" else 0.0) + p["insp"] + p.get(f"dia_shift_{side}", 0.0)
    return top + p["dome"] * p.get("dome_k", 1.0) * ((a - ac) / 0.3) ** 2


def lung_field(a: np.ndarray, b: np.ndarray, p: dict, side: str) -> np.ndarray:
    """Signed lateral margin (>0 inside) of a lung's outline, ignoring the diaphragm."""
    ac = (-0.36 if side == "right" else 0.36) * p["lung_w"]
    t = np.clip((b + 0.72) / 0.9, 0, 1)
    half = 0.27 * p["lung_w"] * np.sqrt(t * (2 - t))
    return half - np.abs(a - ac)


def build_anatomy(shape: tuple[int, int], p: dict) -> Cxr2D:
    """Grid, anatomy masks and the normal attenuation map of a CXR (H, W)."""
    a, b = _grid(shape, p)
    g = Cxr2D(a, b, p)
    m = g.masks
    px = 2.0 / shape[0] / p["scale"]  # pixel size in patient units, for anti-aliased edges
    body = soft_step(1 - (a / p["body_w"]) ** 2 - ((b - 0.15) / 1.1) ** 2, 0.03)
    body = np.maximum(body, soft_step(0.2 - np.abs(a), px) * (b < -0.6))  # neck
    lungs_soft = np.zeros_like(a)
    dias = {side: diaphragm(a, p, side) for side in ("right", "left")}
    for side in ("right", "left"):
        # everything below is zero where the lateral margin < -0.05 (lung half-width <= 0.27 * lung_w)
        ac, half = (-0.36 if side == "right" else 0.36) * p["lung_w"], 0.27 * p["lung_w"] + 0.06 + 2 * px
        w = _box(shape, p, ac - half, ac + half, -0.76, 10.0)
        aw, bw, dia = a[w], b[w], dias[side][w]
        edge = lung_field(aw, bw, p, side)
        soft = soft_step(edge, px) * soft_step(dia - bw, px) * (bw > -0.72)
        lungs_soft[w] += soft
        for name, v in ((f"{side} lung", soft > 0.5),  # pleura: envelope incl. the gutter
                        (f"{side} pleura", (edge > -0.05) & (bw > -0.75) & (bw < dia + 0.04)),
                        (f"{side} hemidiaphragm", (np.abs(bw - dia) < 0.04) & (edge > 0))):
            m[name] = np.zeros(shape, bool)
            m[name][w] = v
    ac_r = -0.36 * p["lung_w"]
    rl, ll = m["right lung"], m["left lung"]
    m["right upper lobe"] = rl & (b < p["fissure"])
    mid = rl & (b >= p["fissure"]) & (a > ac_r - 0.02 + 0.35 * (b - p["fissure"])) & (b < p["fissure"] + 0.32)
    m["right middle lobe"] = mid
    m["right lower lobe"] = rl & (b >= p["fissure"]) & ~mid
    m["left upper lobe"] = ll & (b < p["fissure"] + 0.12)
    m["left lower lobe"] = ll & (b >= p["fissure"] + 0.12)
    m["lungs"] = rl | ll
    m["pulmonary vasculature"] = m["lungs"]
    m["pleura"] = m["right pleura"] | m["left pleura"]
    m["diaphragm"] = m["right hemidiaphragm"] | m["left hemidiaphragm"]
    m["costophrenic angle"] = m["pleura"] & (np.abs(a) > 0.4) & (b > 0.25)
    m["lung base"] = m["lungs"] & (b > 0.15)
    # heart sits on the left hemidiaphragm; AP projection magnifies it
    hs = p["heart"] * p["mag"] * p.get("heart_factor", 1.0)
    hx, ry, rx = p["heart_dx"] + 0.04, 0.23 * hs, 0.3 * hs
    hy = float(diaphragm(np.float32(hx), p, "left")) - 0.85 * ry
    heart = _local(a, b, _box(shape, p, hx - 1.05 * rx, hx + 1.05 * rx, hy - 1.05 * ry, hy + 1.05 * ry),
                   lambda a, b: soft_step(1 - ((a - hx) / rx) ** 2 - ((b - hy) / ry) ** 2, 0.04))
    m["heart"] = heart > 0.5
    m["pericardium"] = (heart > 0.05) & (heart < 0.95)
    medi = _local(a, b, _box(shape, p, -0.12 - 2 * px, 0.14 + 2 * px, -0.85, hy),
                  lambda a, b: soft_step(0.09 + np.float32(0.03) * (b > -0.3) - np.abs(a - 0.01), px)
                  * (b > -0.85) * (b < hy))
    m["mediastinum"] = medi > 0.5
    m["hilum"] = _local(a, b, _box(shape, p, -0.22, 0.22, -0.13, 0.07),
                        lambda a, b: (((np.abs(a) - 0.15) / 0.07) ** 2 + ((b + 0.03) / 0.1) ** 2) < 1, bool)
    aorta = _local(a, b, _box(shape, p, 0.02, 0.16, -0.43, -0.29),
                   lambda a, b: soft_step(1 - ((a - 0.09) ** 2 + (b + 0.36) ** 2) / 0.06 ** 2, 0.1))
    m["aorta"] = aorta > 0.5
    trachea = _local(a, b, _box(shape, p, -0.035 - 2 * px, 0.035 + 2 * px, -0.95, -0.28),
                     lambda a, b: soft_step(0.035 - np.abs(a), px) * (b > -0.95) * (b < -0.28))
    m["trachea"] = trachea > 0.5
    m["airway structures"] = m["trachea"]
    m["carina"] = _local(a, b, _box(shape, p, -0.05, 0.05, -0.32, -0.24),
                         lambda a, b: (np.abs(a) < 0.05) & (np.abs(b + 0.28) < 0.04), bool)
    m["bronchi"] = _local(a, b, _box(shape, p, -0.13, 0.13, -0.28, -0.12),
                          lambda a, b: (np.abs(np.abs(a) - 0.6 * (b + 0.28)) < 0.025) & (b > -0.28) & (b < -0.12),
                          bool)
    spine = _local(a, b, _box(shape, p, -0.065 - 2 * px, 0.065 + 2 * px, -0.9, 10.0),
                   lambda a, b: soft_step(0.065 - np.abs(a), px) * (b > -0.9))
    m["spine"] = spine > 0.5
    # posterior ribs: arcs dropping laterally, one band per pitch
    def ribs(a, b):
        phase = (b - 0.35 * np.abs(a) + 0.8 * a ** 2) / p["rib_pitch"] + p["rib_phase"]
        zone = (np.abs(a) > 0.08) & (np.abs(a) < 0.85 * p["body_w"]) & (b > -0.72) & (b < 0.55)
        phase -= np.floor(phase)  # == np.mod(phase, 1.0) bit for bit, at a fraction of the cost
        return soft_step(0.14 - np.abs(phase - 0.5) + 0.0, 0.02) * zone

    rib = _local(a, b, _box(shape, p, -0.85 * p["body_w"], 0.85 * p["body_w"], -0.72, 0.55), ribs)
    m["right ribs"] = (rib > 0.5) & (a < 0)
    m["left ribs"] = (rib > 0.5) & (a > 0)
    m["ribs"] = m["right ribs"] | m["left ribs"]
    cl = _local(a, b, _box(shape, p, -0.55, 0.55, -0.69 - 2 * px, -0.56 + 2 * px),
                lambda a, b: soft_step(0.028 - np.abs(b + 0.66 - 0.12 * np.abs(a)), px) * (np.abs(a) > 0.08)
                * (np.abs(a) < 0.55))
    m["clavicle"] = cl > 0.5
    m["bones"] = m["ribs"] | m["spine"] | m["clavicle"]
    abdomen = body * (b > np.minimum(dias["right"], dias["left"]))
    m["abdomen"] = abdomen > 0.5

    tex = np.random.default_rng(p["texture_seed"])
    n1, n2 = smooth_noise(tex, a.shape, 28), smooth_noise(tex, a.shape, 56)
    lw = _box(shape, p, -0.63 * p["lung_w"] - 0.06 - 2 * px, 0.63 * p["lung_w"] + 0.06 + 2 * px, -0.76, 10.0)
    hilar_w = np.exp(-(((np.abs(a[lw]) - 0.15) ** 2 + (b[lw] + 0.03) ** 2) / 0.16))
    vessels = np.abs(n1[lw]) * hilar_w + 0.3 * np.abs(n2[lw])
    g.markings = np.zeros(shape, np.float32)  # lung markings exist only where lungs_soft > 0 (inside lw)
    g.markings[lw] = 0.06 * p["marking"] * p.get("marking_k", 1.0) * vessels * lungs_soft[lw]
    A = 0.55 * body - (0.42 + p.get("air_extra", 0.0)) * lungs_soft + 0.25 * medi + 0.3 * heart
    _add_local(A, a, b, _box(shape, p, -0.35, 0.35, -0.31, 0.25),
               lambda a, b: 0.1 * np.exp(-(((np.abs(a) - 0.15) / 0.05) ** 2 + ((b + 0.03) / 0.07) ** 2)))
    A += 0.12 * aorta
    A += -0.12 * trachea + 0.12 * rib + 0.15 * cl
    sw = _box(shape, p, -0.065 - 2 * px, 0.065 + 2 * px, -0.9, 10.0)  # the spine's support
    A[sw] += spine[sw] * (0.18 + 0.05 * np.cos(2 * np.pi * b[sw] / 0.11))
    A += 0.12 * abdomen
    gb = float(diaphragm(np.float32(0.33), p, "left")) + 0.09
    gw = _box(shape, p, 0.01, 0.65, gb - 0.2, gb + 0.2)
    A[gw] -= 0.15 * np.exp(-(((a[gw] - 0.33) / 0.08) ** 2 + ((b[gw] - gb) / 0.05) ** 2)) * abdomen[gw]
    if p["breast"]:
        A += 0.08 * body * np.exp(-(((np.abs(a) - 0.42) / 0.22) ** 2 + ((b - 0.42) / 0.18) ** 2))
    g.atten = A.astype(np.float32)
    _normal_mimics(g)
    return g


def _normal_mimics(g: Cxr2D) -> None:
    """Normal variants that resemble findings (calcified granuloma, nipple shadows, scar)."""
    p, a, b = g.p, g.a, g.b
    r = np.random.default_rng(p["feature_seed"])
    lungs = g.masks["lungs"]
    idx = np.flatnonzero(lungs)
    if p["granuloma"] and idx.size:
        j = idx[r.integers(idx.size)]
        ca, cb = float(a.flat[j]), float(b.flat[j])
        _add_local(g.atten, a, b, _box(a.shape, p, ca - 0.05, ca + 0.05, cb - 0.05, cb + 0.05),
                   lambda a, b: 0.35 * np.exp(-((a - ca) ** 2 + (b - cb) ** 2) / 0.012 ** 2))
    if p["nipples"]:
        for s in (-1, 1):
            _add_local(g.atten, a, b, _box(a.shape, p, s * 0.45 - 0.09, s * 0.45 + 0.09, 0.21, 0.39),
                       lambda a, b, s=s: 0.1 * np.exp(-((a - s * 0.45) ** 2 + (b - 0.3) ** 2) / 0.022 ** 2))
    if p["scar"] and idx.size:
        j = idx[r.integers(idx.size)]
        ang = r.uniform(-0.4, 0.4)
        ca, cb, sn, cs = float(a.flat[j]), float(b.flat[j]), math.sin(ang), math.cos(ang)
        w = _box(a.shape, p, ca - 0.09, ca + 0.09, cb - 0.09, cb + 0.09)  # the scar: |along| < 0.08, |d| < 0.008
        aw, bw = a[w] - ca, b[w] - cb
        g.atten[w] += 0.08 * (np.abs(-aw * sn + bw * cs) < 0.008) * (np.abs(aw * cs + bw * sn) < 0.08) * lungs[w]


def expose(g: Cxr2D) -> np.ndarray:
    """Map attenuation to a display image in [0, 1] (H, W) float32 with exposure, heel effect and noise."""
    p = g.p
    A = g.atten + g.markings
    img = 1 - np.exp(-p["gain"] * np.maximum(A, 0))
    img = img / (1 - math.exp(-p["gain"] * 1.1))
    img = np.clip(img, 0, 1) ** p["gamma"] * (1 + p["heel"] * g.b)
    r = np.random.default_rng(p["noise_seed"])
    img = img + p["noise"] * r.standard_normal(img.shape, dtype=np.float32)
    img += 0.02 * smooth_noise(r, img.shape, 6)
    return np.clip(img, 0, 1).astype(np.float32)
