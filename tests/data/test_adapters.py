import json

import pytest

from radkit.data.adapters import manifest_from_dicom_folder, manifest_from_radir


def test_radir_layout(tmp_path):
    rows = [{"name": "/p10/p10000032/s50414267", "img_path": "/x/a.jpg", "text": "No acute process."},
            {"name": "/p10/p10000032/s53189527", "img_path": "/x/b.jpg", "text": "Small effusion."},
            {"name": "/p10/p10000032/s50414267", "img_path": "/x/a2.jpg", "text": "Dup, last wins."}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.jsonl").write_text(json.dumps(
        {"name": "valid_7_a_1.nii.gz", "img_path": "/x/c.nii.gz", "text": "Nodule."}) + "\n")
    studies = manifest_from_radir(tmp_path, modality="cxr")
    assert [s.study_id for s in studies] == ["/p10/p10000032/s50414267", "/p10/p10000032/s53189527",
                                              "valid_7_a_1.nii.gz"]
    assert studies[0].image_paths == ["/x/a2.jpg"] and studies[0].report == "Dup, last wins."
    assert studies[0].patient_id == studies[1].patient_id == "p10000032"
    assert studies[2].split == "test" and studies[2].patient_id == "ctrate_7"


def test_radir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.jsonl"):
        manifest_from_radir(tmp_path)
    (tmp_path / "train.jsonl").write_text('{"name": "a"}\n')
    with pytest.raises(ValueError, match="train.jsonl:1"):
        manifest_from_radir(tmp_path)


def test_dicom_folder(tmp_path):
    for sid in ("st1", "st2"):
        (tmp_path / sid / "series").mkdir(parents=True)
        for k in range(3):
            (tmp_path / sid / "series" / f"{k}.dcm").write_bytes(b"x")
    (tmp_path / "st1" / "report.txt").write_text("Right effusion.\n")
    (tmp_path / "st2.txt").write_text("Normal.")
    studies = manifest_from_dicom_folder(tmp_path, modality="ct")
    assert [(s.study_id, s.report) for s in studies] == [("st1", "Right effusion."), ("st2", "Normal.")]
    assert studies[0].image_paths == [str(tmp_path / "st1" / "series")]
    (tmp_path / "st3").mkdir()
    (tmp_path / "st3" / "a.dcm").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="st3"):
        manifest_from_dicom_folder(tmp_path)


def test_cli_from_radir(tmp_path, capsys):
    from radkit.cli import main
    from radkit.data.manifest import read_manifest

    (tmp_path / "test.jsonl").write_text(json.dumps({"name": "valid_3_a_1.nii.gz", "img_path": "/x/c.nii.gz",
                                                     "text": "Nodule."}) + "\n")
    out = tmp_path / "m.csv"
    assert main(["data", "from-radir", str(tmp_path), "--out", str(out), "--modality", "ct"]) == 0
    (s,) = read_manifest(out)
    assert (s.study_id, s.split, s.modality) == ("valid_3_a_1.nii.gz", "test", "ct")
    assert main(["data", "from-dicom", str(tmp_path / "nope")]) == 1
    assert "is not a folder" in capsys.readouterr().err
