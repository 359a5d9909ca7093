"""`radkit demo`: the whole chain on embedded synthetic data, offline.

Each step writes into ``out`` and is skipped on rerun when its output exists.
"""

from __future__ import annotations

import time
from pathlib import Path


def _step(title: str):
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def run_demo(out: str = "runs/demo", fast: bool = False, seed: int = 0) -> dict:
    """Run the demo chain and return the paths it wrote.

    Args:
        out: output folder (reused: finished steps are skipped).
        fast: a one-minute version (fewer, smaller studies) used by the tests.
        seed: random seed of the synthetic data.

    Returns:
        dict of step name -> output path.
    """
    from radkit.data.info import format_info, manifest_info
    from radkit.data.synth import synthesize
    from radkit.data.validate import validate_manifest

    out_dir = Path(out)
    paths: dict[str, str] = {}
    n_cxr, n_ct = (24, 8) if fast else (200, 60)
    for modality, n in (("cxr", n_cxr), ("ct", n_ct)):
        t0 = _step(f"synthesise {n} {modality} studies")
        folder = out_dir / f"synth-{modality}"
        manifest = folder / "manifest.jsonl"
        if manifest.is_file():
            print(f"reusing {manifest}")
        else:
            synthesize(folder, modality=modality, n=n, seed=seed, progress=True)
        report = validate_manifest(manifest)
        if not report.ok:
            raise RuntimeError(f"synthetic manifest failed validation:\n{report.summary()}")
        print(format_info(manifest_info(manifest)))
        print(f"done in {time.perf_counter() - t0:.1f} s -> {manifest}")
        paths[f"manifest_{modality}"] = str(manifest)
    return paths


def demo(out: str = "runs/demo", fast: bool = False, seed: int = 0) -> int:
    """Run radkit end to end on synthetic data, offline.

    Example: radkit demo --out runs/demo --fast true

    Args:
        out: output folder (rerunning reuses finished steps).
        fast: a one-minute version.
        seed: random seed of the synthetic data.
    """
    paths = run_demo(out, fast=fast, seed=seed)
    print("\noutputs:")
    for k, v in paths.items():
        print(f"  {k}: {v}")
    return 0


COMMAND = demo
