"""The search command's config as typed, frozen objects, parsed ONCE (conf/search.yaml documents every key).

:func:`parse_options` turns the composed config (plain data, :func:`bench.config.resolve`)
into :class:`SearchOptions` with :func:`bench.config.parse`: an unknown key is an error
naming its path, values are type-checked, NaN and infinity are refused (``lambda=nan``).
Nothing downstream reads the raw mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.config import ConfigError, coerce, parse
from bench.errors import BenchError
from bench.ncp.nb201 import PROJECTIONS
from bench.ncp.predictor import PredictorConfig
from bench.ncp.recipe import RECIPE_NAMES, PredictorRecipe, recipe_named
from bench.ncp.search import STRATEGIES, SearchRequest
from bench.ncp.splits import SPLITS
from bench.settings import SPACES

MODES = ("search", "predictor_report", "evaluate")
DEFAULT_LAMBDA = {"nasbench_mr": 0.5, "nb201": 0.1}
"""lambda when the config leaves it null: 0.5 as in the paper's examples; on NAS-Bench-201 0.1 puts the found
cells' PREDICTED FLOPs near the paper's operating point (~90 MFLOPs; 0.2 gave 50-90), since there the FLOPs
term is the predictor's learned output (docs/search.md)."""


@dataclass(frozen=True)
class PredictorOptions:
    """``predictor.*``: which settings, how to split, which recipe; the last block overrides recipe fields."""

    settings: tuple[str, ...] | str | None = None
    weights: tuple[float, ...] | None = None
    load_dir: str | None = None
    recipe: Literal[RECIPE_NAMES] = "default"
    split: Literal[SPLITS] = "arch_id"
    seed: int = 0
    n_train: int | None = None
    n_val: int | None = None
    min_rows: int = 100
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    hidden: int | None = None
    branch: int | None = None
    dropout: float | None = None
    members: int | None = None
    loss: Literal["smooth_l1", "l1", "auto", "mix"] | None = None
    loss_beta: float | None = None
    activation: Literal["relu", "swish"] | None = None
    stats: Literal["all", "train"] | None = None
    features: tuple[str, ...] | None = None

    def recipe_object(self, space: str) -> PredictorRecipe:
        """The named recipe for ``space`` with this block's non-null overrides."""
        overrides = {f: getattr(self, f) for f in _RECIPE_KEYS}
        return recipe_named(self.recipe, overrides, space)

    def config(self, space: str) -> PredictorConfig:
        return PredictorConfig(self.recipe_object(space), self.split, self.seed, self.n_train, self.n_val, self.min_rows)


_RECIPE_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "hidden", "branch", "dropout", "members", "loss", "loss_beta",
                "activation", "stats", "features")


@dataclass(frozen=True)
class PropagationOptions:
    """``propagation.*``: NCP / WTA / NetAdapt steps and the continuous step size (standardised code)."""

    iterations: int = 70
    step_size: float = 3.0


@dataclass(frozen=True)
class BaselineOptions:
    """``baseline.*``: sample sizes of random search and the neural-predictor baseline, and how many to keep."""

    random_samples: int = 100
    neural_samples: int = 10_000
    top_k: int = 10


@dataclass(frozen=True)
class Nb201Options:
    """``nb201.*``: propagation on the one-hot (see :mod:`bench.ncp.nb201`)."""

    iterations: int = 60
    step_size: float = 0.5
    readout_every: int = 1
    projection: Literal[PROJECTIONS] = "straight_through"


@dataclass(frozen=True)
class SearchOptions:
    """The whole search command. ``lam`` is the config key ``lambda`` (a Python keyword)."""

    store: str
    out: str
    mode: Literal[MODES] = "search"
    space: Literal[SPACES] = "nasbench_mr"
    strategy: Literal[STRATEGIES] = "continuous"
    lam: float | None = None
    init: tuple[str, ...] | str | None = None
    seed: int = 0
    predictor: PredictorOptions = field(default_factory=PredictorOptions)
    propagation: PropagationOptions = field(default_factory=PropagationOptions)
    baseline: BaselineOptions = field(default_factory=BaselineOptions)
    nb201: Nb201Options = field(default_factory=Nb201Options)

    @property
    def lam_value(self) -> float:
        """lambda, or the space's default when the config leaves it null."""
        return DEFAULT_LAMBDA[self.space] if self.lam is None else self.lam

    @property
    def starts(self) -> tuple[str, ...]:
        if self.init is None:
            return ()
        return (self.init,) if isinstance(self.init, str) else tuple(self.init)

    def request(self, starts: tuple[str, ...]) -> SearchRequest:
        """The NAS-Bench-MR :class:`SearchRequest` (``starts`` already resolved to code strings)."""
        return SearchRequest(
            strategy=self.strategy, lam=self.lam_value, weights=self.predictor.weights,
            iterations=self.propagation.iterations, step_size=self.propagation.step_size, starts=starts,
            random_samples=self.baseline.random_samples, neural_samples=self.baseline.neural_samples,
            top_k=self.baseline.top_k, seed=self.seed,
        )


def parse_options(cfg: Mapping[str, Any]) -> SearchOptions:
    """The composed config (plain data) -> :class:`SearchOptions`; errors name the key path.

    Example:
        >>> parse_options({"store": "s", "out": "o", "lambda": 0.3}).lam
        0.3
        >>> parse_options({"store": "s", "out": "o", "lambda": float("nan")})
        Traceback (most recent call last):
        ...
        bench.config.ConfigError: lambda=nan must be a finite number
    """
    raw = dict(cfg)
    if "lam" in raw:
        raise ConfigError("unknown key lam; the FLOPs weight is the key lambda")
    lam = coerce(raw.pop("lambda", None), float | None, "lambda")
    if isinstance(raw.get("init"), (int, float)) and not isinstance(raw.get("init"), bool):
        raise ConfigError(f"init={raw['init']!r} was read as a number, not a code string; quote it, "
                          "e.g. init='\"64_64-2_1_2_64-...\"'")
    options = parse(SearchOptions, {**raw, "lam": lam})
    if options.lam is not None and options.lam < 0:
        raise BenchError(f"lambda={options.lam!r} is invalid; valid is lambda >= 0 (larger trades accuracy for fewer FLOPs)")
    options.predictor.config(options.space)  # recipe and split checks now, before any table is read
    return options
