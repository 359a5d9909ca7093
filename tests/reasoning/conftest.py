"""Tiny hand-made studies with known findings (no patient text)."""

import pytest
import torch

# The tiny models are far faster on one thread on the shared, loaded 2-core box (measured 0.18 s vs
# 3-5 s per SFT step with 2 threads): oversubscription, not compute, dominates.
torch.set_num_threads(1)

from radkit.data.study import GroundTruthFinding as F
from radkit.data.study import Study


def _s(i, findings, prior=None, report="", split="train"):
    return Study(study_id=f"s{i}", patient_id=f"p{i // 2}", modality="cxr", image_paths=[f"img/s{i}.png"],
                 report=report, split=split, prior_study_id=prior, findings=findings)


@pytest.fixture
def studies():
    """Eight studies: normals, single and multi-finding, a prior/current pair, an uncertain finding."""
    return [
        _s(0, [], report="The lungs are clear. No pleural effusion or pneumothorax. Heart size is normal."),
        _s(1, [F("effusion", "right pleura", "present", "moderate")],
           report="Moderate right pleural effusion. No pneumothorax."),
        _s(2, [F("cardiomegaly", "heart", "present", "mild"), F("edema", "pulmonary vasculature", "present", "mild"),
               F("effusion", "left pleura", "present", "small")],
           report="Mild cardiomegaly with mild pulmonary edema and a small left pleural effusion."),
        _s(3, [F("effusion", "left pleura", "present", "large", "worse"), F("pneumothorax", "left pleura", "absent")],
           prior="s2", report="Large left pleural effusion, increased. No pneumothorax."),
        _s(4, [F("consolidation", "right lower lobe", "present", "moderate"), F("nodule", "left upper lobe", "uncertain")],
           report="Right lower lobe consolidation. Possible nodule in the left upper lobe."),
        _s(5, [F("support device", "trachea", "present"), F("fracture", "left ribs", "present", "nondisplaced"),
               F("atelectasis", "left lower lobe", "present", "mild")],
           report="Endotracheal tube in place. Nondisplaced left rib fracture. Mild left basilar atelectasis."),
        _s(6, [], report="Normal chest radiograph.", split="test"),
        _s(7, [F("pneumothorax", "right pleura", "present", "small")], report="Small right pneumothorax.", split="test"),
    ]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random Qwen2-VL + offline tokenizer, built once per session (~5 s)."""
    from radkit.reasoning.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture
def vqa_dir(studies, tmp_path):
    """A manifest with small PNG images and its VQA (with offline chains)."""
    import numpy as np
    from PIL import Image

    from radkit.data.manifest import write_manifest
    from radkit.reasoning.vqa import build_vqa

    (tmp_path / "img").mkdir()
    rng = np.random.default_rng(0)
    for s in studies:
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / s.image_paths[0])
    write_manifest(studies, tmp_path / "manifest.jsonl")
    build_vqa(tmp_path / "manifest.jsonl", tmp_path / "vqa", seed=0)
    return tmp_path / "vqa"
