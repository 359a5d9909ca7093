"""Image signatures of findings on the 2D CXR phantom.

Each finding changes the attenuation map inside its anatomy, scaled by its severity
level (0-1] with a small per-case jitter, so severities overlap with each other and
with normal variation (e.g. mild cardiomegaly vs. an AP-magnified normal heart).
Findings that change the geometry (heart size, diaphragm position) act on the
parameters before the anatomy is built (`modify_params`); the others draw on it
(`draw_findings`). Uncertain findings are drawn at half strength.
"""

from __future__ import annotations

import math

import numpy as np

from radkit.data.synth_common import smooth_noise, soft_step
from radkit.data.synth_findings import FindingSpec
from radkit.data.synth_phantom2d import Cxr2D, diaphragm, lung_field


def strength(f: FindingSpec) -> float:
    """Drawn strength of a finding: severity level with +-0.08 jitter, halved when uncertain."""
    j = np.random.default_rng([f.place_seed, 1]).uniform(-0.08, 0.08)
    return float(np.clip(f.level + j, 0.15, 1.1)) * (0.5 if f.status == "uncertain" else 1.0)


def modify_params(p: dict, findings: list[FindingSpec]) -> dict:
    """Parameters after geometry-changing findings (cardiomegaly, emphysema, lower-lobe atelectasis)."""
    p = dict(p)
    for f in findings:
        s = strength(f)
        if f.finding == "cardiomegaly":
            p["heart_factor"] = 1.0 + 0.42 * s
        elif f.finding == "emphysema":
            p["dome_k"] = 1.0 - 0.6 * s
            p["dia_shift_right"] = p.get("dia_shift_right", 0.0) + 0.1 * s
            p["dia_shift_left"] = p.get("dia_shift_left", 0.0) + 0.1 * s
            p["air_extra"] = 0.14 * s
            p["marking_k"] = 1.0 - 0.5 * s
        elif f.finding == "atelectasis" and "lower" in f.anatomy:
            key = f"dia_shift_{f.side}"
            p[key] = p.get(key, 0.0) - 0.05 * s  # volume loss pulls the hemidiaphragm up
    return p


def draw_findings(g: Cxr2D, findings: list[FindingSpec]) -> None:
    """Add every finding's signature to ``g.atten`` / ``g.markings`` in place."""
    for f in findings:
        _DRAW[f.finding](g, f, strength(f), np.random.default_rng([f.place_seed, 2]))


