"""NAS-Bench-201 propagation: continuous steps on the 6 x 5 one-hot, read out by per-edge argmax.

The code of a cell is one one-hot per edge, i.e. a vertex of a product of 6
probability simplices. Propagation moves a continuous code by gradient steps on the
standardised code (:class:`bench.ncp.objective.SearchObjective`), then puts every
edge back on its simplex (Euclidean projection: entries >= 0 summing to 1), so the
code never leaves the region the predictor was trained around (clipping each entry
to [0, 1] instead lets an edge hold several ops at 1 or none at all).

Every ``readout_every`` iterations (and at the end) the per-edge argmax is READ OUT as
a candidate cell; the continuous code itself is NOT reset to that one-hot. Resetting
it (the project's earlier behaviour, ``snap=True`` here) returned the code to the
same vertex every time: from a vertex the gradient of a trained predictor keeps
pointing at the vertex's own ops, and in 10 steps no other op could overtake the
chosen one, so the trajectory was a saw-tooth and the search ended at the first
projection. The found cell is the candidate with the best objective ``J`` evaluated
AT its one-hot (where the predictor has training data), not the last one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from bench.errors import BenchError, check_int
from bench.ncp.encoding import NB201_EDGES, NB201_ENCODING, NB201_NUM_OPS, nb201_argmax, nb201_ops
from bench.ncp.objective import SearchObjective
from bench.ncp.propagate import Propagation

CONSTRAINTS = ("simplex", "box")


def project_simplex(x: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of every row of (M, K) onto the probability simplex (Duchi et al., 2008).

    Example:
        >>> project_simplex(torch.tensor([[0.5, 0.5, 0.5], [2.0, 0.0, 0.0]]))
        tensor([[0.3333, 0.3333, 0.3333],
                [1.0000, 0.0000, 0.0000]])
    """
    u, _ = torch.sort(x, dim=1, descending=True)
    css = u.cumsum(1) - 1
    k = torch.arange(1, x.shape[1] + 1, dtype=x.dtype)
    rho = ((u - css / k) > 0).to(x.dtype).cumsum(1).argmax(1)  # last index where the condition holds
    theta = css.gather(1, rho[:, None]) / (rho[:, None] + 1).to(x.dtype)
    return (x - theta).clamp_min(0)


@dataclass(frozen=True)
class Nb201Search:
    """Outcome of :func:`propagate_nb201` for one start: the found one-hot (30,), every read-out
    candidate (iteration, one-hot, ``J``), the propagation's trajectory and its seconds."""

    found: np.ndarray
    iterations: tuple[int, ...]
    candidates: np.ndarray
    scores: np.ndarray
    propagation: Propagation
    seconds: float


def _constrain(z: torch.Tensor, constraint: str, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    if constraint == "box":
        return torch.clamp(z, lo, hi)
    x = z * NB201_ENCODING.scale[0] + NB201_ENCODING.center[0]
    x = project_simplex(x.reshape(-1, NB201_NUM_OPS)).reshape(z.shape)
    return (x - NB201_ENCODING.center[0]) / NB201_ENCODING.scale[0]


def propagate_nb201(objective: SearchObjective, iterations: int = 60, step_size: float = 0.5,
                    readout_every: int = 10, constraint: str = "simplex", snap: bool = False) -> Nb201Search:
    """Propagate from the uniform mixture (every op 1/5 on every edge); see the module docstring.

    ``step_size`` is on the standardised code; ``snap`` resets the code to each read-out
    (the old behaviour, kept to show the difference). Errors name the bad argument.

    Example:
        >>> from bench.ncp.synthetic import tiny_nb201_objective
        >>> result = propagate_nb201(tiny_nb201_objective(), iterations=20)
        >>> result.iterations, result.found.reshape(6, 5).sum(1).tolist()
        ((10, 20), [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """
    check_int("nb201.iterations", iterations, 1)
    check_int("nb201.readout_every", readout_every, 1)
    if not np.isfinite(step_size) or step_size <= 0:
        raise BenchError(f"nb201.step_size={step_size!r} is invalid; valid is a finite number > 0")
    if constraint not in CONSTRAINTS:
        raise BenchError(f"nb201 constraint={constraint!r} is invalid; valid are {list(CONSTRAINTS)}")
    if objective.encoding.space != "nb201":
        raise BenchError(f"propagate_nb201 needs an nb201 objective, not {objective.encoding.space!r}")
    enc, dtype = objective.encoding, objective.dtype
    lo, hi = torch.tensor(enc.z_lo, dtype=dtype), torch.tensor(enc.z_hi, dtype=dtype)
    z = torch.zeros((1, enc.dim), dtype=dtype)  # the uniform mixture: each indicator at its mean 1/5
    zs, ys, read_at, read = [], [], [], []
    began = time.perf_counter()
    with torch.no_grad():
        for t in range(iterations + 1):
            y, _, grad = objective.value_and_grad(z)
            zs.append(z)
            ys.append(y)
            if t and (t % readout_every == 0 or t == iterations):
                onehot = nb201_argmax(enc.unstandardise(z.numpy()))
                read_at.append(t)
                read.append(onehot[0])
                if snap:
                    z = torch.tensor(enc.standardise(onehot), dtype=dtype)
            if t < iterations:
                z = _constrain(z - step_size * grad, constraint, lo, hi)
    seconds = time.perf_counter() - began
    candidates = np.stack(read)
    scores = objective.score(candidates)
    best = int(np.argmax(scores))
    nb201_ops(candidates[best])  # validates the one-hot
    x = enc.unstandardise(torch.stack(zs).numpy())
    propagation = Propagation(candidates[best][None], x, objective.head_points(torch.stack(ys)),
                              np.full((iterations + 1, 1), np.nan))
    return Nb201Search(candidates[best], tuple(read_at), candidates, scores, propagation, seconds)


def ops_string(onehot: np.ndarray) -> str:
    """The store's nb201 ``code``: the op index of each edge joined by ``_``.

    Example:
        >>> ops_string(np.eye(5)[[3, 1, 3, 0, 2, 4]].reshape(-1))
        '3_1_3_0_2_4'
    """
    return "_".join(map(str, nb201_ops(np.asarray(onehot).reshape(NB201_EDGES * NB201_NUM_OPS))))
