"""A predictor's input: the raw code plus closed-form features of it, with their gradient.

Features (names in :data:`bench.ncp.recipe.FEATURES`), all functions of the raw code x:

- ``code``: x itself (27 integers, or NAS-Bench-201's 30-dim one-hot);
- ``log_flops`` / ``log_params``: log GFLOPs and log M params of the code in the
  benchmark's convention (SPEC section 3), from the exact cost model traced to a
  polynomial (:mod:`bench.ncp.flops_poly`), so they are exact on grid codes and
  smooth between them;
- ``stage_sums``: per stage s = 1..4, the sum of its branch widths ``sum_k c{s}_k`` and
  of its branch depths ``sum_k n{s}_k`` (8 values).

Propagation needs d(prediction)/d(code): :meth:`CodeFeatures.backward` maps a gradient
with respect to the features back to the raw code (chain rule, closed form: the
polynomials' partial derivatives and a constant matrix), so a predictor with cost
features stays differentiable with respect to the code at no autograd cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from bench.code import FIELD_NAMES, NUM_STAGES
from bench.errors import BenchError
from bench.ncp.encoding import encoding_for
from bench.ncp.flops_poly import CostPolynomials
from bench.ncp.recipe import FEATURES


@lru_cache(maxsize=4)
def cost_polynomials(dtype: torch.dtype = torch.float64) -> CostPolynomials:
    """GFLOPs and M params of the benchmark's convention as polynomials in ``dtype`` (built once)."""
    return CostPolynomials.build().to(dtype)


@lru_cache(maxsize=4)
def _stage_matrix(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(27, 8) 0/1 matrix: code -> per-stage (channel sum, depth sum)."""
    matrix = np.zeros((len(FIELD_NAMES), 2 * NUM_STAGES))
    for s in range(1, NUM_STAGES + 1):
        for k in range(1, s + 1):
            matrix[FIELD_NAMES.index(f"c{s}_{k}"), 2 * (s - 1)] = 1.0
            matrix[FIELD_NAMES.index(f"n{s}_{k}"), 2 * (s - 1) + 1] = 1.0
    return torch.from_numpy(matrix).to(dtype)


COST_COLUMN = {"log_flops": 0, "log_params": 1}


def _cost_values(x: torch.Tensor) -> torch.Tensor:
    """(N, 2) GFLOPs and M params of raw codes, differentiable by autograd."""
    polys = cost_polynomials(x.dtype)
    xt = torch.cat([x.T, torch.ones_like(x[:1, :1]).expand(1, len(x))])  # code-major: row gathers are cheap
    monomials = xt.index_select(0, polys.index.reshape(-1)).view(*polys.index.shape, len(x)).prod(1)  # (K, N)
    return (polys.coef.T @ monomials).T


@dataclass(frozen=True)
class CodeFeatures:
    """The feature map of one space: raw codes (N, D) -> features (N, R), and its backward.

    Example:
        >>> f = CodeFeatures("nasbench_mr", ("code", "log_flops", "stage_sums"))
        >>> f.width, f.names[27], f.names[-1]
        (36, 'log_gflops', 'n4_sum')
    """

    space: str
    features: tuple[str, ...] = ("code",)

    def __post_init__(self) -> None:
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown or not self.features or self.features[0] != "code":
            raise BenchError(f"features {list(self.features)} invalid; valid is 'code' first, then any of {list(FEATURES[1:])}")
        if self.space != "nasbench_mr" and self.features != ("code",):
            raise BenchError(f"features {list(self.features[1:])} are defined for the nasbench_mr space only, not {self.space!r}")

    @property
    def names(self) -> tuple[str, ...]:
        names = list(encoding_for(self.space).names)
        for f in self.features[1:]:
            if f == "log_flops":
                names.append("log_gflops")
            elif f == "log_params":
                names.append("log_params_m")
            else:
                names += [f"{kind}{s}_sum" for s in range(1, NUM_STAGES + 1) for kind in ("c", "n")]
        return tuple(names)

    @property
    def width(self) -> int:
        return len(self.names)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Raw (continuous) codes (N, D) -> features (N, R), in x's dtype; differentiable (autograd)."""
        parts = [x]
        if self.features[1:]:
            cost = _cost_values(x) if {"log_flops", "log_params"} & set(self.features) else None
            for f in self.features[1:]:
                if f == "stage_sums":
                    parts.append(x @ _stage_matrix(x.dtype))
                else:
                    parts.append(torch.log(cost[:, COST_COLUMN[f]])[:, None])
        return torch.cat(parts, dim=1)

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """The same on a numpy array (float64 in, float64 out)."""
        return self(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()

    def value_and_backward(self, x: torch.Tensor, cost: tuple[torch.Tensor, torch.Tensor] | None = None
                           ) -> tuple[torch.Tensor, FeatureJacobian]:
        """Features of x (N, R) and their Jacobian (see :class:`FeatureJacobian`); no autograd.

        ``cost`` is :meth:`CostPolynomials.value_and_grad` of x when the caller has it already.
        """
        if len(self.features) == 1:  # the code alone: identity Jacobian
            return x, FeatureJacobian(x.shape[1], ())
        parts, pieces = [x], []
        for f in self.features[1:]:
            if f == "stage_sums":
                matrix = _stage_matrix(x.dtype)
                parts.append(x @ matrix)
                pieces.append(("linear", matrix))
            else:
                values, grads = cost if cost is not None else cost_polynomials(x.dtype).value_and_grad(x)
                q = COST_COLUMN[f]
                parts.append(torch.log(values[:, q : q + 1]))
                pieces.append(("log", grads[:, q] / values[:, q : q + 1]))  # d log p / dx = p' / p
        return torch.cat(parts, dim=1), FeatureJacobian(x.shape[1], tuple(pieces))


@dataclass(frozen=True)
class FeatureJacobian:
    """The features' Jacobian at some codes, applied to a gradient (vector-Jacobian product)."""

    dim: int
    pieces: tuple[tuple[str, torch.Tensor], ...]

    def __call__(self, grad_features: torch.Tensor) -> torch.Tensor:
        """dL/dfeatures (N, R) -> dL/dx (N, D)."""
        if not self.pieces:
            return grad_features
        grad = grad_features[:, : self.dim]
        column = self.dim
        for kind, value in self.pieces:
            if kind == "linear":
                width = value.shape[1]
                grad = grad + grad_features[:, column : column + width] @ value.T
                column += width
            else:
                grad = grad + grad_features[:, column : column + 1] * value
                column += 1
        return grad
