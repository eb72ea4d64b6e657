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
ensemble members and codes. That hot path is numpy (codes, outputs and gradients are
numpy arrays): one start is overhead-bound, and numpy's per-operation cost on CPU is about a
third of torch's. :meth:`SearchObjective.autograd_loss` is the literal loss above through the
real torch modules and autograd, kept so tests can check the hand-written gradient.
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
from bench.ncp.features import CodeFeatures, cost_polynomials
from bench.ncp.flops_poly import FlopsPolynomial
from bench.ncp.model import fold
from bench.ncp.predictor import Predictor
from bench.ncp.recipe import FEATURES
from bench.ncp.workspace import Workspace
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
    """Folded member networks sharing one activation, stacked for batched matmuls (S members, U inputs).

    The inputs are ``[x, log cost]`` (:meth:`CodeFeatures.input_map`): the features' linear
    map ``input_map`` (U, R) is folded into the first layer, so no feature is computed here.
    Arrays are numpy: a step on a few codes is a few dozen tiny operations, and numpy's
    per-call overhead is a third of torch's on CPU (``benchmarks/bench_ncp.py``); for a
    batch of codes the intermediates are written into a :class:`Workspace` (not for
    concurrent use).
    """

    def __init__(self, activation: str, folded: list, columns: list[np.ndarray], input_map: np.ndarray,
                 coef: list[float], dtype: np.dtype) -> None:
        self.swish = activation == "swish"
        w1 = np.zeros((len(folded), input_map.shape[1], folded[0].w1.shape[0]))
        for s, (f, cols) in enumerate(zip(folded, columns)):
            w1[s, cols] = f.w1.detach().double().numpy().T  # features this member does not use keep weight 0
        w1 = (input_map @ w1).astype(dtype)  # (S, U, H)
        self.w1, self.w1_back = np.ascontiguousarray(w1), np.ascontiguousarray(w1.transpose(0, 2, 1))

        def stack(name: str) -> np.ndarray:
            return np.stack([getattr(f, name).detach().double().numpy() for f in folded]).astype(dtype)

        self.b1 = stack("b1")[:, None]  # (S, 1, H)
        w2 = stack("w2")  # (S, B, H)
        self.w2, self.w2_back = np.ascontiguousarray(w2.transpose(0, 2, 1)), w2
        self.b2 = stack("b2")[:, None]
        self.w3 = stack("w3")[:, :, None]  # (S, B, 1)
        self.b3 = stack("b3")[:, None]  # (S, 1)
        self.out_grad = np.ascontiguousarray(-np.asarray(coef, dtype=dtype)[:, None, None] * self.w3.transpose(0, 2, 1))
        self._work = Workspace()

    def _act(self, a: np.ndarray, derivative: bool, layer: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Activation of pre-activations ``a`` and, if asked, its derivative (written over ``a``)."""
        h = self._work.get("h" + layer, a.shape, a.dtype)
        if self.swish:  # swish(a) = a s(a) = h; swish'(a) = s(a) + h (1 - s(a))
            # exp's argument clipped to +-60: no overflow, and no denormals (underflow makes
            # numpy's exp many times slower); beyond it s(a) is 0 or 1 to within 1e-26 anyway
            s = np.clip(a, -60, 60, out=self._work.get("s" + layer, a.shape, a.dtype))
            np.negative(s, out=s)
            np.exp(s, out=s)
            s += 1
            np.reciprocal(s, out=s)
            np.multiply(a, s, out=h)
            if not derivative:
                return h, None
            d = np.subtract(1, s, out=a)
            d *= h
            d += s
            return h, d
        np.maximum(a, 0, out=h)
        if not derivative:
            return h, None
        return h, np.greater(a, 0, out=a)  # 1.0 / 0.0 written over a

    def forward_backward(self, r: np.ndarray, backward: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Inputs (N, U) -> member outputs (S, N), and dL/dinputs (N, U) when ``backward``
        (both fresh arrays; the intermediates live in the stack's workspace)."""
        n, members, dtype = len(r), len(self.w1), self.w1.dtype
        a1 = np.matmul(r, self.w1, out=self._work.get("a1", (members, n, self.w1.shape[2]), dtype))
        a1 += self.b1
        h1, d1 = self._act(a1, backward, "1")
        a2 = np.matmul(h1, self.w2, out=self._work.get("a2", (members, n, self.w2.shape[2]), dtype))
        a2 += self.b2
        h2, d2 = self._act(a2, backward, "2")
        y = (h2 @ self.w3)[..., 0] + self.b3
        if not backward:
            return y, None
        d2 *= self.out_grad
        g1 = np.matmul(d2, self.w2_back, out=self._work.get("g1", a1.shape, dtype))
        g1 *= d1
        g0 = np.matmul(g1, self.w1_back, out=self._work.get("g0", (members, n, self.w1.shape[1]), dtype))
        return y, g0.sum(0)


class SearchObjective:
    """``J = sum_heads weight * p_head - lam * f`` on standardised codes, with its gradient.

    ``heads`` are the predictor outputs that count (main metrics with their task
    weights; for NAS-Bench-201 also a learned FLOPs output with weight ``-lam``); an
    ensemble predictor's output is its members' mean. ``flops_poly`` is the exact
    closed-form FLOPs (NAS-Bench-MR) or None when FLOPs enter through a head.
    """

    def __init__(self, heads: list[Head], lam: float, flops_poly: FlopsPolynomial | None,
                 dtype: np.dtype | type = np.float32) -> None:
        if not heads:
            raise BenchError("a search objective needs at least one predictor")
        spaces = {h.predictor.space for h in heads}
        if len(spaces) != 1:
            raise BenchError(f"predictors of one search must share a code space; got {sorted(spaces)}")
        if not lam >= 0 or not np.isfinite(lam):
            raise BenchError(f"lambda={lam!r} is invalid; valid is a finite lambda >= 0 (larger trades accuracy for fewer FLOPs)")
        self.heads, self.lam, self.dtype = heads, float(lam), np.dtype(dtype)
        space = spaces.pop()
        self.encoding: CodeEncoding = encoding_for(space)
        used = {f for h in heads for f in h.predictor.features.features}
        self.features = CodeFeatures(space, tuple(f for f in FEATURES if f in used))
        self.flops_poly = flops_poly
        self._coef = np.array([h.weight for h in heads])
        self._scale = self.encoding.scale.astype(self.dtype)
        self._center = self.encoding.center.astype(self.dtype)
        input_map, cost_columns = self.features.input_map()
        self._cost_columns = list(cost_columns)
        self._all_cost = cost_columns == (0, 1)  # the default's: no column selection per step
        self._dim = len(self.encoding.names)
        self._stacks = self._build_stacks(input_map.numpy())
        self._cost = cost_polynomials().to(self.dtype)  # GFLOPs (the FLOPs term) and the cost features, one pass
        if flops_poly is not None:
            self._flops_unit = benchmark_gflops_std()

    def _build_stacks(self, input_map: np.ndarray) -> list[tuple[_Stack, np.ndarray]]:
        """One stack per activation, with its (members, heads) matrix turning member outputs into head means."""
        position = {name: i for i, name in enumerate(self.features.names)}
        by_activation: dict[str, list] = {}
        for index, head in enumerate(self.heads):
            p = head.predictor
            output = p.metric_index(head.metric)
            columns = np.array([position[n] for n in p.features.names])
            for net in p.members:
                entry = (fold(net, output), columns, head.weight / len(p.members), index, 1.0 / len(p.members))
                by_activation.setdefault(net.activation, []).append(entry)
        stacks = []
        for activation, entries in by_activation.items():
            stack = _Stack(activation, [e[0] for e in entries], [e[1] for e in entries], input_map,
                           [e[2] for e in entries], self.dtype)
            mix = np.zeros((len(entries), len(self.heads)), dtype=self.dtype)  # member outputs -> head means
            for s, e in enumerate(entries):
                mix[s, e[3]] = e[4]
            stacks.append((stack, mix))
        return stacks

    # ----------------------------------------------------------- forward parts
    def _raw(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=self.dtype) * self._scale + self._center

    def _inputs(self, x: np.ndarray, cost: np.ndarray | None) -> np.ndarray:
        """Raw codes (N, D) and their cost (N, 2) -> the stacks' inputs ``[x, log cost]`` (N, U)."""
        if not self._cost_columns:
            return x
        return np.concatenate([x, np.log(self._select(cost))], axis=1)

    def _select(self, cost: np.ndarray) -> np.ndarray:
        """The used columns of cost values (N, 2) or gradients (N, 2, D)."""
        return cost if self._all_cost else cost[:, self._cost_columns]

    def heads_standardised(self, z: np.ndarray) -> np.ndarray:
        """(N, D) standardised codes -> standardised head outputs (N, S) (member means)."""
        x = self._raw(z)
        u = self._inputs(x, self._cost.values(x) if self._cost_columns else None)
        return sum(stack.forward_backward(u, False)[0].T @ mix for stack, mix in self._stacks)

    def value_and_grad(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Standardised codes (N, D) -> head outputs (N, S) standardised, GFLOPs (N,) (NaN without a
        polynomial) and dL/dz (N, D), all numpy in the objective's dtype."""
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
            grad_x = grad_x + (scale[:, None] @ self._select(cost[1]))[:, 0]
        if self.flops_poly is None:
            return y, np.full(len(x), np.nan, dtype=self.dtype), grad_x * self._scale
        grad_x = grad_x + cost[1][:, 0] * self.dtype.type(self.lam / self._flops_unit)
        return y, cost[0][:, 0], grad_x * self._scale  # chain rule: x = z * scale + center

    # --------------------------------------------------------------- reference
    def autograd_loss(self, z: torch.Tensor) -> torch.Tensor:
        """The paper's loss, literally, through the real modules, summed over codes (checks :meth:`value_and_grad`)."""
        x = z * torch.as_tensor(self.encoding.scale, dtype=z.dtype) + torch.as_tensor(self.encoding.center, dtype=z.dtype)
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
        y = self.heads_standardised(self.encoding.standardise(x))
        j = (y.astype(np.float64) * self._coef).sum(1)
        if self.flops_poly is not None:
            if gflops is None:
                gflops = cost_batch(np.asarray(x, dtype=np.int64))[1] / 1e9
            j = j - self.lam * np.asarray(gflops) / self._flops_unit
        return j

    def head_points(self, y: np.ndarray) -> np.ndarray:
        """Standardised head outputs (..., S) -> metric points (float64)."""
        mean = np.array([h.predictor.target_mean[h.predictor.metric_index(h.metric)] for h in self.heads])
        std = np.array([h.predictor.target_std[h.predictor.metric_index(h.metric)] for h in self.heads])
        return np.asarray(y, dtype=np.float64) * std + mean
