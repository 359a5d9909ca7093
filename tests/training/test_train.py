"""End to end: one optimiser step per stage on tiny data, through train() and the CLI."""

import torch
from safetensors.torch import load_file

from radkit.models import create_model, load_model


def _init_folder(tmp_path, tiny_text):
    torch.manual_seed(0)
    return create_model("radir-tiny", modality="cxr", text=tiny_text,
                        preprocess={"spatial_size": [32, 32]}
                        ).save_pretrained(tmp_path / "init")


def _changed(a, b):
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    return {k.split(".")[0] for k in wa if not torch.equal(wa[k], wb[k])}


def test_stage1_then_stage2_one_step(tmp_path, tiny_tables, tiny_text):
    from radkit.training import train

    init = _init_folder(tmp_path, tiny_text)
    s1 = train(init_from=str(init), tables_dir=str(tiny_tables), out_dir=str(tmp_path / "s1"), stage="1",
               max_steps=1, batch_size=4, warmup_steps=0, lr=1e-3, val_every=1, progress=False)
    assert _changed(init, s1) == {"image_tower", "text_tower", "image_proj", "text_proj", "logit_scale"}
    s2 = train(init_from=str(s1), tables_dir=str(tiny_tables), out_dir=str(tmp_path / "s2"), stage="2",
               max_steps=1, groups_per_batch=2, group_size=4, warmup_steps=0, lr=1e-3, val_split=None,
               logger="none", progress=False)
    assert _changed(s1, s2) == {"decoder"}
    assert (tmp_path / "s1" / "logs").is_dir()  # CSV log written
    a, b = load_model(s2), load_model(s2)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(a.encode_image_anatomy(x, ["lungs", "pleura"]),
                                   b.encode_image_anatomy(x, ["lungs", "pleura"]), rtol=0, atol=0)
    assert a.cfg.preprocess.spatial_size == [32, 32]  # preprocessing travels with the weights


def test_cli_one_step(tmp_path, tiny_tables, tiny_text, repo_root, capsys):
    import json

    from radkit.cli import main

    init = _init_folder(tmp_path, tiny_text)
    out = tmp_path / "run"
    rc = main(["train", "--config", str(repo_root / "configs" / "radir-tiny-cxr.yaml"), "--init_from", str(init),
               "--tables_dir", str(tiny_tables), "--out_dir", str(out), "--max_steps", "1", "--batch_size", "4",
               "--val_every", "0", "--logger", "none", "--progress", "false", "--save_every", "1"])
    assert rc == 0, capsys.readouterr().err
    assert str(out / "model") in capsys.readouterr().out
    assert (out / "checkpoints" / "step-000001" / "model.safetensors").is_file()
    assert json.loads((out / "model" / "config.json").read_text())["schema_version"] == 1
    assert load_model(out / "model").fingerprint() != load_model(init).fingerprint()


def test_missing_tables_name_the_command(tmp_path, tiny_text):
    from radkit.cli import main

    init = _init_folder(tmp_path, tiny_text)
    rc = main(["train", "--init_from", str(init), "--tables_dir", str(tmp_path / "nope"), "--out_dir",
               str(tmp_path / "o"), "--logger", "none", "--progress", "false"])
    assert rc == 1


def test_frozen_parts_run_in_eval_mode(tiny_text):
    """Lightning keeps the modes it is given: a frozen tower must not apply dropout while training."""
    from radkit.training.module import RetrievalModule

    net = create_model("radir-tiny", modality="cxr", text={**tiny_text, "frozen": True}).train()
    module = RetrievalModule(net, stage="1")
    assert not net.text_tower.training and not net.decoder.training and net.image_tower.training
    module.on_train_start()
    assert not net.text_tower.training
    module2 = RetrievalModule(create_model("radir-tiny", modality="cxr", text=tiny_text).train(), stage="2")
    assert not module2.model.image_tower.training and module2.model.decoder.training


def test_nan_loss_stops_with_step_and_hint(tmp_path, tiny_tables, tiny_text):
    import pytest

    from radkit.training import train

    init = _init_folder(tmp_path, tiny_text)
    with pytest.raises(RuntimeError, match=r"train loss is nan at step 0; lower lr"):
        train(init_from=str(init), tables_dir=str(tiny_tables), out_dir=str(tmp_path / "nan"), max_steps=1,
              batch_size=4, warmup_steps=0, infonce_temperature=float("nan"), val_split=None, logger="none",
              progress=False)


def test_validation_recall_matches_the_metrics_module(tmp_path, tiny_tables, tiny_text):
    """val/image_to_text_R@1 logged by training = identity R@1 of radkit.evaluation.metrics on the
    saved model's test-split embeddings."""
    import csv

    from radkit.data.datamodule import RadIRDataModule
    from radkit.evaluation.metrics import identity_metrics
    from radkit.training import train

    init = _init_folder(tmp_path, tiny_text)
    out = tmp_path / "v"
    model_dir = train(init_from=str(init), tables_dir=str(tiny_tables), out_dir=str(out), max_steps=1,
                      batch_size=4, warmup_steps=0, val_every=1, progress=False)
    rows = list(csv.DictReader(open(next(out.glob("logs/*/metrics.csv")))))
    logged = [float(r["val/image_to_text_R@1"]) for r in rows if r.get("val/image_to_text_R@1")]
    net = load_model(model_dir)
    dm = RadIRDataModule(tiny_tables, net.cfg.preprocess, batch_size=4)
    dm.setup()
    ds = dm.pairs("test")
    with torch.no_grad():
        img = net.encode_image(torch.stack([ds.load(i) for i in range(len(ds))]))
        txt = net.encode_text(ds.items.texts)
    assert logged and abs(logged[-1] - identity_metrics(img @ txt.T, ks=(1,))["recall@1"]) < 1e-6
