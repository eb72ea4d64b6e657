"""Several :class:`~bench.ncp.model.MetricNet` of one layout held as stacked tensors, to train them together.

Why: the predictor networks are small (batches of 128 rows through R -> 256 -> 3 x 128),
so a step of one network costs about as much in per-operation overhead (dispatch,
Adam's per-tensor work) as in arithmetic, and E networks trained one after another pay
the overhead E times. Stacked along a leading member axis, every Linear is one batched
matmul and one fused Adam updates all members: five networks train in about three
times one network's time (``benchmarks/bench_predictor_training.py``).
Nothing is shared between members: each member's loss depends on its own parameters and
rows only, and Adam and weight decay act elementwise, so summing the members' losses
trains each exactly as it would be trained alone (up to floating-point order).

Shapes: inputs (E, B, R) (member, row, feature), outputs (E, B, M). Parameters are the
template's, each with a leading E axis; BatchNorm keeps per-member running statistics and
updates them with ``nn.BatchNorm1d``'s own kernel (momentum, unbiased running variance).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bench.ncp.model import BitDropout, MetricNet, bit_dropout

_ELEMENTWISE = (nn.Identity, nn.SiLU, nn.ReLU)


class StackedNets:
    """``len(nets)`` networks of one layout as stacked tensors; :meth:`unstack` writes them back.

    Example:
        >>> from bench.ncp.recipe import AUTHORS
        >>> nets = [MetricNet(27, (1, 2), (0.5, 0.5), AUTHORS) for _ in range(3)]
        >>> stacked = StackedNets(nets)
        >>> stacked.forward(torch.zeros(3, 8, 27), training=True).shape
        torch.Size([3, 8, 3])
    """

    def __init__(self, nets: Sequence[MetricNet]) -> None:
        self.template = nets[0]
        layouts = {tuple((name, tuple(p.shape)) for name, p in net.state_dict().items()) for net in nets}
        if len(layouts) != 1:
            raise ValueError("StackedNets needs networks of one layout")
        per_net = [dict(net.named_parameters()) for net in nets]
        self.params = {name: torch.stack([p[name].detach() for p in per_net]).requires_grad_()
                       for name in per_net[0]}
        self.buffers = {name: torch.stack([net.get_buffer(name) for net in nets]).clone()
                        for name, _ in nets[0].named_buffers()}
        self.members = len(nets)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def forward(self, features: torch.Tensor, training: bool) -> torch.Tensor:
        """Raw features (E, B, R) -> standardised targets (E, B, M), as :meth:`MetricNet.forward`
        of each member; ``training`` uses batch statistics (and updates the running ones) and dropout."""
        net = self.template
        x = (features - self.buffers["input_shift"][:, None]) / self.buffers["input_scale"][:, None]
        x = self._layer("input_norm", net.input_norm, x, training)
        h = self._sequence("shared", net.shared, x, training)
        return torch.cat([self._sequence(f"branches.{i}", branch, h, training)
                          for i, branch in enumerate(net.branches)], dim=-1)

    def _sequence(self, prefix: str, sequence: nn.Sequential, x: torch.Tensor, training: bool) -> torch.Tensor:
        for index, layer in enumerate(sequence):
            x = self._layer(f"{prefix}.{index}", layer, x, training)
        return x

    def _layer(self, name: str, layer: nn.Module, x: torch.Tensor, training: bool) -> torch.Tensor:
        if isinstance(layer, nn.Linear):
            weight, bias = self.params[f"{name}.weight"], self.params[f"{name}.bias"]
            return torch.baddbmm(bias[:, None, :], x, weight.transpose(1, 2))
        if isinstance(layer, nn.BatchNorm1d):
            return self._batch_norm(name, layer, x, training)
        if isinstance(layer, _ELEMENTWISE):
            return layer(x)
        if isinstance(layer, BitDropout):  # elementwise, so each member draws its own mask
            return bit_dropout(x, layer.p, training)
        raise TypeError(f"StackedNets cannot stack a {type(layer).__name__} layer ({name})")

    def _batch_norm(self, name: str, layer: nn.BatchNorm1d, x: torch.Tensor, training: bool) -> torch.Tensor:
        # Rows first, then (member, feature) as BatchNorm's channels: the native kernel
        # (statistics, running update, backward) is twice as fast as composing them here.
        members, rows, width = x.shape
        y = torch.batch_norm(
            x.transpose(0, 1).reshape(rows, members * width),
            self.params[f"{name}.weight"].view(-1), self.params[f"{name}.bias"].view(-1),
            self.buffers[f"{name}.running_mean"].view(-1), self.buffers[f"{name}.running_var"].view(-1),
            training, layer.momentum, layer.eps, False,
        )
        if training:
            self.buffers[f"{name}.num_batches_tracked"] += 1
        return y.view(rows, members, width).transpose(0, 1)

    @torch.no_grad()
    def unstack(self, nets: Sequence[MetricNet]) -> None:
        """Copy member ``e``'s parameters and buffers into ``nets[e]`` (same layout as at stacking)."""
        for e, net in enumerate(nets):
            net.load_state_dict({name: t[e] for name, t in (*self.params.items(), *self.buffers.items())})
