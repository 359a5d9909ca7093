"""Build manifests from the layouts users already have.

- RadIR release (SPEC_RADIR.md §1.5): ``<root>/train.jsonl`` and ``test.jsonl`` with
  ``{"name", "img_path", "text"}`` rows (MIMIC-IR names are study paths
  ``/pXX/pXXXXXXXX/sXXXXXXXX``; CTRATE-IR names are ``train_1_a_1.nii.gz``).
- A folder of DICOM studies: ``<root>/<study>/`` with the DICOM file(s) or a series
  folder, and the report in ``report.txt`` inside it or ``<root>/<study>.txt``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from radkit.data.study import Study

_MIMIC_PATIENT = re.compile(r"/?p\d+/(p\d+)/s\d+")
_CTRATE_PATIENT = re.compile(r"^(?:train|valid|test)_(\d+)_")


def _patient_of(name: str) -> str:
    """Patient id from a RadIR sample name (MIMIC study path or CT-RATE volume name)."""
    m = _MIMIC_PATIENT.search(name)
    if m:
        return m.group(1)
    m = _CTRATE_PATIENT.match(os.path.basename(name))
    if m:
        return f"ctrate_{m.group(1)}"
    return name


def manifest_from_radir(root: str | os.PathLike, modality: str = "ct") -> list[Study]:
    """Studies from a RadIR release folder (train.jsonl -> split "train", test.jsonl -> "test").

    Rows with the same name keep the last one (as the released loaders do).

    Raises:
        FileNotFoundError: neither train.jsonl nor test.jsonl exists under ``root``.
        ValueError: a row lacks name/img_path/text (file and line named).
    """
    root = Path(root)
    files = [(root / f"{split}.jsonl", split) for split in ("train", "test")]
    if not any(p.is_file() for p, _ in files):
        raise FileNotFoundError(f"no train.jsonl or test.jsonl in {root}; point --root at the RadIR dataset "
                                "folder (e.g. /dataset/CT_RATE) described in SPEC_RADIR §1.5")
    by_id: dict[str, Study] = {}
    for path, split in files:
        if not path.is_file():
            continue
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    name, img, text = row["name"], row["img_path"], row["text"]
                except (json.JSONDecodeError, KeyError) as e:
                    raise ValueError(f"{path}:{i}: expected a JSON object with name, img_path, text ({e})") from None
                sid = f"{split}:{name}" if split == "test" and f"train:{name}" in by_id else name
                by_id[sid] = Study(study_id=sid, patient_id=_patient_of(name), modality=modality,
                                   image_paths=[img], report=text, split=split)
    return list(by_id.values())


def _report_for(study_dir: Path) -> Path | None:
    for cand in (study_dir / "report.txt", study_dir.with_suffix(".txt")):
        if cand.is_file():
            return cand
    return None


def manifest_from_dicom_folder(root: str | os.PathLike, modality: str = "ct") -> list[Study]:
    """Studies from ``<root>/<study>/`` folders of DICOM files with a report text file.

    For CT the image path is the folder holding the slices (the study folder itself, or
    its single sub-folder); for CXR each DICOM file of the study is one image path.

    Raises:
        FileNotFoundError: ``root`` missing, or a study folder has no report (named).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"DICOM root {root} is not a folder")
    studies = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        rep = _report_for(d)
        if rep is None:
            raise FileNotFoundError(f"study folder {d} has no report.txt (nor {d.name}.txt beside it); "
                                    "add the report text or move the folder out")
        files = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() not in (".txt", ".json"))
        if not files:
            raise ValueError(f"study folder {d} holds no image files")
        if modality == "ct":
            parents = sorted({p.parent for p in files})
            paths = [str(parents[0])] if len(parents) == 1 else [str(p) for p in parents]
        else:
            paths = [str(p) for p in files]
        studies.append(Study(study_id=d.name, patient_id=d.name, modality=modality, image_paths=paths,
                             report=rep.read_text(encoding="utf-8").strip(), split="test"))
    return studies
