"""The training loss chosen per setting on its TRAINING rows (``predictor.loss=auto``).

Why per setting: on inner splits of the published settings' training rows, L1 is the
better loss on Seg and smooth-L1 on Cls-A (docs/search.md, "How the default was
chosen"), and which one a setting we do not have prefers cannot be known in advance.
So the setting's own training rows decide: they are split again by arch id (80 / 20,
:func:`bench.ncp.splits.split_by_arch_id` with the predictor's seed), one network per
candidate loss is trained on the 80% from the same initialisation (together, as stacked
members: :func:`bench.ncp.training.train_members`), and the loss whose
network has the lower final MAE of the MAIN metric on the 20% trains every member.
The predictor's validation rows are never read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from bench.ncp.model import MetricNet
from bench.ncp.recipe import PredictorRecipe
from bench.ncp.splits import split_by_arch_id
from bench.ncp.training import TrainingData, train_members

CANDIDATE_LOSSES = ("l1", "smooth_l1")
INNER_VAL_SHARE = 0.2
SELECTION_SEED = 7919
"""Torch seed offset of the selection networks, apart from every member's (``training.member_seed``)."""


@dataclass(frozen=True)
class LossChoice:
    """The chosen loss and each candidate's inner-validation MAE of the main metric (metric points)."""

    loss: str
    inner_mae: dict[str, float]
    n_inner_train: int
    n_inner_val: int

    def describe(self) -> str:
        """``'l1 0.554, smooth_l1 0.535'``: each candidate's inner MAE, for consoles and tables."""
        return ", ".join(f"{loss} {mae:.3f}" for loss, mae in self.inner_mae.items())


def choose_loss(make_net: Callable[[], MetricNet], recipe: PredictorRecipe, data: TrainingData,
                arch_ids: np.ndarray, main_std: float, seed: int) -> LossChoice:
    """Train one network per loss in :data:`CANDIDATE_LOSSES` on an inner split of
    ``data.train_rows`` and return the loss with the lower inner-validation MAE of target 0.

    ``arch_ids`` (N,) are the table's, ``main_std`` the main metric's standardisation scale
    (to report MAE in metric points). Ties go to the first candidate (L1).
    """
    train_ids = np.asarray(arch_ids)[data.train_rows]
    n_val = max(1, round(INNER_VAL_SHARE * len(train_ids)))
    inner = split_by_arch_id(train_ids, seed, len(train_ids) - n_val, n_val)
    inner_train, inner_val = inner.rows(arch_ids)
    inner_data = replace(data, train_rows=inner_train, val_rows=inner_val)
    truth = data.targets[inner_val, 0].numpy()
    seen = np.isfinite(truth)
    seeds = [SELECTION_SEED + seed] * len(CANDIDATE_LOSSES)  # the same initialisation for every candidate
    _, history = train_members(make_net, recipe, inner_data, seeds, CANDIDATE_LOSSES)
    inner_mae = {loss: float(np.abs(history[i, -1][seen, 0] - truth[seen]).mean() * main_std)
                 for i, loss in enumerate(CANDIDATE_LOSSES)}
    best = min(CANDIDATE_LOSSES, key=lambda loss: inner_mae[loss])
    return LossChoice(best, inner_mae, len(inner_train), len(inner_val))
