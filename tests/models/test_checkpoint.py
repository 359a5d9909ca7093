"""Model folders: round trip, strict loading with the remap table, no pickles."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from radkit.models import create_model, load_model


@pytest.fixture(scope="module")
def saved(tiny_cxr, tmp_path_factory):
    return tiny_cxr.save_pretrained(tmp_path_factory.mktemp("m") / "tiny")


def test_folder_layout(saved):
    names = {p.name for p in saved.iterdir()}
    assert {"model.safetensors", "config.json", "preprocess.json", "tokenizer", "text"} <= names
    cfg = json.loads((saved / "config.json").read_text())
    pre = json.loads((saved / "preprocess.json").read_text())
    assert cfg["schema_version"] == 1 and cfg["tokenizer"] == "tokenizer/"
    assert pre["spatial_size"] == [64, 64] and pre["output_range"] == [-1.0, 1.0]


def test_round_trip_identical_embeddings(tiny_cxr, saved):
    tiny_cxr.eval()
    back = load_model(saved)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(back.encode_image(x), tiny_cxr.encode_image(x), rtol=0, atol=0)
        torch.testing.assert_close(back.encode_text(["pleural effusion"]), tiny_cxr.encode_text(["pleural effusion"]),
                                   rtol=0, atol=0)
        torch.testing.assert_close(back.encode_image_anatomy(x, ["lungs", "pleura"]),
                                   tiny_cxr.encode_image_anatomy(x, ["lungs", "pleura"]), rtol=0, atol=0)
    assert back.fingerprint() == tiny_cxr.fingerprint()


def _copy_with(saved, tmp_path, edit):
    import shutil

    dst = tmp_path / "edited"
    shutil.copytree(saved, dst)
    state = load_file(str(dst / "model.safetensors"))
    edit(state)
    save_file(state, str(dst / "model.safetensors"))
    return dst


def test_benign_position_ids_key_loads(saved, tmp_path):
    dst = _copy_with(saved, tmp_path, lambda s: s.__setitem__(
        "text_tower.model.embeddings.position_ids", torch.arange(64)[None]))
    assert load_model(dst).fingerprint() == load_model(saved).fingerprint()


def test_renamed_key_in_remap_table_loads(saved, tmp_path):
    def rename(s):
        s["decoder.to_fused_latent.weight"] = s.pop("decoder.out_proj.weight")
    assert load_model(_copy_with(saved, tmp_path, rename)).fingerprint() == load_model(saved).fingerprint()


def test_scalar_logit_scale_of_older_files_loads(saved, tmp_path):
    # files written before logit_scale became shape (1,) (FSDP refuses 0-d parameters) hold a 0-d tensor
    def to_scalar(s):
        s["logit_scale"] = s["logit_scale"].reshape(())
    old = load_model(_copy_with(saved, tmp_path, to_scalar))
    assert old.logit_scale.shape == (1,)
    assert torch.equal(old.logit_scale, load_model(saved).logit_scale)


def test_unknown_key_is_refused(saved, tmp_path):
    dst = _copy_with(saved, tmp_path, lambda s: s.__setitem__("visual.proj", torch.zeros(2)))
    with pytest.raises(ValueError, match=r"unexpected keys \['visual.proj'\].*KEY_REMAP"):
        load_model(dst)


def test_missing_key_is_refused(saved, tmp_path):
    dst = _copy_with(saved, tmp_path, lambda s: s.pop("logit_scale"))
    with pytest.raises(ValueError, match=r"missing keys \['logit_scale'\]"):
        load_model(dst)


def test_pickle_checkpoints_are_refused(tiny_cxr, tmp_path):
    p = tmp_path / "w.pt"
    torch.save(tiny_cxr.state_dict(), p)
    with pytest.raises(ValueError, match="only .safetensors"):
        create_model("radir-tiny", pretrained=str(p))


def test_pretrained_from_folder_and_bad_tag(saved, tiny_text):
    m = create_model("radir-tiny", pretrained=str(saved), text=tiny_text)
    assert m.fingerprint() == load_model(saved).fingerprint()
    with pytest.raises(KeyError, match="not a tag"):
        create_model("radir-tiny", pretrained="mimic-cxr", text=tiny_text)


def test_folder_loads_after_the_image_backbone_file_is_gone(tmp_path, tiny_text):
    """A model built from ``image.pretrained_path`` keeps its weights in model.safetensors: reloading the
    folder must not read the (possibly deleted) backbone file again, and must give the same embeddings."""
    torch.manual_seed(0)
    donor = create_model("radir-tiny", modality="cxr", text=tiny_text)
    weights = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in donor.image_tower.state_dict().items()}, str(weights))
    net = create_model("radir-tiny", modality="cxr", text=tiny_text, image={"pretrained_path": str(weights)}).eval()
    for k, v in donor.image_tower.state_dict().items():
        torch.testing.assert_close(net.image_tower.state_dict()[k], v)  # the backbone file was loaded
    folder = net.save_pretrained(tmp_path / "m")
    weights.unlink()
    back = load_model(folder)
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(back.encode_image(x), net.encode_image(x), atol=0, rtol=0)
