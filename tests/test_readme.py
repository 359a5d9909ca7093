"""The README's code blocks really run (python blocks as-is, bash blocks through radkit.cli.main)."""

import re
import shlex

import pytest

from radkit.cli import main


def _blocks(repo_root, lang):
    text = (repo_root / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_setup_commands_are_make_targets(repo_root):
    (block,) = _blocks(repo_root, "sh")[:1]
    targets = [line.split()[1] for line in block.splitlines() if line.startswith("make ")]
    assert targets == ["demo", "test"]
    makefile = (repo_root / "Makefile").read_text()
    for t in targets:
        assert re.search(rf"^{t}:", makefile, flags=re.M)


def test_python_blocks_run(repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks(repo_root, "python")
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})


def test_bash_blocks_run(repo_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for data in ("configs", "indexes", "models"):  # the README is written for the checkout's root
        (tmp_path / data).symlink_to(repo_root / data)
    blocks = _blocks(repo_root, "bash")
    assert blocks
    for block in blocks:
        for line in block.strip().splitlines():
            argv = shlex.split(line)
            assert argv[0] == "radkit", line
            assert main(argv[1:]) == 0, line
