"""BatchNorm synchronised across DDP ranks on ANY device (torch's SyncBatchNorm is GPU-only).

On CUDA the loop uses ``torch.nn.SyncBatchNorm`` (fused kernels). On the CPU
(gloo ranks: tests, debugging) :class:`CrossRankBatchNorm` all-reduces the
per-channel sum, sum of squares and count with a differentiable all-reduce, so
N ranks with B/N samples each normalise exactly as one process with B samples:
that is what lets a 2-rank CPU run reproduce a 1-rank run.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


def _all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable sum over ranks (its backward sums the gradients over ranks)."""
    with warnings.catch_warnings():
        # Deprecated in favour of a private module; this public one still has the autograd rule we need.
        warnings.simplefilter("ignore", FutureWarning)
        return dist_fn.all_reduce(tensor)


class CrossRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the union of every rank's batch (any input rank >= 2, any device)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        xf = x.float()
        shape = [1, channels] + [1] * (x.dim() - 2)
        count = torch.full((1,), xf.numel() / channels, dtype=torch.float32, device=x.device)
        # Two passes (mean, then squared deviations) as native BatchNorm: E[x^2] - E[x]^2 cancels
        # catastrophically when the variance is small, e.g. on the 1x1 lowest branch of small inputs.
        first = _all_reduce(torch.cat([xf.sum(dims), count]))
        total = first[-1]
        mean = first[:channels] / total
        var = _all_reduce((xf - mean.view(shape)).pow(2).sum(dims)) / total
        with torch.no_grad():
            momentum = self.momentum if self.momentum is not None else 0.1
            self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
            self.running_var.mul_(1 - momentum).add_(momentum * var.detach() * total / (total - 1).clamp(min=1))
            self.num_batches_tracked.add_(1)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_cross_rank_bn(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm{1,2,3}d in ``module`` by :class:`CrossRankBatchNorm`, keeping its state."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CrossRankBatchNorm):
        new = CrossRankBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        new.load_state_dict(module.state_dict())
        return new
    for name, child in module.named_children():
        setattr(module, name, convert_cross_rank_bn(child))
    return module
