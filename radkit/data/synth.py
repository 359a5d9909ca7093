"""Synthetic chest X-ray and chest CT studies with known ground truth.

`synthesize` writes images and a manifest; `synthesize_arrays` and `generate_study`
return arrays and `Study` records in memory (for fast tests of other components).
Everything is a pure function of the seed: the cohort plan (`synth_findings`), the
phantoms (`synth_phantom2d`, `synth_phantom3d`), the finding signatures
(`synth_signs2d`, `synth_signs3d`) and the reports (`synth_reports`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from radkit.data.manifest import write_manifest
from radkit.data.study import Study
from radkit.data.synth_findings import FindingSpec, StudyPlan, plan_cohort, random_findings
from radkit.data.synth_reports import write_report

FORMATS = {"cxr": ("png", "dicom"), "ct": ("nifti", "dicom")}
DEFAULT_SIZE = {"cxr": (256, 256), "ct": (64, 64, 48)}
CXR_FOV_MM = 400.0  # the CXR image spans ~40 cm, so pixel spacing = 400 / width


def _check(modality: str, fmt: str | None, size) -> tuple[str, tuple[int, ...]]:
    if modality not in FORMATS:
        raise ValueError(f"modality {modality!r} invalid; use 'cxr' or 'ct'")
    fmt = fmt or FORMATS[modality][0]
    if fmt not in FORMATS[modality]:
        raise ValueError(f"format {fmt!r} invalid for {modality}; use one of {FORMATS[modality]}")
    if size is None:
        size = DEFAULT_SIZE[modality]
    size = (size, size) if isinstance(size, int) and modality == "cxr" else tuple(int(s) for s in np.atleast_1d(size))
    if len(size) != len(DEFAULT_SIZE[modality]) or min(size) < 16:
        raise ValueError(f"size {size} invalid for {modality}; give {len(DEFAULT_SIZE[modality])} ints >= 16, "
                         f"e.g. {DEFAULT_SIZE[modality]}")
    return fmt, size


SLAB_VOXELS = 1 << 21  # CT volumes above 2x this many voxels render in X slabs of about this many


def render(plan: StudyPlan, size: tuple[int, ...] | None = None, masks: bool = False, slab_rows: int | None = None):
    """Render a planned study.

    Large CT volumes (e.g. 512x512x200 for benchmarks) are rendered slab by slab along X
    (``slab_rows`` rows at a time; default: automatic above 4M voxels, whole volume below),
    which bounds the working memory to a few slabs and keeps the passes in cache. A slab
    render draws the same anatomy and noise as the whole-volume render; finding positions
    and texture normalisation come from a small whole-volume render, so they match its
    statistics rather than its bits.

    Returns:
        CXR: (H, W) float32 in [0, 1]; CT: (X, Y, Z) float32 HU in RAS+ voxel order.
        With ``masks=True``, a tuple (array, {anatomy: bool mask of the same shape}).
    """
    size = size or DEFAULT_SIZE[plan.modality]
    if plan.modality == "cxr":
        from radkit.data import synth_phantom2d as ph
        from radkit.data import synth_signs2d as sg

        p = sg.modify_params(ph.patient_params(plan.patient_seed, plan.acq_seed, plan.view), plan.findings)
        g = ph.build_anatomy(tuple(size), p)
        sg.draw_findings(g, plan.findings)
        img = ph.expose(g)
    else:
        from radkit.data import synth_phantom3d as ph
        from radkit.data import synth_signs3d as sg

        p = sg.modify_params(ph.patient_params(plan.patient_seed, plan.acq_seed), plan.findings)
        n_vox = int(np.prod(size))
        if slab_rows is None and (masks or n_vox <= 2 * SLAB_VOXELS):
            g = ph.build_anatomy(tuple(size), p)
            sg.draw_findings(g, plan.findings)
            img = ph.add_noise(g)
        else:
            if masks:
                raise ValueError("masks=True needs the whole-volume render; pass slab_rows=None")
            return _render_ct_slabs(plan, tuple(size), p, slab_rows or max(1, SLAB_VOXELS // (size[1] * size[2])))
    return (img, {k: v for k, v in g.masks.items() if not k.startswith("_")}) if masks else img


def _render_ct_slabs(plan: StudyPlan, size: tuple[int, int, int], p: dict, rows: int) -> np.ndarray:
    """(X, Y, Z) float32 HU rendered ``rows`` X-rows at a time (see `render`)."""
    from radkit.data import synth_phantom3d as ph
    from radkit.data import synth_signs3d as sg

    ref = ph.build_anatomy(DEFAULT_SIZE["ct"], p)  # whole-volume choices (finding sites, lobe extents)
    out = np.empty(size, np.float32)
    noise = np.random.default_rng(p["noise_seed"])
    for r0 in range(0, size[0], rows):
        sl = slice(r0, min(r0 + rows, size[0]))
        g = ph.build_anatomy(size, p, sl, ref)
        sg.draw_findings(g, plan.findings)
        ph.add_noise(g, noise, out[sl])
    from radkit.data import synth_common

    synth_common._PARTIAL.clear()  # the per-volume texture cache is not needed after the last slab
    return out


def ct_affine(size: tuple[int, int, int]) -> np.ndarray:
    """4x4 RAS+ affine (mm) of a synthetic CT grid of ``size``, centred at the origin."""
    from radkit.data.synth_phantom3d import grid_spacing

    sp = grid_spacing(size)
    aff = np.diag([*sp, 1.0])
    aff[:3, 3] = [-(n - 1) / 2 * s for n, s in zip(size, sp)]
    return aff


def _study(plan: StudyPlan, prior_dates: dict[str, str]) -> Study:
    report, gt = write_report(plan, prior_dates.get(plan.prior_study_id or ""))
    return Study(plan.study_id, plan.patient_id, plan.modality, [], report, plan.split, plan.view,
                 plan.study_date, plan.prior_study_id, gt)


def generate_study(rng: np.random.Generator, modality: str = "cxr", size=None,
                   findings: list[FindingSpec] | None = None, view: str | None = "PA",
                   masks: bool = False):
    """One standalone study in memory (no files), for quick experiments and tests.

    Args:
        rng: source of the patient, acquisition and report seeds.
        modality: "cxr" or "ct".
        size: image size; default (256, 256) or (64, 64, 48).
        findings: findings to draw (default: 1-3 random ones); pass [] for a normal study.
        view: CXR view ("PA"/"AP"); ignored for CT.
        masks: also return the anatomy masks.

    Returns:
        (array, Study) or (array, Study, masks). The same rng state and findings give the
        same patient and acquisition, so the effect of a finding can be isolated.
    """
    _, size = _check(modality, None, size)
    seeds = [int(s) for s in rng.integers(2**31, size=4)]
    if findings is None:
        findings = random_findings(np.random.default_rng(seeds[3]), modality, 1 + seeds[3] % 3)
    plan = StudyPlan(f"synth-{modality}-{seeds[0]}", f"synth-{modality}-p{seeds[0]}", modality, "train",
                     "2020-01-01", view if modality == "cxr" else None, seeds[0], seeds[1], seeds[2], list(findings))
    out = render(plan, size, masks)
    img, m = out if masks else (out, None)
    study = _study(plan, {})
    return (img, study, m) if masks else (img, study)


def synthesize_arrays(modality: str = "cxr", n: int = 20, seed: int = 0, size=None, prior_fraction: float = 0.3,
                      normal_fraction: float = 0.2) -> tuple[list[np.ndarray], list[Study]]:
    """Generate ``n`` studies in memory: arrays (CXR (H, W) in [0, 1]; CT (X, Y, Z) HU) and Study records.

    Study.image_paths is empty; everything else matches what `synthesize` writes.
    """
    _, size = _check(modality, None, size)
    plans = plan_cohort(modality, n, seed, prior_fraction, normal_fraction)
    dates = {p.study_id: p.study_date for p in plans}
    return [render(p, size) for p in plans], [_study(p, dates) for p in plans]


def _render_and_write(job: tuple) -> str:
    """Render one planned study and write its image; returns the path relative to the output folder."""
    from radkit.data.synth_phantom3d import grid_spacing
    from radkit.io import write as W

    plan, size, fmt, out = job
    out = Path(out)
    img = render(plan, size)
    if plan.modality == "cxr" and fmt == "png":
        rel = f"images/{plan.study_id}.png"
        W.write_png(out / rel, img)
    elif plan.modality == "cxr":
        rel = f"images/{plan.study_id}.dcm"
        sp = CXR_FOV_MM / size[1]
        W.write_dicom_cxr(out / rel, img, (sp, sp))
    elif fmt == "nifti":
        rel = f"images/{plan.study_id}.nii.gz"
        W.write_nifti(out / rel, np.round(img).astype(np.int16), ct_affine(size))
    else:
        rel = f"images/{plan.study_id}"
        W.write_dicom_series(out / rel, np.round(img), grid_spacing(size), ct_affine(size))
    return rel


def synthesize(out_dir: str | os.PathLike, modality: str = "cxr", n: int = 20, seed: int = 0,
               fmt: str | None = None, size=None, progress: bool = True, prior_fraction: float = 0.3,
               normal_fraction: float = 0.2) -> Path:
    """Write ``n`` synthetic studies (images + reports with ground truth) and their manifest.

    Args:
        out_dir: output folder; images go to ``out_dir/images``.
        modality: "cxr" or "ct".
        n: number of studies.
        seed: everything (plan, pixels, reports) is a pure function of the seed.
        fmt: cxr "png" (default) or "dicom"; ct "nifti" (default, .nii.gz) or "dicom" (one series folder).
        size: CXR (H, W) (default 256x256) or CT (X, Y, Z) (default 64x64x48); the field of view is fixed,
            so the spacing follows the size.
        progress: show a progress bar.
        prior_fraction: fraction of studies in prior/current pairs of one patient.
        normal_fraction: fraction of single studies without findings.

    Returns:
        Path of ``out_dir/manifest.jsonl`` (image paths relative to it).
    """
    from tqdm import tqdm

    fmt, size = _check(modality, fmt, size)
    if n < 1:
        raise ValueError(f"n={n} invalid; ask for at least 1 study")
    for name, v in (("prior_fraction", prior_fraction), ("normal_fraction", normal_fraction)):
        if not 0 <= v <= 1:
            raise ValueError(f"{name}={v} invalid; use a fraction in [0, 1]")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    plans = plan_cohort(modality, n, seed, prior_fraction, normal_fraction)
    dates = {p.study_id: p.study_date for p in plans}
    jobs = [(plan, size, fmt, str(out)) for plan in plans]
    workers = min(os.cpu_count() or 1, 4) if n >= 64 else 1
    if workers > 1:  # studies are independent pure functions of their plan: same bytes either way
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            rels = list(tqdm(pool.map(_render_and_write, jobs, chunksize=8), total=len(jobs), unit="study",
                             desc=f"synth {modality}", disable=not progress))
    else:
        rels = [_render_and_write(j) for j in tqdm(jobs, desc=f"synth {modality}", disable=not progress,
                                                    unit="study")]
    studies = []
    for plan, rel in zip(plans, rels):
        s = _study(plan, dates)
        s.image_paths = [rel]
        studies.append(s)
    return write_manifest(studies, out / "manifest.jsonl")
