"""`radkit index ...` and `radkit search` through radkit.cli.main."""

import json

from radkit.cli import main


def test_index_build_info_search_add_remove(studies, tmp_path, capsys):
    manifest, recs = studies
    out = tmp_path / "idx"
    spec = "tests.retrieval.tiny_model:TinyModel"
    assert main(["index", "build", "--model", spec, "--manifest", str(manifest), "--out", str(out),
                 "--recipe", "hnsw", "--anatomies", "[heart]"]) == 0
    capsys.readouterr()
    assert main(["index", "info", str(out), "--json", "true"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_studies"] == len(recs) and info["anatomies"] == ["heart"] and info["recipe"]["factory"] == "HNSW32"
    assert main(["search", "--index", str(out), "--image", recs[2].image_paths[0], "--k", "3",
                 "--anatomy", "heart", "--json", "true"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [h["rank"] for h in lines] == [1, 2, 3] and lines[0]["study_id"] == "s002" and lines[0]["anatomy"] == "heart"
    assert main(["search", "--index", str(out), "--text", "left effusion", "--k", "2",
                 "--where", "split == 'test'"]) == 0
    table = capsys.readouterr().out
    assert "2 hits" in table and "score" in table
    from tests.retrieval.tiny_model import make_studies
    more, _ = make_studies(tmp_path / "more", n=2, seed=3)
    more.write_text(more.read_text().replace('"s00', '"x00'))  # fresh study ids
    assert main(["index", "add", str(out), "--manifest", str(more)]) == 0
    assert "added 2 studies" in capsys.readouterr().out
    assert main(["index", "remove", str(out), "--study_ids", "[s002]"]) == 0
    assert main(["search", "--index", str(out), "--image", recs[2].image_paths[0], "--k", "1", "--json", "true"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["study_id"] != "s002"


def test_cli_errors_are_one_line(studies, tmp_path, capsys):
    assert main(["search", "--index", str(tmp_path), "--text", "x"]) == 1
    assert "not a radkit index" in capsys.readouterr().err
    assert main(["search", "--index", str(tmp_path)]) == 1
    assert "exactly one of" in capsys.readouterr().err
