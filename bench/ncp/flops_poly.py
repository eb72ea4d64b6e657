"""The closed-form cost model as an exact, differentiable polynomial in the code.

Continuous propagation needs d FLOPs / d code. Rather than train a FLOPs
predictor (the paper's choice, which adds its own error), we run
:func:`bench.cost.cost_of_fields` ONCE on symbolic fields: it only uses
``+``, ``-`` and ``*``, so it returns FLOPs as a polynomial (degree <= 4, e.g.
``b * n * c * c``) with exact integer coefficients. Evaluating that polynomial
is three tensor ops (gather, product, matmul), differentiable and agreeing
with :func:`bench.cost.cost_batch` on every valid code; between grid points it
interpolates smoothly, which is what a gradient step needs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Union

import numpy as np
import torch

from bench.code import FIELD_NAMES
from bench.cost import BENCHMARK_SPEC, CostSpec, cost_of_fields
from bench.ncp.workspace import Workspace

Number = Union[int, float]


class _Poly:
    """A polynomial over the code's field names: {sorted tuple of names: coefficient}."""

    def __init__(self, terms: dict[tuple[str, ...], int]) -> None:
        self.terms = {k: v for k, v in terms.items() if v != 0}

    @staticmethod
    def _lift(other: _Poly | Number) -> _Poly:
        return other if isinstance(other, _Poly) else _Poly({(): other})

    def __add__(self, other: _Poly | Number) -> _Poly:
        out: dict[tuple[str, ...], int] = defaultdict(int, self.terms)
        for k, v in self._lift(other).terms.items():
            out[k] += v
        return _Poly(out)

    __radd__ = __add__

    def __neg__(self) -> _Poly:
        return _Poly({k: -v for k, v in self.terms.items()})

    def __sub__(self, other: _Poly | Number) -> _Poly:
        return self + (-self._lift(other))

    def __rsub__(self, other: _Poly | Number) -> _Poly:
        return self._lift(other) - self

    def __mul__(self, other: _Poly | Number) -> _Poly:
        out: dict[tuple[str, ...], int] = defaultdict(int)
        for ka, va in self.terms.items():
            for kb, vb in self._lift(other).terms.items():
                out[tuple(sorted(ka + kb))] += va * vb
        return _Poly(out)

    __rmul__ = __mul__


