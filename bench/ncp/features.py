"""A predictor's input: the raw code plus closed-form features of it, with their gradient.

Features (names in :data:`bench.ncp.recipe.FEATURES`), all functions of the raw code x:

- ``code``: x itself (27 integers, or NAS-Bench-201's 30-dim one-hot);
- ``log_flops`` / ``log_params``: log GFLOPs and log M params of the code in the
  benchmark's convention (SPEC section 3), from the exact cost model traced to a
  polynomial (:mod:`bench.ncp.flops_poly`), so they are exact on grid codes and
  smooth between them;
- ``stage_sums``: per stage s = 1..4, the sum of its branch widths ``sum_k c{s}_k`` and
  of its branch depths ``sum_k n{s}_k`` (8 values).

Propagation needs d(prediction)/d(code): :meth:`CodeFeatures.input_map` writes the
features as a constant matrix applied to the code and the logs of its cost, so the
search objective folds the matrix into the first layer and differentiates the logs in
closed form (the polynomials' partial derivatives): a predictor with cost features stays
differentiable with respect to the code at no autograd cost.
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


@lru_cache(maxsize=1)
def cost_polynomials() -> CostPolynomials:
    """GFLOPs and M params of the benchmark's convention as float64 polynomials (built once)."""
    return CostPolynomials.build()


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


def cost_values(x: torch.Tensor) -> torch.Tensor:
    """(N, 2) GFLOPs and M params of raw codes, differentiable by autograd."""
    polys = cost_polynomials()
    index, coef = torch.from_numpy(polys.index), torch.as_tensor(polys.coef, dtype=x.dtype)
    xt = torch.cat([x.T, torch.ones_like(x[:1, :1]).expand(1, len(x))])  # code-major: row gathers are cheap
    monomials = xt.index_select(0, index.reshape(-1)).view(*index.shape, len(x)).prod(1)  # (K, N)
    return (coef.T @ monomials).T


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
        """Raw (continuous) codes (N, D) -> features (N, R), in x's dtype; differentiable (autograd).

        Computed as :meth:`input_map` says, so the layout is defined once."""
        if len(self.features) == 1:
            return x
        a, cost_columns = self.input_map(x.dtype)
        logs = [torch.log(cost_values(x)[:, list(cost_columns)])] if cost_columns else []
        return torch.cat([x, *logs], dim=1) @ a

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """The same on a numpy array (float64 in, float64 out)."""
        return self(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()

    def input_map(self, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, tuple[int, ...]]:
        """The features as a linear map of ``[x, log cost]``: returns ``(A, cost_columns)`` with
        features = ``cat([x, log(cost[:, cost_columns])], 1) @ A``, A (D + L, R), where cost is
        :func:`cost_values` ([GFLOPs, M params]) and L = ``len(cost_columns)``.

        Why: every feature but the two logs is linear in the code, so a consumer can fold A into
        its first layer and handle only the logs' chain rule (the search objective does).

        Example:
            >>> a, cols = CodeFeatures("nasbench_mr", ("code", "log_params", "stage_sums")).input_map()
            >>> tuple(a.shape), cols
            ((28, 36), (1,))
        """
        d = len(encoding_for(self.space).names)
        cost_columns = tuple(COST_COLUMN[f] for f in self.features[1:] if f in COST_COLUMN)
        a = torch.zeros(d + len(cost_columns), self.width, dtype=dtype)
        a[:d, :d] = torch.eye(d, dtype=dtype)
        column, logs = d, 0
        for f in self.features[1:]:
            if f == "stage_sums":
                matrix = _stage_matrix(dtype)
                a[:d, column : column + matrix.shape[1]] = matrix
                column += matrix.shape[1]
            else:
                a[d + logs, column] = 1.0
                logs, column = logs + 1, column + 1
        return a, cost_columns
