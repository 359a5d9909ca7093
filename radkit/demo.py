"""`radkit demo`: the whole chain on embedded synthetic data, offline, on CPU.

synthesise -> structure reports + similarity tables -> train radir-tiny (stage 1, stage 2)
-> embed + FAISS index -> image->image, report->image, anatomy-conditioned search
-> RadIR evaluation (JSON + HTML) -> VQA + tiny reasoner SFT -> one answer with its RadRScore.

Every step writes into ``out`` and is skipped on rerun when its output exists, so an
interrupted demo resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoPlan:
    """Sizes of one demo run (``fast`` is the one-minute version used by the tests)."""

    n_cxr: int
    n_ct: int
    stage1_steps: int
    stage2_steps: int
    batch_size: int
    sft_steps: int
    train_ct: bool


FULL = DemoPlan(n_cxr=120, n_ct=32, stage1_steps=30, stage2_steps=15, batch_size=16, sft_steps=20, train_ct=True)
FAST = DemoPlan(n_cxr=32, n_ct=6, stage1_steps=3, stage2_steps=2, batch_size=8, sft_steps=2, train_ct=False)


class _Steps:
    def __init__(self, out: Path):
        self.out, self.t_start, self.paths = out, time.perf_counter(), {}

    def run(self, name: str, title: str, target: Path, fn):
        """Run ``fn`` unless ``target`` exists; record and print where the output is."""
        print(f"\n== {title}", flush=True)
        t0 = time.perf_counter()
        if target.exists():
            print(f"   reusing {target}")
        else:
            fn()
            print(f"   done in {time.perf_counter() - t0:.1f} s")
        print(f"   -> {target}")
        self.paths[name] = str(target)
        return target


def _first_line(report: str) -> str:
    """The findings part of a report on one line (header sections skipped)."""
    text = " ".join(report.split())
    if "FINDINGS:" in text:
        text = text.split("FINDINGS:", 1)[1].strip()
    return text[:110] + ("..." if len(text) > 110 else "")


def _print_hits(title: str, hits) -> None:
    print(f"   {title}")
    for h in hits:
        print(f"     {h.rank:>2}. {h.study_id:<14} score {h.score:+.3f}  {_first_line(h.report)}")


def _retrieval_chain(steps: _Steps, modality: str, plan: DemoPlan, progress: bool) -> None:
    from radkit.data.manifest import read_manifest
    from radkit.reports.annotate import annotate
    from radkit.training.train import train

    out = steps.out
    manifest = out / f"synth-{modality}" / "manifest.jsonl"
    tables = out / f"synth-{modality}" / "tables"
    steps.run(f"tables_{modality}", f"structure {modality} reports, build similarity tables (RadIR layout)",
              tables / "train.npy", lambda: annotate(manifest, tables, backend="lexicon", progress=progress))
    run1, run2 = out / f"train-{modality}-stage1", out / f"train-{modality}-stage2"
    common = dict(model="radir-tiny", modality=modality, tables_dir=str(tables), manifest=str(manifest),
                  batch_size=plan.batch_size, val_every=0, accelerator="cpu", logger="csv", progress=progress,
                  warmup_steps=2)
    steps.run(f"stage1_{modality}", f"train radir-tiny ({modality}) stage 1: image-report + ranking losses",
              run1 / "model", lambda: train(**common, out_dir=str(run1), stage="1", max_steps=plan.stage1_steps,
                                            lr=3e-4))
    steps.run(f"stage2_{modality}", f"train radir-tiny ({modality}) stage 2: anatomy-conditioned decoder",
              run2 / "model", lambda: train(**common, out_dir=str(run2), stage="2", init_from=str(run1 / "model"),
                                            max_steps=plan.stage2_steps, lr=3e-4, groups_per_batch=1,
                                            group_size=min(plan.batch_size, 6)))
    model_dir = run2 / "model"

    from radkit.reports.tables import list_table_anatomies
    from radkit.retrieval import Retriever
    from radkit.retrieval.build import build_index

    index = out / f"index-{modality}"
    # one sub-index per anatomy that has a similarity table, so the evaluation covers them all
    anatomies = sorted(set(list_table_anatomies(tables, "train")) | set(list_table_anatomies(tables, "test")))
    steps.run(f"index_{modality}", f"embed {modality} studies, build a flat FAISS index + "
              f"{len(anatomies)} anatomy sub-indexes", index,
              lambda: build_index(str(model_dir), manifest, index, recipe="flat", anatomies=anatomies,
                                  progress=progress))

    studies = read_manifest(manifest)
    r = Retriever.load(index)
    query = next((s for s in studies if s.split == "test" and any(f.status == "present" for f in s.findings)),
                 studies[0])
    print(f"\n== search the {modality} index (query {query.study_id}: {_first_line(query.report)})")
    _print_hits("image -> image:", r.search(image=query.image_paths[0], k=5))
    _print_hits("image -> report:", r.search(image=query.image_paths[0], k=3, target="report"))
    _print_hits("report -> image:", r.search(text=query.report, k=3))
    present = [f for f in query.findings if f.status == "present"]
    built = set(r.info().get("anatomies", []))
    anat = next((f.anatomy for f in present if f.anatomy in built), None) or next(iter(sorted(built)), None)
    if anat:
        _print_hits(f"image -> image conditioned on {anat!r}:",
                    r.search(image=query.image_paths[0], anatomy=anat, k=5))

    from radkit.evaluation.protocol import evaluate
    from radkit.evaluation.report import write_report

    ev = out / f"eval-{modality}"

    def _eval():
        res = evaluate(tables, index_dir=index, split="test", manifest=manifest, progress=progress)
        write_report(res, ev)

    steps.run(f"eval_{modality}", f"evaluate {modality} retrieval with the RadIR protocol (JSON + HTML)",
              ev / "report.html", _eval)
    metrics = json.loads((ev / "metrics.json").read_text())
    i2i = metrics.get("unconditional", {}).get("i2i", {})
    shown = {k: round(v, 3) for k, v in i2i.items() if k in ("ndcg@10", "ratescore@10", "recall@5", "map")}
    print(f"   image->image on the test split: {shown}")
    if not i2i.get("n_valid"):
        print("   (recall/mAP count studies with report similarity > 0.9; this small test split has no such "
              "pair, so only the graded NDCG and RateScore are informative here)")
    print(f"   open {ev / 'report.html'} in a browser for every metric, per anatomy, with plots")


def _reasoning_chain(steps: _Steps, plan: DemoPlan, progress: bool) -> None:
    from radkit.data.manifest import read_manifest
    from radkit.reasoning.radrscore import make_judge
    from radkit.reasoning.score import score_records
    from radkit.reasoning.sft_train import train_sft
    from radkit.reasoning.tiny import build_tiny
    from radkit.reasoning.vqa import build_vqa, read_jsonl

    out = steps.out
    manifest = out / "synth-cxr" / "manifest.jsonl"
    vqa_dir = out / "vqa"
    steps.run("vqa", "build RadRBench-style VQA items with reasoning chains", vqa_dir / "vqa.jsonl",
              lambda: build_vqa(manifest, vqa_dir, seed=0, max_per_label=20))
    base = out / "reasoner-tiny"
    reports = [s.report for s in read_manifest(manifest)]
    steps.run("reasoner_base", "build a tiny random Qwen2-VL + tokenizer trained on the reports", base,
              lambda: build_tiny(base, texts=reports, seed=0))
    sft = out / "reasoner-sft"
    steps.run("reasoner_sft", f"SFT the tiny reasoner for {plan.sft_steps} steps", sft,
              lambda: train_sft(model=str(base), vqa=str(vqa_dir / "vqa.jsonl"), out_dir=str(sft), lr=1e-3,
                                max_steps=plan.sft_steps, batch_size=2, global_batch=2, precision="32-true",
                                gradient_checkpointing=False, image_size=56, accelerator="cpu", devices=1,
                                log_every=1))

    from radkit.reasoning.infer import answer

    rec = next(r for r in read_jsonl(vqa_dir / "vqa.jsonl") if r.get("task") == "binary")
    print(f"\n== answer one question with the fine-tuned reasoner\n   Q: {rec['question'][:200]}")
    pred = answer(str(sft), rec["question"], rec.get("image_path", []), image_size=56, max_new_tokens=48)
    print(f"   model: {pred[:300]!r}\n   reference answer: {rec.get('answer')}")
    scored = score_records([{**rec, "pred": pred}], make_judge("offline"))
    row = next(iter(scored.values()))
    print("   score: " + ", ".join(f"{k}={row[k]:.3f}" if isinstance(row[k], float) else f"{k}={row[k]}"
                                   for k in ("accuracy", "malformed", "R_c", "R_f", "R_e", "RadRScore") if k in row))
    print("   (a tiny random model after a few steps: expect malformed output; the chain is the point)")


def run_demo(out: str = "runs/demo", fast: bool = False, seed: int = 0, progress: bool = True) -> dict:
    """Run the demo chain and return the paths it wrote.

    Args:
        out: output folder (reused: finished steps are skipped).
        fast: the one-minute version (fewer, smaller studies; CXR retrieval only).
        seed: random seed of the synthetic data.
        progress: show progress bars.

    Returns:
        dict of step name -> output path.
    """
    from radkit.data.info import format_info, manifest_info
    from radkit.data.synth import synthesize
    from radkit.data.validate import validate_manifest

    plan = FAST if fast else FULL
    steps = _Steps(Path(out))
    for modality, n in (("cxr", plan.n_cxr), ("ct", plan.n_ct)):
        folder = steps.out / f"synth-{modality}"
        manifest = steps.run(f"manifest_{modality}", f"synthesise {n} {modality} studies with reports",
                             folder / "manifest.jsonl",
                             lambda: synthesize(folder, modality=modality, n=n, seed=seed, progress=progress))
        report = validate_manifest(manifest)
        if not report.ok:
            raise RuntimeError(f"synthetic manifest failed validation:\n{report.summary()}")
        print("   " + format_info(manifest_info(manifest)).replace("\n", "\n   "))
    for modality in ("cxr", "ct") if plan.train_ct else ("cxr",):
        _retrieval_chain(steps, modality, plan, progress)
    _reasoning_chain(steps, plan, progress)
    print(f"\nfinished in {time.perf_counter() - steps.t_start:.0f} s")
    return steps.paths


def demo(out: str = "runs/demo", fast: bool = False, seed: int = 0) -> int:
    """Run radkit end to end on synthetic data, offline (reruns reuse finished steps).

    Example: radkit demo --out runs/demo --fast true

    Args:
        out: output folder (rerunning reuses finished steps).
        fast: a one-minute version (CXR retrieval only, a few steps each).
        seed: random seed of the synthetic data.
    """
    paths = run_demo(out, fast=fast, seed=seed)
    print("\noutputs:")
    for k, v in paths.items():
        print(f"  {k}: {v}")
    return 0


COMMAND = demo
