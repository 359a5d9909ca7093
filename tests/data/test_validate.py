import json

from radkit.cli import main
from radkit.data.manifest import read_rows
from radkit.data.validate import split_valid, validate_manifest


def _write(tmp_path, rows):
    (tmp_path / "a.png").write_bytes(b"x")
    p = tmp_path / "m.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def _row(sid, **kw):
    r = {"study_id": sid, "patient_id": "p", "modality": "cxr", "image_paths": ["a.png"], "report": "ok"}
    r.update(kw)
    return r


def _bad_manifest(tmp_path):
    return _write(tmp_path, [
        _row("s1"), _row("s2", modality="mri"), _row("s1"), _row("s4", report="  "),
        _row("s5", image_paths=["missing.png"]), _row("s6", split="holdout"), _row("s7"),
    ])


def test_each_problem_is_found_with_its_line(tmp_path):
    rep = validate_manifest(_bad_manifest(tmp_path))
    got = {(p.line, p.kind) for p in rep.problems}
    assert got == {(2, "unknown modality"), (3, "duplicate id"), (4, "empty report"),
                   (5, "missing file"), (6, "unknown split")}
    assert rep.n_rows == 7 and not rep.ok
    assert rep.counts == {"cxr/train": 2}
    assert "line 3 (s1): duplicate id: first seen on line 1" in rep.summary()


def test_summary_shows_first_20_and_counts_the_rest(tmp_path):
    p = _write(tmp_path, [_row(f"s{i}", report="") for i in range(30)])
    text = validate_manifest(p).summary()
    assert text.count("empty report:") == 20 and "and 10 more" in text


def test_skip_invalid_loses_nothing(tmp_path):
    src = _bad_manifest(tmp_path)
    rep, out, rej = split_valid(src, tmp_path / "clean.jsonl")
    clean, rejects = read_rows(out), read_rows(rej)
    assert [r["study_id"] for r in clean] == ["s1", "s7"]
    assert len(clean) + len(rejects) == rep.n_rows
    assert sorted(r["_line"] for r in rejects) == [2, 3, 4, 5, 6]
    stripped = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rejects]
    original = read_rows(src)
    assert all(r in original for r in stripped)


def test_cli_exit_codes(tmp_path, capsys):
    src = _bad_manifest(tmp_path)
    assert main(["data", "validate", str(src)]) == 1
    assert "duplicate id" in capsys.readouterr().out
    assert main(["data", "validate", str(src), "--skip_invalid", "true", "--out", str(tmp_path / "c.jsonl")]) == 0
    assert main(["data", "validate", str(tmp_path / "c.jsonl")]) == 0
    assert main(["data", "validate", str(tmp_path / "nope.jsonl")]) == 1
    assert "not found" in capsys.readouterr().err
