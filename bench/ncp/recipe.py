"""How a metric predictor is built and trained: named recipes (``predictor.recipe=``).

- ``authors``: what the authors' released code does (dingmyu/NCP, ``models/mlp.py``,
  ``tools/train_predictor.py``, ``configs/*.yaml``; SPEC section 5): the standardised
  code -> BatchNorm -> Linear(256) -> BatchNorm -> swish -> Dropout 0.5, then one branch
  per metric GROUP ([main], [other metrics], [gflops, params_m]) of Linear(128) ->
  BatchNorm -> swish -> Dropout (0.5, 0.5, 0) -> Linear; inputs and targets standardised
  with the mean/std of ALL rows; Adam (lr 0.01, wd 1e-7), one-cycle (pct_start 0.3,
  div_factor 10, momentum 0.85 -> 0.95) stepped every batch, batch 128, 200 epochs,
  smooth-L1 on standardised targets; one model.
- ``default``: the same network, plus closed-form cost features of the code in its
  input (log GFLOPs and log M params from the exact cost model, per-stage channel and
  depth sums: :mod:`bench.ncp.features`), statistics of the TRAINING rows only, and four
  networks averaged, two trained with L1 and two with smooth-L1 (``loss=mix``): selected
  by a cross-validation of the training rows with its rule written down before the run
  (``benchmarks/ncp_tune.py``, docs/search.md); the authors' validation rows never enter.

A named recipe is defined per search space (:func:`named_recipe`). On NAS-Bench-201
there is no closed-form cost, so the default's input is the code; and what was chosen
on NAS-Bench-MR settings only (the loss mix, four networks) does not carry over: there
the default is what its search was checked with, two networks trained with L1.

Any field can be overridden from the config (``predictor.epochs=20``); the result is
still reported under the recipe's name with the overrides listed (:func:`overrides_of`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from bench.errors import BenchError, check_int
from bench.settings import SPACES

FEATURES = ("code", "log_flops", "log_params", "stage_sums")
"""Input features a recipe may use; all but ``code`` exist for the nasbench_mr space only."""


RECIPE_NAMES = ("default", "authors")
LOSSES = ("smooth_l1", "l1", "auto", "mix")
MIXED_LOSSES = ("l1", "smooth_l1")
"""``loss=mix``: member ``m`` trains with ``MIXED_LOSSES[m % 2]``."""


@dataclass(frozen=True)
class PredictorRecipe:
    """Model and training recipe of a predictor (see the module docstring for the two named ones).

    ``branch_dropout`` is per metric group: (main metric, other metrics, cost targets).
    ``members`` models are trained with different seeds and their predictions averaged.
    ``space`` is the search space the recipe was made for: a named recipe's fields depend on it.
    """

    name: str
    space: Literal["nasbench_mr", "nb201"] = "nasbench_mr"
    features: tuple[str, ...] = ("code",)
    cost_targets: bool = True
    activation: Literal["relu", "swish"] = "swish"
    hidden_bn: bool = True
    hidden: int = 256
    branch: int = 128
    dropout: float = 0.5
    branch_dropout: tuple[float, float, float] = (0.5, 0.5, 0.0)
    loss: Literal["smooth_l1", "l1", "auto", "mix"] = "smooth_l1"
    loss_beta: float = 1.0
    stats: Literal["all", "train"] = "all"
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.01
    weight_decay: float = 1e-7
    pct_start: float = 0.3
    div_factor: float = 10.0
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    members: int = 1

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise BenchError(f"predictor recipe space {self.space!r} is invalid; valid spaces are {list(SPACES)}")
        for name in ("hidden", "branch", "epochs", "batch_size", "members"):
            check_int(f"predictor.{name}", getattr(self, name), 1)
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown or "code" not in self.features:
            raise BenchError(f"predictor features {list(self.features)} invalid; valid are 'code' plus any of {list(FEATURES[1:])}")
        if self.space != "nasbench_mr" and self.features != ("code",):
            raise BenchError(f"predictor features {list(self.features)} invalid on space {self.space!r}: it has no closed-form "
                             f"cost, so its only feature is 'code' ({list(FEATURES[1:])} exist for nasbench_mr only)")
        for name, value in (("dropout", self.dropout), *((f"branch_dropout[{i}]", p) for i, p in enumerate(self.branch_dropout))):
            if not 0 <= value < 1:
                raise BenchError(f"predictor.{name}={value!r} is invalid; valid is 0 <= p < 1")
        if self.loss not in LOSSES:
            raise BenchError(f"predictor.loss={self.loss!r} is invalid; valid are {list(LOSSES)} (auto: chosen per setting "
                             "on an inner split of the training rows, bench.ncp.loss_choice; mix: members alternate "
                             "l1 and smooth_l1)")
        if not self.loss_beta > 0 or not math.isfinite(self.loss_beta):
            raise BenchError(f"predictor.loss_beta={self.loss_beta!r} is invalid; valid is a finite beta > 0 (smooth-L1's "
                             "switch from squared to absolute error, in standardised target units)")
        if not self.lr > 0 or not self.weight_decay >= 0:
            raise BenchError(f"predictor.lr={self.lr!r} / weight_decay={self.weight_decay!r} invalid; need lr > 0, weight_decay >= 0")
        if not 0 < self.pct_start < 1 or not self.div_factor >= 1:
            raise BenchError(f"predictor.pct_start={self.pct_start!r} / div_factor={self.div_factor!r} invalid; "
                             "need 0 < pct_start < 1 and div_factor >= 1")
        if not 0 <= self.base_momentum <= self.max_momentum < 1:
            raise BenchError(f"predictor momentum {self.base_momentum!r} -> {self.max_momentum!r} invalid; "
                             "need 0 <= base_momentum <= max_momentum < 1")

    def member_losses(self) -> tuple[str, ...]:
        """The loss of each member: the recipe's, or for ``mix`` L1 and smooth-L1 in turn.

        Raises:
            ValueError: for ``auto``, which :mod:`bench.ncp.loss_choice` resolves first.
        """
        if self.loss == "auto":
            raise ValueError("loss=auto has no member losses until bench.ncp.loss_choice has chosen one")
        if self.loss == "mix":
            return tuple(MIXED_LOSSES[m % 2] for m in range(self.members))
        return (self.loss,) * self.members

    def for_space(self, space: str) -> PredictorRecipe:
        """This recipe on ``space``: the named recipe made for ``space`` with this recipe's overrides
        (the fields where it differs from its named recipe on its own space); an unnamed recipe as it is.

        Example:
            >>> r = recipe_named("default", {"epochs": 20}).for_space("nb201")
            >>> r.space, r.features, r.loss, r.members, r.epochs
            ('nb201', ('code',), 'l1', 2, 20)
        """
        if space == self.space:
            return self
        if self.name not in RECIPES:
            return replace(self, space=space)
        return replace(named_recipe(self.name, space), **overrides_of(self))


AUTHORS = PredictorRecipe("authors")

DEFAULT = PredictorRecipe(
    "default", features=FEATURES, loss="mix", stats="train", members=4,
)

RECIPES = {"default": DEFAULT, "authors": AUTHORS}
"""The named recipes on NAS-Bench-MR."""

ON_NB201 = {"default": {"features": ("code",), "loss": "l1", "members": 2}}
"""How a named recipe differs on NAS-Bench-201: no cost features there, and the loss and ensemble size its
search was checked with (docs/search.md), not the ones chosen on NAS-Bench-MR settings."""

OVERRIDABLE = tuple(f.name for f in fields(PredictorRecipe) if f.name not in ("name", "space"))


def named_recipe(name: str, space: str = "nasbench_mr") -> PredictorRecipe:
    """The named recipe ``name`` made for ``space``.

    Raises:
        BenchError: for an unknown name or space.
    """
    if name not in RECIPES:
        raise BenchError(f"predictor.recipe={name!r} is invalid; valid recipes are {list(RECIPES)}")
    if space not in SPACES:
        raise BenchError(f"space {space!r} is invalid; valid spaces are {list(SPACES)}")
    changes = ON_NB201.get(name, {}) if space == "nb201" else {}
    return replace(RECIPES[name], space=space, **changes)


def recipe_named(name: str, overrides: Mapping[str, Any] | None = None, space: str = "nasbench_mr") -> PredictorRecipe:
    """A named recipe for ``space`` with some fields overridden (``None`` values are left at the recipe's).

    Example:
        >>> recipe_named("authors", {"epochs": 20}).epochs, recipe_named("authors").activation
        (20, 'swish')
        >>> recipe_named("default").members, recipe_named("default", space="nb201").members
        (4, 2)
    """
    base = named_recipe(name, space)
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(changes) - set(OVERRIDABLE))
    if unknown:
        raise BenchError(f"unknown predictor recipe field(s) {unknown}; valid are {list(OVERRIDABLE)}")
    return replace(base, **changes)


def overrides_of(recipe: PredictorRecipe) -> dict[str, Any]:
    """Fields where ``recipe`` differs from the named recipe it is based on, on its space ({} if unnamed)."""
    if recipe.name not in RECIPES:
        return {}
    base = named_recipe(recipe.name, recipe.space)
    return {f: getattr(recipe, f) for f in OVERRIDABLE if getattr(recipe, f) != getattr(base, f)}
