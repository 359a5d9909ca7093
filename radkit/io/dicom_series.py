"""DICOM series folder reader (CT): one series, slices sorted along the normal, HU, RAS+ voxel order."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from radkit.io import dicom_common as dc
from radkit.io.image import Image, spacing_from_affine
from radkit.io.validate import check_ct_intensity

_IOP_TOL = 1e-4  # direction cosines of one series agree to this
_DUP_TOL_MM = 1e-3  # slice positions closer than this are the same position
_GAP_FACTOR = 1.5  # a step above 1.5x the median step means slices are missing


def read_dicom_series(folder: Path, modality: str | None = None, raw: bool = False) -> Image:
    """Read a folder holding one DICOM series as a volume.

    Files without a DICOM marker (notes, thumbnails, DICOMDIR) are skipped and listed in
    `meta["skipped_files"]`. Slices are sorted by ImagePositionPatient projected on the slice normal
    (cross product of the ImageOrientationPatient row and column cosines); spacing comes from PixelSpacing
    and the slice positions (not SliceThickness); RescaleSlope/Intercept are applied per slice.

    Args:
        folder: the series folder (a folder with one DICOM file is read as that file).
        modality: override the header modality ("ct", "mr", ...).
        raw: return the stored integers (int16) with one `rescale_slope`/`rescale_intercept` in meta.

    Returns:
        `Image` with `array` `(X, Y, Z)` float32 (HU for CT) in RAS+ voxel order (closest RAS+ when
        `meta["oblique"]`), `spacing` in mm per axis, RAS+ `affine`.

    Raises:
        ValueError: no DICOM files, mixed series, missing geometry, inconsistent orientation or size,
            duplicate positions, missing slices, unreadable pixels, HU out of range. The message names the
            offending file(s) and the fix.
    """
    # DICOMDIR is an index of the media, not a slice.
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".") and p.name.upper() != "DICOMDIR")
    datasets: list[tuple[Path, Dataset]] = []
    skipped: list[str] = []
    for path in files:
        if not _looks_like_dicom(path):
            skipped.append(path.name)
            continue
        datasets.append((path, dc.read_dataset(path)))
    if not datasets:
        raise ValueError(
            f"{folder}: no DICOM files found ({len(files)} other files: {', '.join(skipped[:5]) or 'none'}); "
            "expected a folder with the slices of one series. Fix: point to the folder that holds the .dcm files."
        )
    if len(datasets) == 1:
        from radkit.io.dicom_file import read_dicom_file

        return read_dicom_file(datasets[0][0], modality=modality, raw=raw)
    _refuse_mixed_series(folder, datasets)
    path0, ds0 = datasets[0]
    modality = dc.radkit_modality(ds0, modality, path0)
    row, col, spacing_rc = _common_geometry(datasets)
    normal = np.cross(row, col)
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for _, ds in datasets])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    datasets = [datasets[i] for i in order]
    positions, along = positions[order], along[order]
    step = _check_steps(folder, [p for p, _ in datasets], np.diff(along))

    stored = np.stack([dc.pixels(ds, p).T for p, ds in datasets], axis=-1)  # (X=columns, Y=rows, Z)
    rescales = [dc.rescale(ds) for _, ds in datasets]
    slopes = np.array([s for s, _ in rescales])
    inters = np.array([i for _, i in rescales])
    uniform = bool(np.all(slopes == slopes[0]) and np.all(inters == inters[0]))
    units = dc.ct_units(ds0) if modality == "ct" else "raw"
    scaled = (stored.astype(np.float64) * slopes + inters).astype(np.float32)
    if modality == "ct":
        pad = ds0.get("PixelPaddingValue", None)
        padding = float(pad) * slopes[0] + inters[0] if pad is not None and uniform else None
        check_ct_intensity(scaled, units, folder, padding)
    if raw:
        if not uniform:
            raise ValueError(
                f"{folder}: RescaleSlope/Intercept differ between slices (slopes {sorted(set(slopes))}, "
                f"intercepts {sorted(set(inters))}), so one slope/intercept cannot describe raw values. "
                "Fix: read with raw=False to get HU."
            )
        array = dc.as_int16(stored)
    else:
        array = scaled
    # Third axis is the real step between first and last slice: exact even with gantry tilt.
    third = (positions[-1] - positions[0]) / (len(datasets) - 1)
    affine = dc.affine_ras(row, col, spacing_rc, positions[0], third, index_order="cr")
    meta = {
        "source_format": "dicom-series",
        "dicom_modality": str(ds0.get("Modality", "")),
        "rescale_slope": float(slopes[0]) if uniform else slopes.tolist(),
        "rescale_intercept": float(inters[0]) if uniform else inters.tolist(),
        "units": units,
        "photometric": str(ds0.get("PhotometricInterpretation", "MONOCHROME2")),
        "window": dc.window(ds0),
        "n_slices": len(datasets),
        "series_uid": str(ds0.get("SeriesInstanceUID", "")),
        "study_uid": str(ds0.get("StudyInstanceUID", "")),
        "slice_step": step,
        "slice_thickness": float(ds0.get("SliceThickness", 0) or 0) or None,
        "files": [p.name for p, _ in datasets],
        "skipped_files": skipped,
        "spacing_known": True,
    }
    image = Image(array=array, spacing=spacing_from_affine(affine, 3), affine=affine, modality=modality,
                  meta=meta, path=str(folder))
    meta["oblique"] = image.is_oblique
    return image.canonical(allow_oblique=True)


def _looks_like_dicom(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(132)
    return head[128:132] == b"DICM" or path.suffix.lower() in (".dcm", ".dicom", ".ima")


def _refuse_mixed_series(folder: Path, datasets: list[tuple[Path, Dataset]]) -> None:
    uids = Counter(str(ds.get("SeriesInstanceUID", "")) for _, ds in datasets)
    if len(uids) > 1:
        parts = []
        for uid, n in uids.most_common():
            example = next(p.name for p, ds in datasets if str(ds.get("SeriesInstanceUID", "")) == uid)
            parts.append(f"{uid or '<missing>'} ({n} files, e.g. {example})")
        raise ValueError(
            f"{folder}: holds {len(uids)} series: {'; '.join(parts)}; expected one series per folder. "
            "Fix: move each series into its own folder (group files by SeriesInstanceUID) and read one."
        )


def _common_geometry(datasets: list[tuple[Path, Dataset]]) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Row/column cosines and pixel spacing shared by every slice, or a ValueError naming the odd file."""
    for path, ds in datasets:
        missing = [t for t in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing") if t not in ds]
        if missing:
            raise ValueError(
                f"{path}: lacks {', '.join(missing)}; a series needs them to place slices in space. "
                "Fix: re-export with full geometry, or convert with dcm2niix and read the NIfTI."
            )
    # The majority orientation is the series; the odd files are named (the first file may be the odd one).
    cosines = np.stack([np.concatenate(dc.orientation_vectors(ds)) for _, ds in datasets])
    keys = [tuple(np.round(c, 3)) for c in cosines]
    majority = Counter(keys).most_common(1)[0][0]
    ref_index = keys.index(majority)
    ref_path, ref = datasets[ref_index]
    odd = [p.name for (p, _), c in zip(datasets, cosines) if np.max(np.abs(c - cosines[ref_index])) > _IOP_TOL]
    if odd:
        first_odd = cosines[[p.name for p, _ in datasets].index(odd[0])]
        raise ValueError(
            f"{ref_path.parent}: {', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''} ({len(odd)} file(s)): "
            f"ImageOrientationPatient {_fmt(first_odd)} differs from the other {len(datasets) - len(odd)} "
            f"slices' {_fmt(cosines[ref_index])}; one series must have one orientation. Fix: remove those "
            "file(s) (likely a scout/localizer or another reconstruction)."
        )
    row, col = cosines[ref_index][:3], cosines[ref_index][3:]
    spacing_rc, _ = dc.pixel_spacing(ref)
    size = (int(ref.Rows), int(ref.Columns))
    for path, ds in datasets:
        if (int(ds.Rows), int(ds.Columns)) != size or dc.pixel_spacing(ds)[0] != spacing_rc:
            raise ValueError(
                f"{path}: size {(int(ds.Rows), int(ds.Columns))} / spacing {dc.pixel_spacing(ds)[0]} differ "
                f"from {ref_path.name} {size} / {spacing_rc}. Fix: remove the file that is not part of the series."
            )
    return row, col, spacing_rc


def _check_steps(folder: Path, paths: list[Path], steps: np.ndarray) -> float:
    """Median slice step; refuse duplicate positions and gaps (missing slices), naming the files."""
    for i, s in enumerate(steps):
        if s < _DUP_TOL_MM:
            raise ValueError(
                f"{folder}: {paths[i].name} and {paths[i + 1].name} are at the same slice position "
                f"({s:.4f} mm apart); expected one slice per position. Fix: remove the duplicate (or split "
                "echoes/phases/time points into separate folders)."
            )
    median = float(np.median(steps))
    for i, s in enumerate(steps):
        if s > _GAP_FACTOR * median:
            missing = int(round(s / median)) - 1
            raise ValueError(
                f"{folder}: gap of {s:.3f} mm between {paths[i].name} and {paths[i + 1].name} where slices are "
                f"{median:.3f} mm apart: about {missing} slice(s) missing. Fix: re-export the complete series "
                "(or read the parts on each side of the gap separately)."
            )
    return median


def _fmt(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"
