"""What propagation optimises, with its gradient computed in closed form.

The paper's loss on the code is

    L = sum_s w_s * smoothL1(p_s, p_s + 1) + lambda * smoothL1(f, f - 1)

with ``p_s`` a frozen predictor's standardised main-metric output and ``f``
standardised FLOPs. With the target one unit away, smooth-L1 (beta 1) has
slope exactly 1, so ``dL/dz = -sum_s w_s dp_s/dz + lambda df/dz``: propagation
ascends ``J = sum_s w_s p_s - lambda f``, and the baselines rank codes by the
same ``J`` (with exact FLOPs), so every method optimises one objective.

The gradient is written out by hand: every member network of every predictor is
folded (:func:`bench.ncp.model.fold`: BatchNorm and input standardisation into the
linear layers) and all of them are stacked, so a step is two batched matmuls forward,
two back, the activations' derivatives, and the chain rule through the log-cost
inputs (the other features are linear in the code and folded into the first layer:
:meth:`bench.ncp.features.CodeFeatures.input_map`), for any number of settings,
ensemble members and codes. :meth:`SearchObjective.autograd_loss` is the literal loss above through
the real modules and autograd, kept so tests can check the hand-written gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from bench.cost import cost_batch
from bench.errors import BenchError
from bench.ncp.encoding import CodeEncoding, codes_to_array, encoding_for
from bench.ncp.features import CodeFeatures, cost_polynomials, cost_values
from bench.ncp.flops_poly import FlopsPolynomial
from bench.ncp.model import fold
from bench.ncp.predictor import Predictor
from bench.ncp.recipe import FEATURES
from bench.space import sample_codes


@dataclass(frozen=True)
class Head:
    """One predictor output that enters the objective with coefficient ``weight``."""

    predictor: Predictor
    metric: str
    weight: float


@lru_cache(maxsize=1)
def benchmark_gflops_std() -> float:
    """Std of GFLOPs over the benchmark's 2,500 sampled codes: the unit of the FLOPs term."""
    return float(np.std(cost_batch(codes_to_array(sample_codes()))[1] / 1e9))


