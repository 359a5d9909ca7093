"""synthesize / synthesize_arrays: determinism, manifest, patient-level splits, pairs, files readable."""

import json
import os

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from radkit.data.manifest import read_manifest
from radkit.data.synth import ct_affine, synthesize, synthesize_arrays
from radkit.reports.anatomy import FINDINGS, taxonomy


@pytest.fixture(scope="module")
def cxr_set():
    return synthesize_arrays("cxr", n=24, seed=3, size=(96, 96))


def test_same_seed_same_arrays_and_reports(cxr_set):
    arrs, studies = synthesize_arrays("cxr", n=24, seed=3, size=(96, 96))
    for a, b in zip(arrs, cxr_set[0]):
        np.testing.assert_array_equal(a, b)
    assert [s.to_dict() for s in studies] == [s.to_dict() for s in cxr_set[1]]


def test_different_seed_differs(cxr_set):
    arrs, studies = synthesize_arrays("cxr", n=24, seed=4, size=(96, 96))
    assert not np.array_equal(arrs[0], cxr_set[0][0])
    assert [s.report for s in studies] != [s.report for s in cxr_set[1]]


def test_findings_use_the_shared_ontology(cxr_set):
    tax = taxonomy("cxr")
    statuses = set()
    for s in cxr_set[1]:
        for f in s.findings:
            assert f.finding in FINDINGS and f.anatomy in tax, f
            statuses.add(f.status)
            if f.status != "absent":
                assert f.anatomy in FINDINGS[f.finding].anatomies["cxr"]
                assert f.severity in FINDINGS[f.finding].severities
    assert {"present", "absent"} <= statuses


def test_splits_are_patient_level(cxr_set):
    split_of = {}
    for s in cxr_set[1]:
        assert split_of.setdefault(s.patient_id, s.split) == s.split, s.patient_id
    assert set(split_of.values()) == {"train", "val", "test"}


def test_prior_current_pairs_are_coherent(cxr_set):
    by_id = {s.study_id: s for s in cxr_set[1]}
    currents = [s for s in cxr_set[1] if s.prior_study_id]
    assert len(currents) == round(24 * 0.3 / 2)
    order = {"": -1}
    for cur in currents:
        prior = by_id[cur.prior_study_id]
        assert prior.patient_id == cur.patient_id and prior.study_date < cur.study_date
        assert "prior" in cur.report.lower() or "new" in cur.report.lower() or "interval" in cur.report.lower()
        before = {(f.finding, f.anatomy): f for f in prior.findings if f.status == "present"}
        for f in cur.findings:
            if f.status != "present":
                continue
            sev = FINDINGS[f.finding].severities
            assert f.change in ("new", "stable", "worse", "better")
            p = before.get((f.finding, f.anatomy))
            if f.change == "new":
                assert p is None
            else:
                assert p is not None, (f, prior.findings)
                d = sev.index(f.severity) - sev.index(p.severity)
                assert {"stable": d == 0, "worse": d > 0, "better": d < 0}[f.change], (f, p)
        order[cur.study_id] = 1


def test_cxr_png_manifest(tmp_path):
    path = synthesize(tmp_path / "cxr", "cxr", n=5, seed=1, size=(64, 64), progress=False)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 5 and all(not r["image_paths"][0].startswith("/") for r in rows)
    studies = read_manifest(path)
    img = np.asarray(Image.open(studies[0].image_paths[0]))
    assert img.shape == (64, 64) and img.dtype == np.uint8 and img.std() > 10
    arrs, mem = synthesize_arrays("cxr", n=5, seed=1, size=(64, 64))
    np.testing.assert_array_equal(img, np.round(arrs[0] * 255).astype(np.uint8))
    assert [s.report for s in studies] == [s.report for s in mem]
    again = synthesize(tmp_path / "cxr2", "cxr", n=5, seed=1, size=(64, 64), progress=False)
    assert again.read_bytes() == path.read_bytes()


def test_ct_nifti_spacing_and_hu(tmp_path):
    path = synthesize(tmp_path / "ct", "ct", n=2, seed=0, size=(32, 32, 24), progress=False)
    s = read_manifest(path)[0]
    img = nib.load(s.image_paths[0])
    np.testing.assert_allclose(img.header.get_zooms(), (11.0, 11.0, 12.0))
    np.testing.assert_allclose(img.affine, ct_affine((32, 32, 24)))
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    vol = np.asarray(img.dataobj)
    assert vol.dtype == np.int16 and vol.min() >= -1024
    assert (vol < -950).mean() > 0.2  # air around the body
    assert ((vol > -950) & (vol < -700)).mean() > 0.03  # aerated lung


def test_bad_arguments_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="use 'cxr' or 'ct'"):
        synthesize(tmp_path, "mri", n=1)
    with pytest.raises(ValueError, match="nifti"):
        synthesize(tmp_path, "ct", n=1, fmt="png")
    with pytest.raises(ValueError, match="size"):
        synthesize(tmp_path, "ct", n=1, size=(64, 64))


def test_dicom_formats(tmp_path):
    import pydicom

    path = synthesize(tmp_path / "cxr", "cxr", n=2, seed=0, fmt="dicom", size=(80, 100), progress=False)
    s = read_manifest(path)[0]
    d = pydicom.dcmread(s.image_paths[0])
    assert [float(v) for v in d.PixelSpacing] == [4.0, 4.0] and d.pixel_array.shape == (80, 100)
    arrs, _ = synthesize_arrays("cxr", n=2, seed=0, size=(80, 100))
    np.testing.assert_allclose(d.pixel_array / 4095, arrs[0], atol=1 / 4095)

    path = synthesize(tmp_path / "ct", "ct", n=2, seed=0, fmt="dicom", size=(32, 32, 16), progress=False)
    s = read_manifest(path)[0]
    files = sorted(os.listdir(s.image_paths[0]))
    assert len(files) == 16
    dss = sorted((pydicom.dcmread(os.path.join(s.image_paths[0], f)) for f in files),
                 key=lambda d: float(d.ImagePositionPatient[2]))
    assert {d.Modality for d in dss} == {"CT"} and float(dss[0].SliceThickness) == 18.0
    assert [float(v) for v in dss[0].PixelSpacing] == [11.0, 11.0]
    z = [float(d.ImagePositionPatient[2]) for d in dss]
    np.testing.assert_allclose(np.diff(z), 18.0)
    hu = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss], -1)
    arrs, _ = synthesize_arrays("ct", n=2, seed=0, size=(32, 32, 16))
    np.testing.assert_array_equal(hu.transpose(1, 0, 2), np.round(arrs[0]))  # rows are y, columns x


def test_parallel_path_matches_in_memory(tmp_path):
    # n >= 64 renders in worker processes; the images must equal the serial, in-memory ones
    path = synthesize(tmp_path / "p", "cxr", n=64, seed=9, size=(32, 32), progress=False)
    studies = read_manifest(path)
    arrs, mem = synthesize_arrays("cxr", n=64, seed=9, size=(32, 32))
    for i in (0, 31, 63):
        np.testing.assert_array_equal(np.asarray(Image.open(studies[i].image_paths[0])),
                                      np.round(arrs[i] * 255).astype(np.uint8))
    assert [s.study_id for s in studies] == [s.study_id for s in mem]
