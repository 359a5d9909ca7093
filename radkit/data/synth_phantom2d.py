"""2D chest radiograph phantom: anatomy geometry, region masks and the X-ray projection.

Coordinates: the image spans a, b in [-1, 1] (a left->right, b top->bottom). The
image is displayed in radiological convention, so the patient's right lung is on
the image left (a < 0). Anatomy is drawn in "patient" coordinates derived from the
image grid by the acquisition's rotation, shift and scale, so normal variation
(patient size, rotation, inspiration, exposure, noise) moves every structure.
Intensities are line integrals of attenuation (A) mapped by 1 - exp(-gain * A).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def _grid(shape: tuple[int, int], p: dict) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    v, u = np.meshgrid(np.linspace(-1, 1, h, dtype=np.float32), np.linspace(-1, 1, w, dtype=np.float32),
                       indexing="ij")
    c, s = np.cos(p["rot"]), np.sin(p["rot"])
    u, v = u - p["tx"], v - p["ty"]
    return (c * u + s * v) / p["scale"], (-s * u + c * v) / p["scale"]


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
    for side in ("right", "left"):
        edge = lung_field(a, b, p, side)
        dia = diaphragm(a, p, side)
        soft = soft_step(edge, px) * soft_step(dia - b, px) * (b > -0.72)
        lungs_soft += soft
        lung = soft > 0.5
        m[f"{side} lung"] = lung
        m[f"{side} pleura"] = (edge > -0.05) & (b > -0.75) & (b < dia + 0.04)  # envelope incl. the gutter
        m[f"{side} hemidiaphragm"] = (np.abs(b - dia) < 0.04) & (edge > 0)
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
    heart = soft_step(1 - ((a - hx) / rx) ** 2 - ((b - hy) / ry) ** 2, 0.04)
    m["heart"] = heart > 0.5
    m["pericardium"] = (heart > 0.05) & (heart < 0.95)
    medi = soft_step(0.09 + 0.03 * (b > -0.3) - np.abs(a - 0.01), px) * (b > -0.85) * (b < hy)
    m["mediastinum"] = medi > 0.5
    m["hilum"] = (((np.abs(a) - 0.15) / 0.07) ** 2 + ((b + 0.03) / 0.1) ** 2) < 1
    aorta = soft_step(1 - ((a - 0.09) ** 2 + (b + 0.36) ** 2) / 0.06 ** 2, 0.1)
    m["aorta"] = aorta > 0.5
    trachea = soft_step(0.035 - np.abs(a), px) * (b > -0.95) * (b < -0.28)
    m["trachea"] = trachea > 0.5
    m["airway structures"] = m["trachea"]
    m["carina"] = (np.abs(a) < 0.05) & (np.abs(b + 0.28) < 0.04)
    m["bronchi"] = (np.abs(np.abs(a) - 0.6 * (b + 0.28)) < 0.025) & (b > -0.28) & (b < -0.12)
    spine = soft_step(0.065 - np.abs(a), px) * (b > -0.9)
    m["spine"] = spine > 0.5
    # posterior ribs: arcs dropping laterally, one band per pitch
    phase = (b - 0.35 * np.abs(a) + 0.8 * a ** 2) / p["rib_pitch"] + p["rib_phase"]
    rib_zone = (np.abs(a) > 0.08) & (np.abs(a) < 0.85 * p["body_w"]) & (b > -0.72) & (b < 0.55)
    rib = soft_step(0.14 - np.abs(np.mod(phase, 1.0) - 0.5) + 0.0, 0.02) * rib_zone
    g.p["_rib_phase"] = phase
    m["right ribs"] = (rib > 0.5) & (a < 0)
    m["left ribs"] = (rib > 0.5) & (a > 0)
    m["ribs"] = m["right ribs"] | m["left ribs"]
    cl = soft_step(0.028 - np.abs(b + 0.66 - 0.12 * np.abs(a)), px) * (np.abs(a) > 0.08) * (np.abs(a) < 0.55)
    m["clavicle"] = cl > 0.5
    m["bones"] = m["ribs"] | m["spine"] | m["clavicle"]
    abdomen = body * (b > np.minimum(diaphragm(a, p, "right"), diaphragm(a, p, "left")))
    m["abdomen"] = abdomen > 0.5

    tex = np.random.default_rng(p["texture_seed"])
    hilar_w = np.exp(-(((np.abs(a) - 0.15) ** 2 + (b + 0.03) ** 2) / 0.16))
    vessels = np.abs(smooth_noise(tex, a.shape, 28)) * hilar_w + 0.3 * np.abs(smooth_noise(tex, a.shape, 56))
    g.markings = (0.06 * p["marking"] * p.get("marking_k", 1.0) * vessels * lungs_soft).astype(np.float32)
    A = 0.55 * body - (0.42 + p.get("air_extra", 0.0)) * lungs_soft + 0.25 * medi + 0.3 * heart
    A += 0.1 * np.exp(-(((np.abs(a) - 0.15) / 0.05) ** 2 + ((b + 0.03) / 0.07) ** 2)) + 0.12 * aorta
    A += -0.12 * trachea + spine * (0.18 + 0.05 * np.cos(2 * np.pi * b / 0.11)) + 0.12 * rib + 0.15 * cl
    A += 0.12 * abdomen
    gastric = np.exp(-(((a - 0.33) / 0.08) ** 2 + ((b - diaphragm(np.float32(0.33), p, "left") - 0.09) / 0.05) ** 2))
    A -= 0.15 * gastric * abdomen
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
        g.atten += 0.35 * np.exp(-((a - a.flat[j]) ** 2 + (b - b.flat[j]) ** 2) / 0.012 ** 2)
    if p["nipples"]:
        for s in (-1, 1):
            g.atten += 0.1 * np.exp(-((a - s * 0.45) ** 2 + (b - 0.3) ** 2) / 0.022 ** 2)
    if p["scar"] and idx.size:
        j = idx[r.integers(idx.size)]
        ang = r.uniform(-0.4, 0.4)
        d = np.abs(-(a - a.flat[j]) * np.sin(ang) + (b - b.flat[j]) * np.cos(ang))
        along = np.abs((a - a.flat[j]) * np.cos(ang) + (b - b.flat[j]) * np.sin(ang))
        g.atten += 0.08 * (d < 0.008) * (along < 0.08) * lungs


def expose(g: Cxr2D) -> np.ndarray:
    """Map attenuation to a display image in [0, 1] (H, W) float32 with exposure, heel effect and noise."""
    p = g.p
    A = g.atten + g.markings
    img = 1 - np.exp(-p["gain"] * np.maximum(A, 0))
    img = img / (1 - np.exp(-p["gain"] * 1.1))
    img = np.clip(img, 0, 1) ** p["gamma"] * (1 + p["heel"] * g.b)
    r = np.random.default_rng(p["noise_seed"])
    img = img + p["noise"] * r.standard_normal(img.shape, dtype=np.float32)
    img += 0.02 * smooth_noise(r, img.shape, 6)
    return np.clip(img, 0, 1).astype(np.float32)
