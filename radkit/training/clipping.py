"""Gradient-norm clipping that also works under FSDP, for radkit's LightningModules.

Lightning's FSDP precision plugin refuses ``gradient_clip_algorithm="norm"`` because
``torch.nn.utils.clip_grad_norm_`` over sharded parameters computes a per-rank norm; the
root FSDP module's own ``clip_grad_norm_`` reduces the norm across ranks first.
"""

from __future__ import annotations

import lightning as L


def clip_gradients(module: L.LightningModule, optimizer, gradient_clip_val, gradient_clip_algorithm) -> None:
    """Body of ``configure_gradient_clipping``: the root FSDP module clips by the global norm; any
    other strategy goes through Lightning's ``clip_gradients`` (norm or value, as configured)."""
    from lightning.pytorch.strategies import FSDPStrategy

    if not gradient_clip_val:
        return
    strategy = module.trainer.strategy
    if isinstance(strategy, FSDPStrategy):
        if gradient_clip_algorithm not in (None, "norm"):
            raise ValueError(f"gradient_clip_algorithm={gradient_clip_algorithm!r} with FSDP; valid: norm "
                             "(FSDP clips by the global norm across shards)")
        strategy.model.clip_grad_norm_(float(gradient_clip_val))
        return
    module.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val,
                          gradient_clip_algorithm=gradient_clip_algorithm)
