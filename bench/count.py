"""Measured params and FLOPs of a real module (forward hooks), to cross-check :mod:`bench.cost`.

Counts exactly what the convention counts: convolutions (2D and 3D) and
linear layers by output elements x fan-in, their biases by output elements,
and BatchNorm by 2 x output elements; everything else counts nothing.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bench.cost import Cost

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def measure(module: nn.Module, *inputs: torch.Tensor) -> Cost:
    """Run one forward pass (batch size must be 1) and count params and FLOPs.

    Example:
        >>> from bench.nn import build_network
        >>> net = build_network("16_16-1_1_1_16-1_2_1_1_16_16-1_3_1_1_1_16_16_16-1_4_1_1_1_1_16_16_16_16-16")
        >>> measure(net, torch.zeros(1, 3, 128, 128)).flops
        40917842
    """
    flops = 0

    def conv_hook(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal flops
        fan_in = mod.weight[0].numel()  # C_in / groups * k * k (* k)
        flops += out.numel() * fan_in + (out.numel() if mod.bias is not None else 0)

    def linear_hook(mod: nn.Linear, args: tuple, out: torch.Tensor) -> None:
        nonlocal flops
        flops += out.numel() * mod.in_features + (out.numel() if mod.bias is not None else 0)

    def bn_hook(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
        nonlocal flops
        flops += 2 * out.numel()

    handles = []
    for mod in module.modules():
        if isinstance(mod, (nn.Conv2d, nn.Conv3d)):
            handles.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            handles.append(mod.register_forward_hook(linear_hook))
        elif isinstance(mod, _BATCH_NORMS):
            handles.append(mod.register_forward_hook(bn_hook))
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(*inputs)
    finally:
        module.train(was_training)
        for handle in handles:
            handle.remove()
    params = sum(math.prod(p.shape) for p in module.parameters())
    return Cost(params=params, flops=flops)
