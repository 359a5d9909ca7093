"""RadRBench-style VQA items from studies (SPEC_REASONER §2.2, §2.3, §2.6).

Five task types, each with an ``option`` variant (lettered choices, the answer is a
letter) and a ``no_option`` variant (free-text answer):

- ``binary``: "Does this chest X-ray show {label}?" A) Yes B) No; balanced per label.
- ``single``: one positive label + 3 negatives of the 13 labels, shuffled.
- ``multi``: 4 options, each a k-subset of labels; only the positive set is right.
- ``anomaly``: the open-ended form of ``multi`` (the answer lists the positive labels).
- ``temporal``: progression of a finding between a prior and the current study.

Everything is deterministic given ``seed``: each item draws from its own
``random.Random`` keyed by (seed, task, study/label), so adding studies does not
reshuffle the others.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Callable, Iterable

from radkit.data.study import Study
from radkit.fileio import parse_jsonl, write_jsonl  # noqa: F401 (write_jsonl re-exported for callers)
from radkit.reasoning import prompts
from radkit.reasoning.labels import (
    CHANGE_MAP, LABEL_MAP, LABELS, NO_FINDING, PROGRESSIONS, SINGLE_LABELS, TEMPORAL_LABELS, Observation,
    label_values, make_observer, observations_from_study,
)

TASKS = ("binary", "single", "multi", "anomaly", "temporal")
VARIANTS = ("option", "no_option")
Observer = Callable[[Study], list[Observation]]


def _rng(seed: int, *key) -> random.Random:
    return random.Random(":".join(str(k) for k in (seed, *key)))


def _record(study: Study, task: str, variant: str, question: str, options: list[str], answer_idx: int | None,
            answer_text: str, label: str | None, positives: list[str], images: list[str],
            dataset: str, extra_key: str = "") -> dict:
    with_opts = variant == "option"
    q = question + (prompts.format_options(options) if with_opts else "")
    answer = prompts.LETTERS[answer_idx] if with_opts else answer_text
    key = f"{study.study_id}{'-' + extra_key if extra_key else ''}"
    if task in ("binary", "temporal"):
        candidates = [label]
    elif task == "single":
        candidates = list(options)
    else:  # multi/anomaly: every label that appears in an option set
        candidates = [lab for lab in LABELS if any(lab in o.split(", ") for o in options)]
    return {
        "item_id": f"[{dataset}] [{key}]{task}_{variant}",
        "study_id": study.study_id, "split": study.split, "modality": study.modality, "task": task, "variant": variant,
        "image_path": images, "question": q, "options": options if with_opts else [],
        "answer": answer, "answer_content": answer_text, "label": label, "positives": positives,
        "candidates": candidates,
        "dataset_name": dataset, "original_report": study.report, "process": None, "reason_steps": None,
    }


def _variants(variants: Iterable[str]) -> list[str]:
    out = list(variants)
    bad = [v for v in out if v not in VARIANTS]
    if bad:
        raise ValueError(f"unknown VQA variant(s) {bad}; valid: {', '.join(VARIANTS)}")
    return out


def binary_items(studies: list[Study], seed: int, observe: Observer = observations_from_study,
                 max_per_label: int = 200, variants: Iterable[str] = VARIANTS, dataset: str = "radkit") -> list[dict]:
    """Binary diagnosis: per label, equal numbers of positive and negative studies (§2.5).

    Positive means label == 1; negative means 0 or unmentioned; uncertain studies are skipped.
    """
    vals = {s.study_id: label_values(observe(s)) for s in studies}
    studies = sorted(studies, key=lambda s: s.study_id)  # input order must not change the sample
    out = []
    for label in LABELS:
        pos = [s for s in studies if vals[s.study_id].get(label, 0) == 1]
        neg = [s for s in studies if vals[s.study_id].get(label, 0) == 0]
        n = min(len(pos), len(neg), max_per_label)
        if n == 0:
            continue
        rng = _rng(seed, "binary", label)
        chosen = [(s, True) for s in rng.sample(pos, n)] + [(s, False) for s in rng.sample(neg, n)]
        for s, is_pos in sorted(chosen, key=lambda t: (t[0].study_id, t[1])):
            q = prompts.BINARY_Q.format(modality=prompts.MODALITY_WORDS[s.modality], finding=label)
            for v in _variants(variants):
                out.append(_record(s, "binary", v, q, ["Yes", "No"], 0 if is_pos else 1, "Yes" if is_pos else "No",
                                   label, _pos(vals[s.study_id]), list(s.image_paths), dataset, label))
    return out


def _pos(vals: dict[str, int]) -> list[str]:
    return [lab for lab in LABELS if vals.get(lab) == 1]


def single_items(studies: list[Study], seed: int, observe: Observer = observations_from_study,
                 variants: Iterable[str] = VARIANTS, dataset: str = "radkit") -> list[dict]:
    """Single-choice diagnosis over the 13 labels: one positive + 3 negative distractors, shuffled."""
    out = []
    for s in studies:
        vals = label_values(observe(s))
        positives = [lab for lab in SINGLE_LABELS if vals.get(lab) == 1]
        if not positives:
            continue
        rng = _rng(seed, "single", s.study_id)
        target = rng.choice(positives)
        # Distractors must be clearly negative: not positive and not uncertain.
        negatives = [lab for lab in SINGLE_LABELS if vals.get(lab, 0) == 0]
        if len(negatives) < 3:
            continue
        options = [target] + rng.sample(negatives, 3)
        rng.shuffle(options)
        q = prompts.SINGLE_Q.format(modality=prompts.MODALITY_WORDS[s.modality])
        for v in _variants(variants):
            out.append(_record(s, "single", v, q, options, options.index(target), target, target,
                               _pos(vals), list(s.image_paths), dataset))
    return out


def multi_items(studies: list[Study], seed: int, observe: Observer = observations_from_study,
                min_positives: int = 2, max_positives: int = 5, variants: Iterable[str] = VARIANTS,
                dataset: str = "radkit") -> list[dict]:
    """Multi-choice diagnosis (``option``) and open anomaly detection (``no_option``, task "anomaly").

    Studies with ``min_positives..max_positives`` positive labels. The 3 distractors are
    distinct random k-subsets of the 12 labels that differ from the positive set.
    """
    out = []
    for s in studies:
        vals = label_values(observe(s))
        pos = _pos(vals)
        k = len(pos)
        if not min_positives <= k <= max_positives:
            continue
        rng = _rng(seed, "multi", s.study_id)
        subsets = [c for c in itertools.combinations(LABELS, k) if list(c) != pos]
        distractors = [list(c) for c in rng.sample(subsets, 3)]
        sets = [pos] + distractors
        rng.shuffle(sets)
        options = [", ".join(x) for x in sets]
        q = prompts.MULTI_Q.format(modality=prompts.MODALITY_WORDS[s.modality])
        for v in _variants(variants):
            task = "multi" if v == "option" else "anomaly"
            out.append(_record(s, task, v, q, options, sets.index(pos), ", ".join(pos), None, pos,
                               list(s.image_paths), dataset))
    return out


def temporal_items(studies: list[Study], seed: int, observe: Observer = observations_from_study,
                   variants: Iterable[str] = VARIANTS, dataset: str = "radkit") -> list[dict]:
    """Temporal comparison of (prior, current): stable / worsening / improving per finding.

    Uses the current study's ``change`` on findings whose label is one of `TEMPORAL_LABELS`;
    images are the prior's then the current's (reference first, as in the question).
    """
    by_id = {s.study_id: s for s in studies}
    out = []
    for s in studies:
        prior = by_id.get(s.prior_study_id or "")
        if prior is None:
            continue
        seen = set()
        for o in observe(s):
            prog = CHANGE_MAP.get(o.change)
            labs = [lab for lab in LABEL_MAP.get(o.finding, ()) if lab in TEMPORAL_LABELS]
            if prog is None or not labs or labs[0] in seen:
                continue
            label = labs[0]
            seen.add(label)
            q = prompts.TEMPORAL_Q.format(finding=label)
            images = list(prior.image_paths) + list(s.image_paths)
            for v in _variants(variants):
                rec = _record(s, "temporal", v, q, list(PROGRESSIONS), PROGRESSIONS.index(prog), prog, label,
                              [label], images, dataset, label)
                rec["prior_report"] = prior.report
                rec["prior_study_id"] = prior.study_id
                out.append(rec)
    return out


def _memo(observe: Observer) -> Observer:
    """``observe`` computed once per study (every task builder asks; structuring text is not free)."""
    cache: dict[str, list[Observation]] = {}

    def run(study: Study) -> list[Observation]:
        if study.study_id not in cache:
            cache[study.study_id] = observe(study)
        return cache[study.study_id]

    return run


def make_items(studies: list[Study], seed: int = 0, tasks: Iterable[str] = TASKS,
               variants: Iterable[str] = VARIANTS, observe: str | Observer = "truth",
               max_per_label: int = 200, dataset: str = "radkit", open_labels: Iterable[str] = ()) -> list[dict]:
    """All requested VQA items for ``studies`` (see module docstring), in a stable order.

    Args:
        observe: where labels come from: "truth" (``Study.findings``, synthetic data),
            "report" (the report text through `radkit.reports.structure.structure_report`,
            for real studies without ground truth), or a callable Study -> observations.
            The observations are stored on each record as ``gt_findings`` (the judge's
            closed-world reference) and the source as ``observed_from``.
        open_labels: when given, the ``anomaly`` task asks about these labels only
            (`radkit.reasoning.vqa_open.open_items`: present subset or "none", balanced).

    Raises:
        ValueError: unknown task, variant or observation source.
    """
    source = observe if isinstance(observe, str) else getattr(observe, "__name__", "custom")
    observe = _memo(make_observer(observe))
    tasks = list(tasks)
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise ValueError(f"unknown VQA task(s) {bad}; valid: {', '.join(TASKS)}")
    variants = _variants(variants)
    out: list[dict] = []
    if "binary" in tasks:
        out += binary_items(studies, seed, observe, max_per_label, variants, dataset)
    if "single" in tasks:
        out += single_items(studies, seed, observe, variants, dataset)
    open_labels = list(open_labels)
    full_anomaly = "anomaly" in tasks and not open_labels  # the release's open task over every label
    if open_labels and "anomaly" in tasks:
        from radkit.reasoning.vqa_open import open_items

        out += open_items(studies, seed, open_labels, observe, dataset)
    if "multi" in tasks or full_anomaly:
        mv = [v for v in variants if (v == "option" and "multi" in tasks) or (v == "no_option" and full_anomaly)]
        out += multi_items(studies, seed, observe, variants=mv, dataset=dataset)
    if "temporal" in tasks:
        out += temporal_items(studies, seed, observe, variants, dataset)
    obs = {s.study_id: observe(s) for s in studies}
    for r in out:  # the judge's closed-world reference (structured once here, not re-read per sample)
        r["gt_findings"] = [{"finding": o.finding, "status": o.status, "anatomy": o.anatomy} for o in obs[r["study_id"]]]
        r["observed_from"] = source
    return out


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a VQA JSONL file (or a JSON list, as in the release).

    Raises:
        FileNotFoundError: missing file.
        ValueError: a line that is not JSON (line number named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VQA file {path} not found; build one with `radkit reason build-vqa MANIFEST --out DIR`")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return parse_jsonl(text, path)


def build_vqa(manifest: str | os.PathLike, out_dir: str | os.PathLike, seed: int = 0,
              tasks: Iterable[str] = TASKS, variants: Iterable[str] = VARIANTS, max_per_label: int = 200,
              miner: str | None = "offline", observe: str | Observer = "truth",
              open_labels: Iterable[str] = ()) -> Path:
    """Build VQA items from a manifest, add reasoning chains, and write ``out_dir/vqa.jsonl``.

    Args:
        manifest: a radkit manifest (JSONL/CSV/Parquet) of studies with findings.
        out_dir: output folder; ``vqa.jsonl`` and ``summary.json`` (``counts`` per split/task/variant,
            ``observed_from``, ``mining`` stats: mined/failed/first errors).
        seed: sampling seed (same seed, same items).
        tasks, variants: subsets of `TASKS` / `VARIANTS`.
        max_per_label: cap on positives (and negatives) per label for the binary task.
        miner: "offline" fills ``process``/``reason_steps`` with the deterministic miner; None skips.
        observe: "truth" (ground-truth findings, default), "report" (structured report text;
            real studies) or a callable Study -> observations (see `make_items`).
        open_labels: restrict the ``anomaly`` task to these labels (see `make_items`).

    Returns:
        Path of ``vqa.jsonl``.
    """
    from radkit.data.manifest import read_manifest
    from radkit.fileio import atomic_write_bytes

    manifest = Path(manifest)
    studies = read_manifest(manifest)
    base = manifest.parent
    for s in studies:  # relative image paths are relative to the manifest's folder
        s.image_paths = [p if os.path.isabs(p) else str((base / p).resolve()) for p in s.image_paths]
    items = make_items(studies, seed, tasks, variants, observe, max_per_label, open_labels=open_labels)
    stats = None
    if miner is not None:
        from radkit.reasoning.mining import mine_items, make_teacher

        by_id = {s.study_id: s for s in studies}
        items, stats = mine_items(items, by_id, make_teacher(miner), observe=_memo(make_observer(observe)))
    out_dir = Path(out_dir)
    path = write_jsonl(items, out_dir / "vqa.jsonl")
    counts: dict = {}
    for r in items:
        key = f"{r['split']}/{r['task']}_{r['variant']}"
        counts[key] = counts.get(key, 0) + 1
    # Mining failures are recorded next to the counts: items without a chain are kept, never hidden.
    summary = {"counts": dict(sorted(counts.items())), "observed_from": observe if isinstance(observe, str) else
               "custom", "mining": stats}
    atomic_write_bytes(out_dir / "summary.json", json.dumps(summary, indent=1).encode())
    return path
