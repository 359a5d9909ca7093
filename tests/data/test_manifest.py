import json

import pytest

from radkit.data.manifest import read_manifest, read_rows, write_manifest
from radkit.data.study import GroundTruthFinding, Study


def _studies():
    return [
        Study("s1", "p1", "cxr", ["img/a.png"], "No effusion.", "train", view="PA",
              findings=[GroundTruthFinding("effusion", "right pleura", "absent")]),
        Study("s2", "p1", "cxr", ["img/b.png"], "Small right effusion, worse.", "train", prior_study_id="s1",
              study_date="2020-01-02",
              findings=[GroundTruthFinding("effusion", "right pleura", "present", "small", "worse")]),
        Study("s3", "p2", "ct", ["vol/c.nii.gz", "vol/c2.nii.gz"], "Nodule, RLL.", "test"),
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_round_trip_every_format_keeps_every_field(tmp_path, suffix):
    path = tmp_path / f"m{suffix}"
    write_manifest(_studies(), path)
    back = read_manifest(path, resolve_paths=False)
    assert [s.to_dict() for s in back] == [s.to_dict() for s in _studies()]


def test_relative_paths_resolve_against_manifest_folder(tmp_path):
    path = tmp_path / "sub" / "m.jsonl"
    write_manifest(_studies(), path)
    s = read_manifest(path)[0]
    assert s.image_paths == [str((tmp_path / "sub" / "img" / "a.png").resolve())]


def test_bad_json_line_is_named(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text(json.dumps(_studies()[0].to_dict()) + "\n{not json\n")
    with pytest.raises(ValueError, match=r"m.jsonl:2"):
        read_rows(p)


def test_unknown_column_and_suffix_are_refused(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text(json.dumps({**_studies()[0].to_dict(), "colour": "red"}) + "\n")
    with pytest.raises(ValueError, match="colour"):
        read_manifest(p)
    with pytest.raises(ValueError, match="unknown suffix"):
        read_rows(tmp_path / "m.txt")
    with pytest.raises(FileNotFoundError, match="radkit data synth"):
        read_rows(tmp_path / "missing.jsonl")


def test_failed_write_leaves_previous_manifest_intact(tmp_path):
    path = tmp_path / "m.jsonl"
    write_manifest(_studies(), path)
    before = path.read_bytes()

    class Boom(Study):
        def to_dict(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_manifest([_studies()[0], Boom("x", "p", "cxr", [], "r")], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.jsonl"]
