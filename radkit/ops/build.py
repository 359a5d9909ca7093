"""JIT build of the C++/CUDA sources in ``cuda_kernels/`` (torch.utils.cpp_extension).

Two extensions: ``cpu`` (binding + OpenMP loops) and ``cuda`` (the same plus the CUDA
launchers). Each is compiled on first use and cached by torch in ``TORCH_EXTENSIONS_DIR``
(default ``~/.cache/torch_extensions``); later processes only import the cached module.
Build failures are remembered per process so dispatch falls back without retrying.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType

from radkit.resources import resource_dirs

KINDS = ("cpu", "cuda")
_LOADED: dict[str, ModuleType] = {}
_FAILED: dict[str, str] = {}


def source_dir() -> Path:
    """The ``cuda_kernels`` folder holding ``binding.cpp``.

    Raises:
        FileNotFoundError: no folder found (broken install).
    """
    for d in resource_dirs("cuda_kernels"):
        if (d / "binding.cpp").is_file():
            return d
    raise FileNotFoundError(
        f"radkit kernel sources (binding.cpp) not found in {[str(d) for d in resource_dirs('cuda_kernels')]}; "
        "reinstall radkit or set RADKIT_CUDA_KERNELS_PATH to a cuda_kernels folder")


def _sources(kind: str) -> list[str]:
    root = source_dir()
    srcs = [root / "binding.cpp", *sorted(root.glob("*/*_cpu.cpp"))]
    if kind == "cuda":
        srcs += sorted(root.glob("*/*.cu"))
    return [str(p) for p in srcs]


def _ensure_ninja() -> str | None:
    """Put a ninja on PATH (the PyPI ``ninja`` package or the venv's bin); return why not."""
    candidates = [str(Path(sys.executable).parent)]
    try:
        import ninja  # the PyPI package ships the binary

        candidates.insert(0, ninja.BIN_DIR)
    except ImportError:
        pass
    for d in candidates:
        if d and (Path(d) / "ninja").exists() and d not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = d + os.pathsep + os.environ.get("PATH", "")
    if shutil.which("ninja") is None:
        return "ninja not found: pip install ninja"
    return None


def find_cuda_home() -> str | None:
    """The CUDA toolkit root holding ``bin/nvcc`` and ``lib64/libcudart*``, or None.

    ``nvcc`` on PATH may be a wrapper script, so candidates are checked for the runtime
    library rather than derived from the ``nvcc`` location alone.
    """
    cands = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda",
             *sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]
    nvcc = shutil.which("nvcc")
    if nvcc:
        cands.append(str(Path(nvcc).resolve().parent.parent))
    for c in cands:
        if c and Path(c, "bin", "nvcc").exists() and glob.glob(str(Path(c, "lib64", "libcudart*"))):
            return c
    return None


def toolchain_reasons(kind: str) -> list[str]:
    """Cheap checks (no compiling) of what building ``kind`` needs; empty when all present.

    Dispatch asks this on every op call, so the answer is remembered per environment (the
    filesystem probes cost ~0.1-0.5 ms, more than a GPU top-k over 1M rows); a loaded build needs
    no check at all.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown build kind {kind!r}; valid: {', '.join(KINDS)}")
    if kind in _FAILED:
        return [f"{kind} build failed earlier in this process: {_FAILED[kind]}"] + _probe(kind)
    if kind in _LOADED:
        return []
    return _probe(kind)


_PROBED: dict[tuple, list[str]] = {}


def _probe(kind: str) -> list[str]:
    key = (kind, *(os.environ.get(v) for v in ("CXX", "PATH", "CUDA_HOME", "CUDA_PATH")))
    if key not in _PROBED:
        _PROBED[key] = _probe_uncached(kind)
    return list(_PROBED[key])


def _probe_uncached(kind: str) -> list[str]:
    reasons = []
    cxx = os.environ.get("CXX", "c++")
    if shutil.which(cxx) is None:
        reasons.append(f"C++ compiler {cxx!r} not found: install g++ (apt-get install g++) or set CXX")
    why = _ensure_ninja()
    if why:
        reasons.append(why)
    if kind == "cuda" and find_cuda_home() is None:
        reasons.append("CUDA toolkit not found (need bin/nvcc and lib64/libcudart*): set CUDA_HOME")
    return reasons


def load(kind: str = "cpu", verbose: bool = False) -> ModuleType:
    """Import the compiled extension ``kind``, building it on first use.

    Args:
        kind: ``"cpu"`` or ``"cuda"``.
        verbose: print the compiler command lines.

    Returns:
        The extension module with ``ct_preprocess`` and ``similarity_topk``.

    Raises:
        RuntimeError: the toolchain is missing or compilation failed (message says which).
    """
    if kind in _LOADED:
        return _LOADED[kind]
    reasons = toolchain_reasons(kind)
    if reasons:
        raise RuntimeError(f"cannot build radkit ops ({kind}): " + "; ".join(reasons))
    import torch
    import torch.utils.cpp_extension as cpp

    flags = ["-O3", "-fopenmp"]
    kwargs: dict = {"extra_cflags": flags, "extra_ldflags": ["-fopenmp"]}
    if kind == "cuda":
        home = find_cuda_home()
        os.environ["CUDA_HOME"] = home  # torch reads its own module global too
        cpp.CUDA_HOME = home
        if not torch.cuda.is_available():  # nothing to infer the arch from: default to Hopper
            os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "9.0")
        kwargs["extra_cflags"] = flags + ["-DRADKIT_WITH_CUDA"]
        kwargs["extra_cuda_cflags"] = ["-O3", "-DRADKIT_WITH_CUDA"]
    try:
        mod = cpp.load(name=f"radkit_ops_{kind}", sources=_sources(kind), verbose=verbose, **kwargs)
    except Exception as e:  # compiler errors arrive as RuntimeError/CalledProcessError
        lines = str(e).strip().splitlines() or [type(e).__name__]
        errors = [ln for ln in lines if "error" in ln.lower() and "Error building" not in ln]
        _FAILED[kind] = (errors or lines)[0].strip()[:300]
        raise RuntimeError(f"building radkit ops ({kind}) failed: {_FAILED[kind]}; "
                           "rerun `radkit ops build --verbose true` for the compiler output") from e
    _LOADED[kind] = mod
    return mod


def build(kind: str = "cpu", verbose: bool = False) -> float:
    """Build (or load from cache) extension ``kind``; returns the seconds it took."""
    t0 = time.perf_counter()
    load(kind, verbose=verbose)
    return time.perf_counter() - t0
