"""RadIR-layout tables: writer/reader round trip, release semantics on a hand-built folder, annotate."""

import json

import numpy as np
import pytest

from radkit.cli import main
from radkit.data.manifest import write_manifest
from radkit.data.study import Study
from radkit.reports import tables as T
from radkit.reports.annotate import annotate, tables_info


def _release_folder(tmp_path):
    """A tiny hand-built folder shaped like the CT-RATE release (test split under val_*)."""
    root = tmp_path / "CT_RATE"
    (root / "img").mkdir(parents=True)
    names = ["valid_1_a_1.nii.gz", "valid_2_a_1.nii.gz", "valid_3_a_1.nii.gz", "valid_4_a_1.nii.gz"]
    for n in names[:3]:  # image of valid_4 is missing
        (root / "img" / n).write_bytes(b"x")
    with open(root / "test.jsonl", "w") as f:
        for n in names:
            f.write(json.dumps({"name": n, "img_path": str(root / "img" / n), "text": f"report {n}"}) + "\n")
    g = np.array([[1.0, 0.2, 0.95, 0.1, 9], [0.2, 1.0, 0.3, 0.4, 9], [0.95, 0.3, 1.0, 0.5, 9],
                  [0.1, 0.4, 0.5, 1.0, 9], [9, 9, 9, 9, 9]], dtype=np.float32)  # larger than the jsonl
    np.save(root / "test.npy", g)
    (root / "anatomy" / "val_entity").mkdir(parents=True)
    (root / "anatomy" / "val_ratescore").mkdir(parents=True)
    (root / "anatomy" / "val_entity" / "lung.csv").write_text(
        "Volumename\nvalid_3_a_1.nii.gz\nvalid_1_a_1.nii.gz\nvalid_4_a_1.nii.gz\nvalid_2_a_1.nii.gz\n")
    a = np.array([[1.0, 0.92, 0.3, 0.2], [0.85, 1.0, 0.1, 0.4], [0.3, 0.1, 1.0, 0.7],
                  [0.2, 0.3, 0.7, 1.0]], dtype=np.float32)  # asymmetric (0.92 vs 0.85) as released
    np.save(root / "anatomy" / "val_ratescore" / "lung.npy", a)
    return root


def test_release_layout_reader(tmp_path):
    root = _release_folder(tmp_path)
    with pytest.warns(UserWarning, match="1 of 4 studies dropped"):
        g = T.read_global(root, "test")
    assert g.ids == ["valid_1_a_1.nii.gz", "valid_2_a_1.nii.gz", "valid_3_a_1.nii.gz"]
    np.testing.assert_allclose(g.sim, [[1, 0.2, 0.95], [0.2, 1, 0.3], [0.95, 0.3, 1]])
    lung = T.read_anatomy(root, "test", "lung", index=g)
    assert lung.ids == ["valid_3_a_1.nii.gz", "valid_1_a_1.nii.gz", "valid_2_a_1.nii.gz"]
    np.testing.assert_allclose(lung.sim, [[1, 0.92, 0.2], [0.92, 1, 0.4], [0.2, 0.4, 1]])  # max-symmetrised
    q = T.read_anatomy(root, "test", "lung", index=g, quantize=True)
    assert q.sim.dtype == np.uint8 and q.sim[0, 1] == 92
    # evaluation filter: only studies with another study above 0.9 stay
    ev = T.read_anatomy(root, "test", "lung", index=g, eval_filter=True)
    assert ev.ids == ["valid_3_a_1.nii.gz", "valid_1_a_1.nii.gz"]
    capped = T.read_anatomy(root, "test", "lung", max_samples=2)
    assert len(capped.ids) == 2 and capped.ids == sorted(capped.ids, key=lung_order(root))
    with pytest.raises(FileNotFoundError, match="available: \\['lung'\\]"):
        T.read_anatomy(root, "test", "heart")
    assert tables_info(root)["test"]["anatomies"] == {"lung": 4}


def lung_order(root):
    order = T.read_entity_ids(root / "anatomy" / "val_entity" / "lung.csv")
    return order.index


def test_bad_tables(tmp_path):
    root = _release_folder(tmp_path)
    np.save(root / "test.npy", np.eye(3, dtype=np.float32))  # smaller than the jsonl: never shift rows
    with pytest.raises(ValueError, match="do not belong together"):
        T.read_global(root, "test", check_images=False)
    np.save(root / "test.npy", np.full((4, 4), 1.5, np.float32))
    with pytest.warns(UserWarning, match="16 values outside"):
        assert T.read_global(root, "test", check_images=False).sim.max() == 1.0


def _studies():
    reports = ["Small left pleural effusion. Heart size is normal.", "Moderate left pleural effusion.",
               "Right lower lobe pneumonia. No effusion.", "Mild cardiomegaly. No pneumothorax.",
               "Heart size is normal. Lungs are clear.", "No pleural effusion or pneumothorax."]
    return [Study(f"s{i}", f"p{i}", "cxr", [f"img/s{i}.png"], r, split="train" if i < 4 else "test")
            for i, r in enumerate(reports)]


def test_annotate_round_trip_and_resume(tmp_path):
    man = write_manifest(_studies(), tmp_path / "m.jsonl")
    out = tmp_path / "tables"
    summary = annotate(man, out, progress=False)
    assert summary["train"]["n"] == 4 and summary["test"]["n"] == 2
    g = T.read_global(out, "train", check_images=False)
    assert g.ids == ["s0", "s1", "s2", "s3"] and g.texts[1] == "Moderate left pleural effusion."
    np.testing.assert_array_equal(g.sim, g.sim.T)
    np.testing.assert_array_equal(np.diag(g.sim), 1.0)
    assert g.sim[0, 1] > g.sim[0, 2]
    pleura = T.read_anatomy(out, "train", "pleura", symmetrize=False)
    assert pleura.ids == ["s0", "s1", "s2", "s3"]
    np.testing.assert_array_equal(pleura.sim, pleura.sim.T)
    heart = T.read_anatomy(out, "train", "heart")
    assert heart.ids == ["s0", "s3"]
    # rerun: everything is kept; a changed report recomputes its split only
    npy = out / "train.npy"
    before = npy.stat().st_mtime_ns
    again = annotate(man, out, progress=False)
    assert "train.npy" in again["train"]["skipped"] and npy.stat().st_mtime_ns == before
    studies = _studies()
    studies[1].report = "Large left pleural effusion."
    write_manifest(studies, man)
    third = annotate(man, out, progress=False)
    assert third["train"]["skipped"] == [] and "test.npy" in third["test"]["skipped"]
    assert not list(out.rglob("*.partial")) and not list(out.rglob("*.tmp"))


def test_commands(tmp_path, capsys):
    man = write_manifest(_studies(), tmp_path / "m.jsonl")
    assert main(["data", "annotate", str(man), "--out", str(tmp_path / "t")]) == 0
    assert main(["data", "tables-info", str(tmp_path / "t")]) == 0
    assert "train: 4 studies" in capsys.readouterr().out
    assert main(["data", "anatomies", "--modality", "ct"]) == 0
    assert "right lung lower lobe\tright lung" in capsys.readouterr().out
    assert main(["data", "structure", "No pneumothorax.", "--modality", "cxr"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["status"] == "absent"
    assert main(["data", "annotate", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "x")]) == 1