@dataclass(frozen=True)
class FlopsPolynomial:
    """GFLOPs (or M params) of raw codes as ``sum_k coef_k * prod_j x[:, index_kj]``.

    ``index`` is (K, degree) into the code extended by a constant-1 column
    (index 27), so lower-degree monomials pad with it.

    Example:
        >>> import numpy as np
        >>> from bench.cost import cost_batch
        >>> poly = FlopsPolynomial.build()
        >>> x = np.array([[64] * 2 + [2, 2, 64] + [2] * 3 + [64] * 2 + [2] * 4 + [64] * 3 + [2] * 5 + [64] * 5])
        >>> round(float(poly(torch.tensor(x, dtype=torch.float64))[0]) * 1e9) == int(cost_batch(x)[1][0])
        True
    """

    index: torch.Tensor
    coef: torch.Tensor
    scale: float

    @classmethod
    def build(cls, spec: CostSpec = BENCHMARK_SPEC, quantity: str = "flops") -> FlopsPolynomial:
        """Trace the cost model into a polynomial; ``quantity`` is ``flops`` (-> G) or ``params`` (-> M)."""
        fields = {name: _Poly({(name,): 1}) for name in FIELD_NAMES}
        params, flops = cost_of_fields(fields, spec)
        poly, scale = (flops, 1e-9) if quantity == "flops" else (params, 1e-6)
        degree = max(len(k) for k in poly.terms)
        position = {name: i for i, name in enumerate(FIELD_NAMES)}
        one = len(FIELD_NAMES)
        index = [[position[n] for n in k] + [one] * (degree - len(k)) for k in poly.terms]
        coef = [v * scale for v in poly.terms.values()]
        return cls(torch.tensor(index, dtype=torch.long), torch.tensor(coef, dtype=torch.float64), scale)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 27) raw (continuous) codes -> (N,) GFLOPs, differentiable, in x's dtype."""
        ext = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
        return ext[:, self.index].prod(-1) @ self.coef.to(x.dtype)

    def numpy(self, x: np.ndarray) -> np.ndarray:
        """The same on a numpy array (float64)."""
        return self(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()


@dataclass(frozen=True)
class CostPolynomials:
    """GFLOPs and M params of raw codes together, with their gradients, in one pass (numpy).

    Both quantities share one list of monomials (``index`` (K, degree), as in
    :class:`FlopsPolynomial`) with a (K, 2) coefficient matrix. d(monomial)/d(factor)
    = monomial / factor, so the gradient is one more gather and one matmul; the factors
    are code fields, never 0 on clipped codes (channels >= 8, counts >= 1). Numpy because
    the search evaluates it once per step on a few codes, where per-call overhead dominates.

    Example:
        >>> import numpy as np
        >>> from bench.cost import cost_batch
        >>> polys = CostPolynomials.build()
        >>> x = np.array([[64.0] * 2 + [2, 2, 64] + [2] * 3 + [64] * 2 + [2] * 4 + [64] * 3 + [2] * 5 + [64] * 5])
        >>> values, grads = polys.value_and_grad(x)  # float64 as built; .to(np.float32) for float32 codes
        >>> params, flops = cost_batch(x.astype(np.int64))
        >>> bool(abs(values[0, 0] * 1e9 - flops[0]) < 1 and abs(values[0, 1] * 1e6 - params[0]) < 1e-3), grads.shape
        (True, (1, 2, 27))
    """

    index: np.ndarray  # (K, degree) int64 into the code extended by a constant-1 column
    coef: np.ndarray  # (K, 2): GFLOPs and M params coefficients
    gradient_map: np.ndarray  # (2 * (D + 1), K * degree): sums coef-weighted partials onto fields
    work: Workspace = field(default_factory=Workspace, compare=False, repr=False)  # per-step scratch

    @classmethod
    def build(cls, spec: CostSpec = BENCHMARK_SPEC) -> CostPolynomials:
        flops, params = FlopsPolynomial.build(spec, "flops"), FlopsPolynomial.build(spec, "params")
        degree = max(flops.index.shape[1], params.index.shape[1])
        one = len(FIELD_NAMES)
        monomials: dict[tuple[int, ...], list[float]] = {}
        for q, poly in enumerate((flops, params)):
            for row, c in zip(poly.index.tolist(), poly.coef.tolist()):
                key = tuple(sorted(row + [one] * (degree - len(row))))
                monomials.setdefault(key, [0.0, 0.0])[q] += c
        index = np.array(list(monomials), dtype=np.int64)
        coef = np.array(list(monomials.values()), dtype=np.float64)
        onehot = np.eye(one + 1)[index.reshape(-1)]  # (K * degree, D + 1)
        weighted = onehot[None] * np.repeat(coef.T, degree, axis=1)[:, :, None]  # (2, K * degree, D + 1)
        return cls(index, coef, np.ascontiguousarray(weighted.transpose(0, 2, 1).reshape(2 * (one + 1), -1)))

    def to(self, dtype: np.dtype | type) -> CostPolynomials:
        """The same polynomials with coefficients in ``dtype`` (evaluate on codes of that dtype)."""
        return CostPolynomials(self.index, self.coef.astype(dtype), self.gradient_map.astype(dtype))  # own workspace

    def _monomials(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, (k, degree) = len(x), self.index.shape
        xt = self.work.get("xt", (x.shape[1] + 1, n), x.dtype)  # code-major: row gathers are cheap
        xt[:-1] = x.T
        xt[-1] = 1
        factors = np.take(xt, self.index.reshape(-1), axis=0, out=self.work.get("factors", (k * degree, n), x.dtype))
        factors = factors.reshape(k, degree, n)
        return factors, np.prod(factors, axis=1, out=self.work.get("monomials", (k, n), x.dtype))  # (K, N)

    def values(self, x: np.ndarray) -> np.ndarray:
        """(N, 27) raw codes -> (N, 2) [GFLOPs, M params]."""
        return (self.coef.T @ self._monomials(x)[1]).T

    def value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 27) raw codes, every field >= 1 -> values (N, 2) [GFLOPs, M params] and grads (N, 2, 27)."""
        n, d = x.shape
        factors, monomials = self._monomials(x)
        values = (self.coef.T @ monomials).T  # (N, 2)
        partials = np.divide(monomials[:, None, :], factors, out=factors).reshape(-1, n)  # (K * degree, N)
        grads = (self.gradient_map @ partials).reshape(2, d + 1, n)[:, :d]  # (2, D, N)
        return values, grads.transpose(2, 0, 1)