class _Stack:
    """Folded member networks sharing one activation, stacked for bmm (S members, U inputs).

    The inputs are ``[x, log cost]`` (:meth:`CodeFeatures.input_map`): the features' linear
    map ``input_map`` (U, R) is folded into the first layer, so no feature is computed here.
    """

    def __init__(self, activation: str, folded: list, columns: list[torch.Tensor], input_map: torch.Tensor,
                 coef: list[float], dtype: torch.dtype) -> None:
        self.swish = activation == "swish"
        w1 = torch.zeros(len(folded), input_map.shape[1], folded[0].w1.shape[0], dtype=dtype)
        for s, (f, cols) in enumerate(zip(folded, columns)):
            w1[s, cols] = f.w1.T.to(dtype)  # features this member does not use keep weight 0
        w1 = input_map.to(dtype) @ w1  # (S, U, H)
        self.w1, self.w1_back = w1.contiguous(), w1.transpose(1, 2).contiguous()
        self.b1 = torch.stack([f.b1 for f in folded]).to(dtype)[:, None]
        w2 = torch.stack([f.w2 for f in folded]).to(dtype)  # (S, B, H)
        self.w2, self.w2_back = w2.transpose(1, 2).contiguous(), w2.contiguous()
        self.b2 = torch.stack([f.b2 for f in folded]).to(dtype)[:, None]
        self.w3 = torch.stack([f.w3 for f in folded]).to(dtype)[:, :, None]  # (S, B, 1)
        self.b3 = torch.stack([f.b3 for f in folded]).to(dtype)[:, None]  # (S, 1)
        self.out_grad = (-torch.tensor(coef, dtype=dtype)[:, None, None] * self.w3.transpose(1, 2)).contiguous()

    def _act(self, a: torch.Tensor, derivative: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.swish:  # swish(a) = a s(a) = h; swish'(a) = s(a) + h (1 - s(a))
            if not derivative:
                return torch.nn.functional.silu(a), None
            s = torch.sigmoid(a)
            h = a * s
            return h, torch.addcmul(s, h, 1 - s)
        return a.clamp_min(0), (a > 0).to(a.dtype) if derivative else None

    def forward_backward(self, r: torch.Tensor, backward: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inputs (N, U) -> member outputs (S, N), and dL/dinputs (N, U) when ``backward``."""
        h1, d1 = self._act(torch.baddbmm(self.b1, r.expand(len(self.w1), -1, -1), self.w1), backward)
        h2, d2 = self._act(torch.baddbmm(self.b2, h1, self.w2), backward)
        y = torch.bmm(h2, self.w3).squeeze(-1) + self.b3
        if not backward:
            return y, None
        g1 = torch.bmm(d2 * self.out_grad, self.w2_back) * d1
        return y, torch.bmm(g1, self.w1_back).sum(0)


class SearchObjective:
    """``J = sum_heads weight * p_head - lam * f`` on standardised codes, with its gradient.

    ``heads`` are the predictor outputs that count (main metrics with their task
    weights; for NAS-Bench-201 also a learned FLOPs output with weight ``-lam``); an
    ensemble predictor's output is its members' mean. ``flops_poly`` is the exact
    closed-form FLOPs (NAS-Bench-MR) or None when FLOPs enter through a head.
    """

    def __init__(self, heads: list[Head], lam: float, flops_poly: FlopsPolynomial | None,
                 dtype: torch.dtype = torch.float32) -> None:
        if not heads:
            raise BenchError("a search objective needs at least one predictor")
        spaces = {h.predictor.space for h in heads}
        if len(spaces) != 1:
            raise BenchError(f"predictors of one search must share a code space; got {sorted(spaces)}")
        if not lam >= 0 or not np.isfinite(lam):
            raise BenchError(f"lambda={lam!r} is invalid; valid is a finite lambda >= 0 (larger trades accuracy for fewer FLOPs)")
        self.heads, self.lam, self.dtype = heads, float(lam), dtype
        space = spaces.pop()
        self.encoding: CodeEncoding = encoding_for(space)
        used = {f for h in heads for f in h.predictor.features.features}
        self.features = CodeFeatures(space, tuple(f for f in FEATURES if f in used))
        self.flops_poly = flops_poly
        self._coef = torch.tensor([h.weight for h in heads], dtype=dtype)
        self._scale = torch.tensor(self.encoding.scale, dtype=dtype)
        self._center = torch.tensor(self.encoding.center, dtype=dtype)
        input_map, cost_columns = self.features.input_map(dtype)
        self._cost_columns = torch.tensor(cost_columns, dtype=torch.long)
        self._all_cost = cost_columns == (0, 1)  # the default's: no column selection per step
        self._dim = len(self.encoding.names)
        self._stacks = self._build_stacks(input_map, dtype)
        self._cost = cost_polynomials(dtype)  # GFLOPs (the FLOPs term) and the cost features, one pass
        if flops_poly is not None:
            self._flops_unit = benchmark_gflops_std()

    def _build_stacks(self, input_map: torch.Tensor, dtype: torch.dtype) -> list[tuple[_Stack, torch.Tensor]]:
        """One stack per activation, with its (members, heads) matrix turning member outputs into head means."""
        position = {name: i for i, name in enumerate(self.features.names)}
        by_activation: dict[str, list] = {}
        for index, head in enumerate(self.heads):
            p = head.predictor
            output = p.metric_index(head.metric)
            columns = torch.tensor([position[n] for n in p.features.names])
            for net in p.members:
                entry = (fold(net, output), columns, head.weight / len(p.members), index, 1.0 / len(p.members))
                by_activation.setdefault(net.activation, []).append(entry)
        stacks = []
        for activation, entries in by_activation.items():
            stack = _Stack(activation, [e[0] for e in entries], [e[1] for e in entries], input_map,
                           [e[2] for e in entries], dtype)
            mix = torch.zeros(len(entries), len(self.heads), dtype=dtype)  # member outputs -> head means
            for s, e in enumerate(entries):
                mix[s, e[3]] = e[4]
            stacks.append((stack, mix))
        return stacks

    # ----------------------------------------------------------- forward parts
    def _raw(self, z: torch.Tensor) -> torch.Tensor:
        return z * self._scale + self._center

    def _inputs(self, x: torch.Tensor, cost: torch.Tensor | None) -> torch.Tensor:
        """Raw codes (N, D) and their cost (N, 2) -> the stacks' inputs ``[x, log cost]`` (N, U)."""
        if not len(self._cost_columns):
            return x
        return torch.cat([x, torch.log(self._select(cost))], dim=1)

    def _select(self, cost: torch.Tensor) -> torch.Tensor:
        """The used columns of cost values (N, 2) or gradients (N, 2, D)."""
        return cost if self._all_cost else cost.index_select(1, self._cost_columns)

    def heads_standardised(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) standardised codes -> standardised head outputs (N, S) (member means)."""
        x = self._raw(z)
        u = self._inputs(x, cost_values(x) if len(self._cost_columns) else None)
        return sum(stack.forward_backward(u, False)[0].T @ mix for stack, mix in self._stacks)

    def gflops(self, z: torch.Tensor) -> torch.Tensor:
        """Closed-form GFLOPs of continuous codes (N,) (NAS-Bench-MR only)."""
        assert self.flops_poly is not None
        return self.flops_poly(self._raw(z))

    def value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Head outputs (N, S) standardised, GFLOPs (N,) (NaN without a polynomial), and dL/dz (N, D)."""
        x = self._raw(z)
        logs = len(self._cost_columns)
        cost = self._cost.value_and_grad(x) if self.flops_poly is not None or logs else None
        u = self._inputs(x, cost[0] if cost is not None else None)
        y = grad_u = None
        for stack, mix in self._stacks:
            out, g = stack.forward_backward(u, True)
            y = out.T @ mix if y is None else y + out.T @ mix
            grad_u = g if grad_u is None else grad_u + g
        grad_x = grad_u[:, : self._dim]
        if logs:  # d log c / dx = c' / c
            scale = grad_u[:, self._dim :] / self._select(cost[0])
            grad_x = grad_x + torch.bmm(scale[:, None], self._select(cost[1])).squeeze(1)
        if self.flops_poly is None:
            return y, torch.full_like(z[:, 0], float("nan")), grad_x * self._scale
        grad_x = grad_x + cost[1][:, 0] * (self.lam / self._flops_unit)
        return y, cost[0][:, 0], grad_x * self._scale  # chain rule: x = z * scale + center

    # --------------------------------------------------------------- reference
    def autograd_loss(self, z: torch.Tensor) -> torch.Tensor:
        """The paper's loss, literally, through the real modules, summed over codes (checks :meth:`value_and_grad`)."""
        x = self._raw(z)
        loss = z.new_zeros(())
        for head in self.heads:
            p = head.predictor.standardised(x)[:, head.predictor.metric_index(head.metric)].to(z.dtype)
            loss = loss + head.weight * F.smooth_l1_loss(p, p.detach() + 1, reduction="sum")
        if self.flops_poly is not None:
            f = self.flops_poly(x) / self._flops_unit
            loss = loss + self.lam * F.smooth_l1_loss(f, f.detach() - 1, reduction="sum")
        return loss

    # ------------------------------------------------------------- scoring
    def score(self, x: np.ndarray, gflops: np.ndarray | None = None) -> np.ndarray:
        """``J`` of raw codes (N, D) with exact FLOPs (cost model, or ``gflops`` when given)."""
        z = torch.as_tensor(self.encoding.standardise(x), dtype=self.dtype)
        with torch.no_grad():
            y = self.heads_standardised(z)
        j = (y * self._coef).sum(1).double().numpy()
        if self.flops_poly is not None:
            if gflops is None:
                gflops = cost_batch(np.asarray(x, dtype=np.int64))[1] / 1e9
            j = j - self.lam * np.asarray(gflops) / self._flops_unit
        return j

    def head_points(self, y: torch.Tensor) -> np.ndarray:
        """Standardised head outputs (..., S) -> metric points."""
        mean = np.array([h.predictor.target_mean[h.predictor.metric_index(h.metric)] for h in self.heads])
        std = np.array([h.predictor.target_std[h.predictor.metric_index(h.metric)] for h in self.heads])
        return y.double().numpy() * std + mean
