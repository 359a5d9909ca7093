"""Pick a backend per call, xformers-style: each declares what it supports and says why not.

Backends, tried in order: ``cuda`` (compiled CUDA build), ``cpu`` (compiled C++/OpenMP build),
``reference`` (pure torch, always available). ``RADKIT_OPS=reference`` forces the reference;
``RADKIT_OPS=cpu|cuda`` (or ``backend=`` on the op) requests one and raises with every reason when
it cannot run. A compiled build that fails on first use warns once and the call falls back.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from radkit.ops import build as _build

BACKEND_NAMES = ("cuda", "cpu", "reference")


@dataclass(frozen=True)
class Backend:
    """One implementation of one op and what it supports."""

    name: str
    op: str
    devices: tuple[str, ...]
    dtypes: tuple[torch.dtype, ...] | None  # None: any
    build_kind: str | None  # compiled extension it needs, or None
    run: Callable[..., Any]
    limits: dict = field(default_factory=dict)  # e.g. {"max_k": 4096}

    def not_supported_reasons(self, inputs: dict) -> list[str]:
        """Why this backend cannot run ``inputs`` ({"device", "dtype", "k"?}); empty if it can."""
        reasons = []
        forced = os.environ.get("RADKIT_OPS", "").strip().lower()
        if forced == "reference" and self.name != "reference":
            reasons.append("RADKIT_OPS=reference forces the reference backend")
        dev = torch.device(inputs["device"]).type
        if dev not in self.devices:
            reasons.append(f"inputs are on {dev}; this backend runs on {'/'.join(self.devices)}")
        if self.dtypes is not None and inputs["dtype"] not in self.dtypes:
            names = ", ".join(str(d).replace("torch.", "") for d in self.dtypes)
            reasons.append(f"dtype {str(inputs['dtype']).replace('torch.', '')} not supported (supported: {names})")
        max_k = self.limits.get("max_k")
        if max_k is not None and inputs.get("k", 0) > max_k:
            reasons.append(f"k={inputs['k']} exceeds this backend's limit {max_k}")
        if self.build_kind == "cuda" and not torch.cuda.is_available():
            reasons.append("no CUDA device available to torch")
        if self.build_kind is not None:
            reasons += _build.toolchain_reasons(self.build_kind)
        return reasons


def explain(backends: list[Backend], inputs: dict) -> list[tuple[str, list[str]]]:
    """(backend name, reasons) for each backend, in dispatch order."""
    return [(b.name, b.not_supported_reasons(inputs)) for b in backends]


def _requested(backend: str | None) -> str | None:
    name = backend or os.environ.get("RADKIT_OPS", "").strip().lower() or None
    if name is not None and name not in BACKEND_NAMES:
        raise ValueError(f"unknown ops backend {name!r} (from backend= or RADKIT_OPS); valid: "
                         f"{', '.join(BACKEND_NAMES)}, or unset for automatic choice")
    return name


def _format(reasons: list[tuple[str, list[str]]]) -> str:
    return "; ".join(f"{n}: {', '.join(r) if r else 'ok'}" for n, r in reasons)


# (backends, requested, RADKIT_OPS, device type, dtype, k) -> (backend, fallback) of an earlier call whose
# compiled build was loaded: the checks above cost more than a GPU top-k over 1M rows, and their answer
# cannot change while the build stays loaded (re-checked on every hit; anything else takes the slow path).
_CHOICES: dict[tuple, tuple[Backend, Backend | None]] = {}


def _loaded(b: Backend) -> bool:
    return b.build_kind is None or b.build_kind in _build._LOADED


def call(backends: list[Backend], inputs: dict, backend: str | None, *args, **kwargs) -> Any:
    """Run the first backend with no reasons (or the requested one) on ``args``."""
    dev = inputs["device"]
    key = (id(backends), backend, os.environ.get("RADKIT_OPS"), getattr(dev, "type", dev), inputs["dtype"],
           inputs.get("k"))
    hit = _CHOICES.get(key)
    if hit is not None and _loaded(hit[0]):
        return _run(hit[0], args, kwargs, fallback=hit[1])
    b, fallback = _choose(backends, inputs, backend)
    if _loaded(b):
        if len(_CHOICES) > 1024:  # many distinct k: keep the table small
            _CHOICES.clear()
        _CHOICES[key] = (b, fallback)
    return _run(b, args, kwargs, fallback=fallback)


def _choose(backends: list[Backend], inputs: dict, backend: str | None) -> tuple[Backend, Backend | None]:
    """(backend to run, fallback if its build fails to load); raises when none can run."""
    want = _requested(backend)
    if want is not None:
        chosen = [b for b in backends if b.name == want]
        reasons = chosen[0].not_supported_reasons(inputs) if chosen else ["not implemented for this op"]
        if want == "reference":
            reasons = [r for r in reasons if not r.startswith("RADKIT_OPS")]
        if reasons:
            raise RuntimeError(f"{backends[0].op}: requested backend {want!r} cannot run: {'; '.join(reasons)}. "
                               f"All backends: {_format(explain(backends, inputs))}")
        return chosen[0], None
    for b in backends:
        if not b.not_supported_reasons(inputs):
            ref = next(x for x in backends if x.name == "reference")
            return b, (None if b is ref else ref)
    raise RuntimeError(f"{backends[0].op}: no backend can run these inputs: {_format(explain(backends, inputs))}")


def _run(b: Backend, args, kwargs, fallback: Backend | None) -> Any:
    if b.build_kind is None:
        return b.run(None, *args, **kwargs)
    try:
        ext = _build.load(b.build_kind)
    except RuntimeError as e:
        if fallback is None:
            raise
        warnings.warn(f"radkit.ops {b.op}: {e}; using the {fallback.name} backend", RuntimeWarning, stacklevel=3)
        return fallback.run(None, *args, **kwargs)
    return b.run(ext, *args, **kwargs)
