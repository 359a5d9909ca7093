import re
import subprocess
import sys

from radkit import __version__
from radkit.cli import build_parser, components, main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"radkit {__version__}"


def test_every_command_has_help_with_an_example(capsys):
    def walk(tree, prefix):
        for name, comp in tree.items():
            if isinstance(comp, dict):
                yield from walk(comp, prefix + [name])
            else:
                yield prefix + [name], comp

    cmds = list(walk(components(), []))
    assert ["data", "validate"] in [c for c, _ in cmds]
    for cmd, fn in cmds:
        assert main(cmd + ["--help"]) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert re.search(r"Examples?: radkit ", out), f"`radkit {' '.join(cmd)} --help` shows no example"


def test_user_error_is_one_line_without_traceback():
    r = subprocess.run([sys.executable, "-m", "radkit.cli", "data", "info", "/no/such.jsonl"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith("radkit: error: manifest /no/such.jsonl not found")
    r = subprocess.run([sys.executable, "-m", "radkit.cli", "--debug", "data", "info", "/no/such.jsonl"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_usage_error_exits_2(capsys):
    assert main(["data", "nonsense"]) == 2
    assert main(["nonsense"]) == 2


def test_parser_lists_only_existing_areas():
    sub_names = set(components())
    assert "data" in sub_names and "demo" in sub_names
    assert build_parser() is not None


def test_bare_boolean_flag(tmp_path, capsys):
    import json

    from radkit.data.study import Study
    from radkit.data.manifest import write_manifest

    (tmp_path / "a.png").write_bytes(b"x")
    write_manifest([Study("s1", "p1", "cxr", ["a.png"], "No effusion.")], tmp_path / "m.jsonl")
    assert main(["data", "info", str(tmp_path / "m.jsonl"), "--json_output"]) == 0
    assert json.loads(capsys.readouterr().out)["n_studies"] == 1
    # a string option is never given an invented value
    assert main(["data", "validate", str(tmp_path / "m.jsonl"), "--out"]) == 2


def test_light_command_does_not_import_heavy_areas(tmp_path):
    from radkit.data.manifest import write_manifest
    from radkit.data.study import Study

    (tmp_path / "a.png").write_bytes(b"x")
    write_manifest([Study("s1", "p1", "cxr", ["a.png"], "No effusion.")], tmp_path / "m.jsonl")
    code = ("import sys; from radkit.cli import main; rc = main(['data', 'info', sys.argv[1]]); "
            "print(rc, sorted(m for m in ('lightning', 'trl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.jsonl")], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "0 []"