def _pick(g: Cxr2D, mask: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return float(g.a.mean()), float(g.b.mean())
    j = idx[rng.integers(idx.size)]
    return float(g.a.flat[j]), float(g.b.flat[j])


def _nodule(g, f, s, rng):
    r = (0.035 + 0.075 * s) * rng.uniform(0.85, 1.15)
    ca, cb = _pick(g, g.masks[f.anatomy], rng)
    d2 = ((g.a - ca) ** 2 + (g.b - cb) ** 2) / r ** 2
    lob = 1 + 0.15 * smooth_noise(rng, g.a.shape, 40)  # lobulated margin
    g.atten += (0.3 + 0.15 * s) * soft_step(lob - d2, 0.25)


def _lobar(g, f, s, rng, dense: float, patchy: bool):
    lobe = g.masks[f.anatomy].astype(np.float32)
    tex = smooth_noise(rng, g.a.shape, 20)
    if patchy:  # consolidation fills more of the lobe as it worsens, with air bronchograms
        fill = soft_step(tex - (0.9 - 2.2 * s), 0.3)
        bronch = 0.5 + 0.5 * soft_step(np.abs(smooth_noise(rng, g.a.shape, 48)) - 0.15, 0.05)
        g.atten += dense * s * lobe * fill * bronch
    else:  # atelectasis: a plate-like band across the lobe
        ca, cb = _pick(g, g.masks[f.anatomy], rng)
        ang = rng.uniform(-0.35, 0.35)
        d = np.abs(-(g.a - ca) * math.sin(ang) + (g.b - cb) * math.cos(ang))
        band = soft_step(0.025 + 0.07 * s - d, 0.01)
        g.atten += dense * (0.4 + 0.6 * s) * lobe * band * (1 + 0.2 * tex)


def _consolidation(g, f, s, rng):
    _lobar(g, f, s, rng, 0.4, True)


def _atelectasis(g, f, s, rng):
    _lobar(g, f, s, rng, 0.3, False)


def _effusion(g, f, s, rng):
    side = f.side or "right"
    ac = (-0.36 if side == "right" else 0.36) * g.p["lung_w"]
    lateral = np.clip((g.a - ac) * math.copysign(1.0, ac), 0, 0.3) / 0.3
    # meniscus: the fluid climbs higher along the lateral chest wall
    level = diaphragm(g.a, g.p, side) - (0.04 + 0.5 * s) * (0.7 + 0.3 * lateral)
    region = soft_step(lung_field(g.a, g.b, g.p, side) + 0.03, 0.01) * soft_step(g.b - level, 0.015)
    region *= soft_step(diaphragm(g.a, g.p, side) - g.b, 0.01)
    g.atten += 0.5 * region
    g.markings *= 1 - region


def _pneumothorax(g, f, s, rng):
    side = f.side or "right"
    hx = -0.15 if side == "right" else 0.15
    c = 0.08 + 0.35 * s  # fraction by which the lung has collapsed towards the hilum
    a2, b2 = hx + (g.a - hx) / (1 - c), -0.03 + (g.b + 0.03) / (1 - c)
    inside = (lung_field(a2, b2, g.p, side) > 0) & (b2 > -0.72) & (b2 < diaphragm(a2, g.p, side))
    lung = g.masks[f"{side} lung"]
    ptx = lung & ~inside
    line = lung & inside & ~np.roll(inside, 1, 0) | lung & inside & ~np.roll(inside, 1 if side == "left" else -1, 1)
    g.markings[ptx] = 0
    g.atten -= 0.05 * ptx
    g.atten += 0.1 * line


def _cardiomegaly(g, f, s, rng):
    pass  # drawn through modify_params (heart_factor)


def _edema(g, f, s, rng):
    a, b = g.a, g.b
    haze = np.exp(-(((np.abs(a) - 0.17) / (0.16 + 0.1 * s)) ** 2 + ((b + 0.02) / 0.3) ** 2))
    lungs = g.masks["lungs"]
    g.atten += 0.22 * s * haze * lungs
    g.markings *= 1 + 0.8 * s
    kerley = (np.abs(np.mod(b * 40, 1) - 0.5) < 0.08) & (np.abs(a) > 0.45) & (b > 0.1) & lungs
    g.atten += 0.06 * s * kerley


def _emphysema(g, f, s, rng):
    lungs = g.masks[f.anatomy] if f.anatomy in g.masks else g.masks["lungs"]
    bullae = soft_step(smooth_noise(rng, g.a.shape, 30) - (2.2 - 0.8 * s), 0.1)
    g.atten -= 0.06 * s * lungs * (1 + bullae)


def _fracture(g, f, s, rng):
    if f.anatomy == "spine":  # compression: one vertebral body loses height and densifies
        vb = rng.uniform(-0.3, 0.2)
        band = (np.abs(g.b - vb) < 0.03) & g.masks["spine"]
        g.atten[band] += 0.08 + 0.1 * s
        gap = (np.abs(g.b - vb - 0.04) < 0.012 + 0.02 * s) & g.masks["spine"]
        g.atten[gap] -= 0.15
        return
    mask = g.masks[f.anatomy] if f.anatomy in g.masks else g.masks["ribs"]
    if f.anatomy == "clavicle" and f.side:
        mask = mask & ((g.a < 0) if f.side == "right" else (g.a > 0))
    ca, cb = _pick(g, mask & (np.abs(g.a) > 0.3), rng)
    width = 0.008 + 0.02 * s
    gap = mask & (np.abs(g.a - ca) < width) & (np.abs(g.b - cb) < 0.06)
    g.atten[gap] -= 0.12 + 0.03 * s  # cortical break
    if s > 0.5:  # displaced: the lateral fragment steps down
        frag = mask & (np.abs(g.a) > abs(ca) + width) & (np.abs(g.a) < abs(ca) + 0.12) & (np.abs(g.b - cb) < 0.05)
        g.atten += 0.1 * (np.roll(frag, 2, 0).astype(np.float32) - frag)


def _lymphadenopathy(g, f, s, rng):
    a, b = g.a, g.b
    if f.anatomy == "hilum":
        sides = (f.side,) if f.side else ("right", "left")
        for side in sides:
            x = -0.16 if side == "right" else 0.16
            r = 0.06 + 0.07 * s
            g.atten += (0.2 + 0.15 * s) * soft_step(1 - ((a - x * (1 + 0.3 * s)) ** 2 + (b + 0.03) ** 2) / r ** 2, 0.3)
    else:  # right paratracheal / aortopulmonary widening of the mediastinum
        for x, y in ((-0.09, -0.42), (0.09, -0.2)):  # straddle the mediastinal border: it bulges
            r = 0.05 + 0.07 * s
            g.atten += (0.25 + 0.15 * s) * soft_step(1 - ((a - x) ** 2 + (b - y) ** 2) / r ** 2, 0.3)


def _tube_line(g, x_of_b, b0, b1, wall: float = 0.006):
    d = np.abs(g.a - x_of_b(g.b))
    return soft_step(wall - d, 0.003) * (g.b > b0) * (g.b < b1)


def _support_device(g, f, s, rng):
    if f.anatomy == "trachea":  # endotracheal tube: two radio-opaque walls ending above the carina
        tip = rng.uniform(-0.55, -0.38)
        for off in (-0.018, 0.018):
            g.atten += 0.35 * _tube_line(g, lambda b, o=off: o + 0 * b, -1.0, tip)
    else:  # jugular central venous catheter curving into the superior vena cava
        sgn = -1 if (f.side or "right") == "right" else 1
        x0, tip = sgn * rng.uniform(0.2, 0.3), rng.uniform(-0.25, -0.1)
        g.atten += 0.4 * _tube_line(g, lambda b: -0.05 + (x0 + 0.05) * np.clip((tip - b) / (tip + 0.95), 0, 1) ** 2,
                                    -0.95, tip)


_DRAW = {"nodule": _nodule, "consolidation": _consolidation, "atelectasis": _atelectasis, "effusion": _effusion,
         "pneumothorax": _pneumothorax, "cardiomegaly": _cardiomegaly, "edema": _edema, "emphysema": _emphysema,
         "fracture": _fracture, "lymphadenopathy": _lymphadenopathy, "support device": _support_device}
