"""Fixtures for the io tests: CT series written slice by slice from a known volume."""

from pathlib import Path

import numpy as np
import pytest
from io_dicom_builders import SeriesSpec, make_slice
from pydicom.uid import generate_uid


@pytest.fixture
def write_series():
    """Write `stored` (int16, native (columns, rows, slices)) as one file per slice, names in shuffled order."""

    def _write(folder: Path, stored: np.ndarray, spec: SeriesSpec, slope=1.0, intercept=-1024.0,
               series_uid=None, seed=0, **slice_kw) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        series_uid = series_uid or generate_uid()
        n = stored.shape[2]
        names = np.random.default_rng(seed).permutation(n)  # file name order != slice order
        paths = []
        iop = list(spec.row) + list(spec.col)
        for k in range(n):
            ds = make_slice(stored[:, :, k].T, spec.origin + k * spec.step, iop, spec.spacing_rc, series_uid,
                            slope=slope, intercept=intercept, instance=int(names[k]) + 1, **slice_kw)
            path = folder / f"IM{names[k]:04d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
        return paths  # paths[k] holds slice k

    return _write
