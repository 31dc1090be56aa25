"""A probe: the per-unit mean and std of one module's input on a fixed batch, taken between training steps in
train mode (batch statistics, noisy BN's noise) while leaving the model exactly as training left it."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def input_stats(model: nn.Module, module_name: str, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) over the batch of `module_name`'s input for the fixed batch `x`, per unit (channel).

    A train-mode forward updates BN's running statistics and advances noisy BN's generators: both are put
    back, so the next training step is the one it would have been (its noise is the noise this probe saw)."""
    module = dict(model.named_modules())[module_name]
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    generators = [(m, m.generator.get_state()) for m in model.modules() if isinstance(getattr(m, "generator", None),
                                                                                     torch.Generator)]
    seen = {}
    handle = module.register_forward_pre_hook(lambda _m, args: seen.__setitem__("x", args[0]))
    was_training = model.training
    try:
        model.train()
        model(x)
    finally:
        handle.remove()
        model.train(was_training)
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
        for m, state in generators:
            m.generator.set_state(state)
    inp = seen["x"].flatten(2) if seen["x"].dim() > 2 else seen["x"].unsqueeze(-1)  # [N, C, positions]
    per_unit = inp.transpose(0, 1).reshape(inp.shape[1], -1)
    return per_unit.mean(1).cpu().numpy(), per_unit.std(1).cpu().numpy()
