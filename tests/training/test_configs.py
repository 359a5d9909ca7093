"""Every shipped run config validates against `train()`'s signature and names a registered model."""

import inspect
from pathlib import Path

import pytest
import yaml
from jsonargparse import ArgumentParser

from radkit.models import get_model_config, list_models
from radkit.training.train import train

# reason_*.yaml belong to `radkit reason` and are validated in tests/reasoning
CONFIGS = sorted(p for p in (Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")
                 if not p.name.startswith("reason_"))
EXPECTED = {"radir-tiny-cxr", "radir-tiny-ct", "radir-cxr-base", "radir-ct-base", "clip-baseline-cxr",
            "clip-baseline-ct", "radir-tiny-cxr-stage2", "radir-tiny-ct-stage2"}


def test_expected_configs_are_shipped():
    assert EXPECTED <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_maps_onto_train(path):
    cfg = yaml.safe_load(path.read_text())
    params = inspect.signature(train).parameters
    assert set(cfg) <= set(params), f"unknown keys {set(cfg) - set(params)}"
    parser = ArgumentParser(exit_on_error=False)
    parser.add_function_arguments(train)
    ns = parser.parse_path(str(path))  # type-checks every value
    assert ns.model in list_models()
    get_model_config(ns.model, modality=ns.modality)  # the architecture resolves for that modality
    if path.stem.startswith("clip-baseline"):
        assert ns.rank_weight == 0 and ns.infonce_pos_threshold is None
    if path.stem.endswith("-stage2"):  # stage 2 starts from the model its stage-1 config writes
        first = yaml.safe_load(path.with_name(path.name.replace("-stage2", "")).read_text())
        assert ns.stage == "2" and ns.init_from == first["out_dir"] + "/model"
        assert (ns.model, ns.modality, ns.tables_dir) == (first["model"], first["modality"], first["tables_dir"])


def test_unknown_key_lists_valid_ones(tmp_path):
    from radkit.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("max_step: 3\n")
    assert main(["train", "--config", str(bad)]) != 0
