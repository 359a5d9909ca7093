"""`radkit ops build|info`: compile the fused kernels and show which backend each op uses."""

from __future__ import annotations

import torch

from radkit.ops import build as _build
from radkit.ops.api import list_backends

_OPS = {"ct_preprocess": torch.int16, "similarity_topk": torch.float32}


def build(kind: str = "auto", verbose: bool = False) -> int:
    """Compile (or load from cache) the C++ and CUDA builds of the fused ops.

    Example: radkit ops build --kind cpu

    Args:
        kind: ``cpu``, ``cuda``, ``all`` or ``auto`` (cpu, plus cuda when a CUDA toolkit is found).
        verbose: show the compiler command lines and output.

    Returns:
        0 when every requested build succeeded.
    """
    if kind not in ("cpu", "cuda", "all", "auto"):
        raise ValueError(f"unknown --kind {kind!r}; valid: cpu, cuda, all, auto")
    kinds = ["cpu", "cuda"] if kind in ("all", "auto") else [kind]
    if kind == "auto" and _build.find_cuda_home() is None:
        kinds = ["cpu"]
        print("cuda: skipped (no CUDA toolkit found; set CUDA_HOME to build it)")
    for k in kinds:
        secs = _build.build(k, verbose=verbose)
        print(f"{k}: ready in {secs:.1f} s (sources {_build.source_dir()})")
    return 0


def info() -> int:
    """List each op's backends and why any of them cannot run here.

    Example: radkit ops info
    """
    print(f"torch {torch.__version__}; CUDA device: {torch.cuda.is_available()}; "
          f"CUDA toolkit: {_build.find_cuda_home() or 'not found'}")
    for op, dtype in _OPS.items():
        print(f"{op}:")
        for b in list_backends(op):
            inputs = {"device": b.devices[0], "dtype": dtype, "k": 10}
            reasons = b.not_supported_reasons(inputs)
            what = f"{'/'.join(b.devices)}, " + (
                "any dtype" if b.dtypes is None else ", ".join(str(d).replace("torch.", "") for d in b.dtypes))
            status = "available" if not reasons else "rejected: " + "; ".join(reasons)
            print(f"  {b.name:<9} ({what}) {status}")
    print("compiled builds are made on first use (or `radkit ops build`) and cached in TORCH_EXTENSIONS_DIR; "
          "RADKIT_OPS=reference forces the reference")
    return 0


COMMANDS = {"build": build, "info": info}
