"""What propagation optimises, with its gradient computed in closed form.

The paper's loss on the code is

    L = sum_s w_s * smoothL1(p_s, p_s + 1) + lambda * smoothL1(f, f - 1)

with ``p_s`` a frozen predictor's standardised main-metric output and ``f``
standardised FLOPs. With the target one unit away, smooth-L1 (beta 1) has
slope exactly 1, so ``dL/dz = -sum_s w_s dp_s/dz + lambda df/dz``: propagation
ascends ``J = sum_s w_s p_s - lambda f``, and the baselines rank codes by the
same ``J`` (with exact FLOPs), so every method optimises one objective.

The gradient is written out by hand (ReLU masks and matrix products over all
predictors stacked together) instead of autograd: a step is ~15 tensor ops
for any number of settings and codes, which is what makes 70 iterations take
milliseconds. :meth:`SearchObjective.autograd_loss` is the literal loss above,
kept so tests can check the hand-written gradient against autograd.
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
from bench.ncp.flops_poly import FlopsPolynomial
from bench.ncp.predictor import Predictor
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


def _stack_heads(heads: list[Head], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Fold every head's eval-mode MLP (BatchNorm into the first layer) and stack them."""
    w1, b1, w2, b2, w3, b3 = [], [], [], [], [], []
    for head in heads:
        module = head.predictor.module
        bn, first = module.input_norm, module.shared[0]
        gain = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * gain
        branch = module.branches[head.predictor.metric_index(head.metric)]
        w1.append(first.weight * gain)  # (H, D): Linear(BN(z)) == (W * gain) z + (W shift + b)
        b1.append(first.weight @ shift + first.bias)
        w2.append(branch[0].weight)
        b2.append(branch[0].bias)
        w3.append(branch[2].weight[0])
        b3.append(branch[2].bias[0])
    return {k: torch.stack(v).detach().to(dtype) for k, v in dict(w1=w1, b1=b1, w2=w2, b2=b2, w3=w3, b3=b3).items()}


class SearchObjective:
    """``J = sum_heads weight * p_head - lam * f`` on standardised codes, with its gradient.

    ``heads`` are the predictor outputs that count (main metrics with their
    task weights; for NAS-Bench-201 also a learned FLOPs output with weight
    ``-lam``). ``flops_poly`` is the exact closed-form FLOPs (NAS-Bench-MR) or
    None when FLOPs enter through a head.
    """

    def __init__(self, heads: list[Head], lam: float, flops_poly: FlopsPolynomial | None,
                 dtype: torch.dtype = torch.float32) -> None:
        if not heads:
            raise BenchError("a search objective needs at least one predictor")
        spaces = {h.predictor.space for h in heads}
        if len(spaces) != 1:
            raise BenchError(f"predictors of one search must share a code space; got {sorted(spaces)}")
        if lam < 0:
            raise BenchError(f"lambda={lam!r} is invalid; valid is lambda >= 0 (larger trades accuracy for fewer FLOPs)")
        self.heads, self.lam, self.dtype = heads, float(lam), dtype
        self.encoding: CodeEncoding = encoding_for(spaces.pop())
        self.flops_poly = flops_poly
        self._w = _stack_heads(heads, dtype)
        self._coef = torch.tensor([h.weight for h in heads], dtype=dtype)
        self._scale = torch.tensor(self.encoding.scale, dtype=dtype)
        self._center = torch.tensor(self.encoding.center, dtype=dtype)
        if flops_poly is not None:
            self._flops_unit = benchmark_gflops_std()
            self._poly_index = flops_poly.index
            self._poly_coef = flops_poly.coef.to(dtype)
            # one-hot (K*degree, D+1): scatters each monomial's partial derivatives onto its fields
            k, deg = flops_poly.index.shape
            self._poly_scatter = F.one_hot(flops_poly.index.reshape(-1), self.encoding.dim + 1).to(dtype)

    # ----------------------------------------------------------- forward parts
    def heads_standardised(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, D) -> standardised head outputs (N, S), plus the ReLU pre-activations for the gradient."""
        w = self._w
        a1 = torch.einsum("nd,shd->nsh", z, w["w1"]) + w["b1"]
        a2 = torch.einsum("nsh,sbh->nsb", a1.clamp_min(0), w["w2"]) + w["b2"]
        return (a2.clamp_min(0) * w["w3"]).sum(-1) + w["b3"], a1, a2

    def gflops(self, z: torch.Tensor) -> torch.Tensor:
        """Closed-form GFLOPs of continuous codes (N,) (NAS-Bench-MR only)."""
        assert self.flops_poly is not None
        return self.flops_poly(z * self._scale + self._center)

    def value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Head outputs (N, S) standardised, GFLOPs (N,) (NaN without a polynomial), and dL/dz (N, D)."""
        w = self._w
        y, a1, a2 = self.heads_standardised(z)
        g2 = (a2 > 0) * (w["w3"] * -self._coef[:, None])  # dL/dh2 through ReLU: loss = -J
        g1 = torch.einsum("nsb,sbh->nsh", g2, w["w2"]) * (a1 > 0)
        grad = torch.einsum("nsh,shd->nd", g1, w["w1"])
        if self.flops_poly is None:
            return y, torch.full_like(z[:, 0], float("nan")), grad
        x = z * self._scale + self._center
        factors = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)[:, self._poly_index]  # (N, K, deg)
        gflops = factors.prod(-1) @ self._poly_coef
        # d(prod)/d(factor j) = product of the other factors (prefix * suffix products)
        ones = torch.ones_like(factors[:, :, :1])
        prefix = torch.cat([ones, factors[:, :, :-1]], dim=2).cumprod(2)
        suffix = torch.cat([factors[:, :, 1:], ones], dim=2).flip(2).cumprod(2).flip(2)
        partial = (prefix * suffix * self._poly_coef[:, None]).reshape(len(z), -1) @ self._poly_scatter
        grad = grad + (self.lam / self._flops_unit) * partial[:, :-1] * self._scale
        return y, gflops, grad

    # --------------------------------------------------------------- reference
    def autograd_loss(self, z: torch.Tensor) -> torch.Tensor:
        """The paper's loss, literally, summed over codes: for checking :meth:`value_and_grad`."""
        y, _, _ = self.heads_standardised(z)
        loss = (self._coef * F.smooth_l1_loss(y, y.detach() + 1, reduction="none")).sum()
        if self.flops_poly is not None:
            f = self.gflops(z) / self._flops_unit
            loss = loss + self.lam * F.smooth_l1_loss(f, f.detach() - 1, reduction="sum")
        return loss

    # ------------------------------------------------------------- scoring
    def score(self, x: np.ndarray, gflops: np.ndarray | None = None) -> np.ndarray:
        """``J`` of raw codes (N, D) with exact FLOPs (cost model, or ``gflops`` when given)."""
        z = torch.as_tensor(self.encoding.standardise(x), dtype=self.dtype)
        with torch.no_grad():
            y, _, _ = self.heads_standardised(z)
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
