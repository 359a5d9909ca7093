def test_cli_reference_is_current(repo_root):
    from radkit.cli_docs import render_reference

    committed = (repo_root / "docs" / "cli.md").read_text()
    assert committed == render_reference(), "docs/cli.md is stale: run `make docs`"


def test_data_formats_page_names_every_manifest_field(repo_root):
    from dataclasses import fields

    from radkit.data.study import GroundTruthFinding, Study

    page = (repo_root / "docs" / "data-formats.md").read_text()
    for f in list(fields(Study)) + list(fields(GroundTruthFinding)):
        assert f"`{f.name}`" in page, f.name
