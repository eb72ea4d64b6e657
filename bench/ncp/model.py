"""The predictor network (the authors' ``models/mlp.py`` layout) and its folded eval-mode form.

Input: raw features (N, R) (:mod:`bench.ncp.features`), standardised by fixed buffers,
then BatchNorm -> Linear(hidden) -> [BatchNorm] -> activation -> Dropout, then one branch
per metric group: Linear(branch) -> [BatchNorm] -> activation -> Dropout -> Linear(k).
Outputs (N, M) are standardised targets, in the order of the groups' metrics.

:func:`fold` turns one output of an eval-mode network into four plain arrays
(BatchNorm and the input standardisation folded into the linear layers), which is
what the search objective stacks and differentiates by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bench.ncp.recipe import PredictorRecipe

ACTIVATIONS = {"relu": nn.ReLU, "swish": nn.SiLU}  # SiLU is swish: x * sigmoid(x), the authors' Swish


_SHIFTS = torch.arange(32, dtype=torch.int32)


def bit_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout of rate ``p`` that draws one random BIT per unit when p = 0.5 (the recipes' rate).

    On CPU, ``torch.bernoulli`` (``nn.Dropout``) costs ~25 ns per unit, most of a
    training step of these small networks; 32 units per random int32 make training
    several times faster (measured in docs/search.md). Other rates use ``nn.functional.dropout``.
    Any shape; every unit draws its own bit.
    """
    if not training or p == 0:
        return x
    if p != 0.5:
        return nn.functional.dropout(x, p, training=True)
    n = x.numel()
    words = torch.randint(-(2**31), 2**31 - 1, ((n + 31) // 32,), dtype=torch.int32)
    keep = ((words[:, None] >> _SHIFTS) & 1).reshape(-1)[:n].view_as(x)
    return x * keep.to(x.dtype).mul_(2.0)


class BitDropout(nn.Module):
    """:func:`bit_dropout` as a layer."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return bit_dropout(x, self.p, self.training)


class MetricNet(nn.Module):
    """Shared trunk + one branch per metric group.

    ``groups`` are the number of outputs of each branch; ``group_dropout`` the
    dropout of each branch (the authors': 0.5 main, 0.5 other metrics, 0 cost).

    Example:
        >>> from bench.ncp.recipe import AUTHORS
        >>> net = MetricNet(27, (1, 2, 2), (0.5, 0.5, 0.0), AUTHORS).eval()
        >>> net(torch.zeros(4, 27)).shape
        torch.Size([4, 5])
    """

    def __init__(self, in_dim: int, groups: tuple[int, ...], group_dropout: tuple[float, ...],
                 recipe: PredictorRecipe) -> None:
        super().__init__()
        act = ACTIVATIONS[recipe.activation]
        self.register_buffer("input_shift", torch.zeros(in_dim))
        self.register_buffer("input_scale", torch.ones(in_dim))
        self.input_norm = nn.BatchNorm1d(in_dim)
        self.shared = nn.Sequential(
            nn.Linear(in_dim, recipe.hidden), nn.BatchNorm1d(recipe.hidden) if recipe.hidden_bn else nn.Identity(),
            act(), BitDropout(recipe.dropout),
        )
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Linear(recipe.hidden, recipe.branch),
                nn.BatchNorm1d(recipe.branch) if recipe.hidden_bn else nn.Identity(),
                act(), BitDropout(p), nn.Linear(recipe.branch, k),
            )
            for k, p in zip(groups, group_dropout)
        )
        self.activation = recipe.activation
        self.groups = tuple(groups)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h = self.shared(self.input_norm((features - self.input_shift) / self.input_scale))
        return torch.cat([branch(h) for branch in self.branches], dim=1)


@dataclass(frozen=True)
class FoldedOutput:
    """One output of an eval-mode :class:`MetricNet` as ``y = w3 . act(w2 act(w1 r + b1) + b2) + b3``.

    Shapes: w1 (H, R), b1 (H,), w2 (B, H), b2 (B,), w3 (B,), b3 () on raw features r.
    """

    activation: str
    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor
    w3: torch.Tensor
    b3: torch.Tensor


def _bn_affine(layer: nn.Module, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(layer, nn.BatchNorm1d):
        gain = layer.weight / torch.sqrt(layer.running_var + layer.eps)
        return gain, layer.bias - layer.running_mean * gain
    return torch.ones(width), torch.zeros(width)


@torch.no_grad()
def fold(net: MetricNet, output: int) -> FoldedOutput:
    """Output ``output`` (0-based, over all groups) of ``net`` in eval mode, folded (see :class:`FoldedOutput`)."""
    group, offset = 0, output
    while offset >= net.groups[group]:
        offset -= net.groups[group]
        group += 1
    a0, c0 = _bn_affine(net.input_norm, net.input_norm.num_features)
    first = net.shared[0]
    a1, c1 = _bn_affine(net.shared[1], first.out_features)
    inv = a0 / net.input_scale  # u = (r - shift) / scale, then BatchNorm: a0 u + c0
    w1 = a1[:, None] * first.weight * inv[None, :]
    b1 = a1 * (first.weight @ (c0 - inv * net.input_shift) + first.bias) + c1
    branch = net.branches[group]
    mid, last = branch[0], branch[4]
    a2, c2 = _bn_affine(branch[1], mid.out_features)
    return FoldedOutput(
        net.activation, w1, b1, a2[:, None] * mid.weight, a2 * mid.bias + c2, last.weight[offset], last.bias[offset],
    )
