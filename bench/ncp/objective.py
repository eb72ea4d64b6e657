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
    """Fold every head's eval-mode MLP (BatchNorm into the first layer) and stack them for bmm.

    Shapes (S heads): w1 (S, D, H), w1_back (S, H, D), b1 (S, 1, H), w2 (S, H, B),
    w2_back (S, B, H), b2 (S, 1, B), w3 (S, 1, B), b3 (S, 1).
    """
    w1, b1, w2, b2, w3, b3 = [], [], [], [], [], []
    for head in heads:
        module = head.predictor.module
        bn, first = module.input_norm, module.shared[0]
        gain = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * gain
        branch = module.branches[head.predictor.metric_index(head.metric)]
        w1.append(first.weight * gain)  # (H, D): Linear(BN(z)) == (W * gain) z + (W shift + b)
        b1.append(first.weight @ shift + first.bias)
        w2.append(branch[0].weight)  # (B, H)
        b2.append(branch[0].bias)
        w3.append(branch[2].weight[0])
        b3.append(branch[2].bias[:1])
    stack = {k: torch.stack(v).detach().to(dtype) for k, v in dict(w1=w1, b1=b1, w2=w2, b2=b2, w3=w3, b3=b3).items()}
    return {
        "w1": stack["w1"].transpose(1, 2).contiguous(), "w1_back": stack["w1"].contiguous(), "b1": stack["b1"][:, None],
        "w2": stack["w2"].transpose(1, 2).contiguous(), "w2_back": stack["w2"].contiguous(), "b2": stack["b2"][:, None],
        "w3": stack["w3"][:, None], "b3": stack["b3"],
    }


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
        self._out_grad = (self._w["w3"] * -self._coef[:, None, None]).contiguous()  # (S, 1, B)
        self._scale = torch.tensor(self.encoding.scale, dtype=dtype)
        self._center = torch.tensor(self.encoding.center, dtype=dtype)
        if flops_poly is not None:
            self._flops_unit = benchmark_gflops_std()
            self._flops_grad_scale = (self.lam / self._flops_unit) * self._scale  # chain rule: x = z * scale + center
            self._poly_flat = flops_poly.index.reshape(-1)
            self._poly_shape = tuple(flops_poly.index.shape)
            self._poly_coef_col = flops_poly.coef.to(dtype)[:, None]
            # (D+1, K*degree) one-hot: sums each monomial's partial derivatives onto its fields
            self._poly_gather_t = F.one_hot(self._poly_flat, self.encoding.dim + 1).to(dtype).T.contiguous()

    # ----------------------------------------------------------- forward parts
    def heads_standardised(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, D) -> standardised head outputs (N, S), plus both hidden activations for the gradient."""
        w = self._w
        h1 = torch.baddbmm(w["b1"], z.expand(len(self.heads), -1, -1), w["w1"]).clamp_min_(0)  # (S, N, H)
        h2 = torch.baddbmm(w["b2"], h1, w["w2"]).clamp_min_(0)  # (S, N, B)
        y = torch.bmm(h2, w["w3"].transpose(1, 2)).squeeze(-1) + w["b3"]  # (S, N)
        return y.T, h1, h2

    def gflops(self, z: torch.Tensor) -> torch.Tensor:
        """Closed-form GFLOPs of continuous codes (N,) (NAS-Bench-MR only)."""
        assert self.flops_poly is not None
        return self.flops_poly(z * self._scale + self._center)

    def value_and_grad(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Head outputs (N, S) standardised, GFLOPs (N,) (NaN without a polynomial), and dL/dz (N, D)."""
        w = self._w
        y, h1, h2 = self.heads_standardised(z)
        # ReLU derivative: sign() of the ReLU output is the 0/1 mask already in float (no bool round trip)
        g2 = h2.sign_() * self._out_grad  # dL/dh2 (loss = -J)
        g1 = torch.bmm(g2, w["w2_back"]).mul_(h1.sign_())
        grad = torch.bmm(g1, w["w1_back"]).sum(0)
        if self.flops_poly is None:
            return y, torch.full_like(z[:, 0], float("nan")), grad
        # Work code-major ((fields, N)): index_select on rows is far cheaper than a fancy-index gather.
        xt = torch.cat([(z * self._scale + self._center).T, torch.ones_like(z[:1, :1]).expand(1, len(z))])
        factors = xt.index_select(0, self._poly_flat).view(*self._poly_shape, len(z))  # (K, degree, N)
        terms = factors.prod(1) * self._poly_coef_col  # (K, N)
        # d(monomial)/d(factor) = monomial / factor: every factor is >= 1 (codes are clipped), never 0
        partial = self._poly_gather_t @ (terms[:, None, :] / factors).view(-1, len(z))  # (D + 1, N)
        grad = grad + partial[:-1].T * self._flops_grad_scale
        return y, terms.sum(0), grad

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
