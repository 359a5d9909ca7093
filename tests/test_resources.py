import pytest

from radkit.resources import RESOURCE_KINDS, find_resource, resource_dirs


def test_checkout_folders_are_found(repo_root):
    for kind in RESOURCE_KINDS:
        assert repo_root / kind in resource_dirs(kind)
    assert find_resource("models", "README", (".md",)) == repo_root / "models" / "README.md"


def test_user_folder_wins(tmp_path, monkeypatch):
    (tmp_path / "mine.json").write_text("{}")
    monkeypatch.setenv("RADKIT_MODELS_PATH", str(tmp_path))
    assert resource_dirs("models")[0] == tmp_path
    assert find_resource("models", "mine", (".yaml", ".json")) == tmp_path / "mine.json"


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="valid: models"):
        resource_dirs("weights")
    with pytest.raises(FileNotFoundError, match="RADKIT_CONFIGS_PATH"):
        find_resource("configs", "does-not-exist", (".yaml",))


@pytest.mark.slow
def test_wheel_ships_data_folders(repo_root, tmp_path):
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
                    str(repo_root)], check=True, capture_output=True)
    (whl,) = tmp_path.glob("radkit-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    for kind in RESOURCE_KINDS:
        assert any(n.startswith(f"radkit/_resources/{kind}/") for n in names), kind
    # a non-editable install finds them through the same lookup
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(whl)],
                   check=True, capture_output=True)
    code = ("import radkit.resources as r; print(r.find_resource('models', 'README', ('.md',)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target)},
                         capture_output=True, text=True, check=True).stdout
    assert str(target / "radkit" / "_resources" / "models") in out
