"""Network Coding Propagation (the paper's search, SPEC section 5): see docs/search.md.

Works on plain arrays (:class:`SettingTable`), so it never depends on the
store; ``launch/search.py`` parses its config once (:mod:`bench.ncp.options`),
reads the store and calls :func:`bench.ncp.driver.run`.
"""

from bench.ncp.data import SettingTable
from bench.ncp.nb201 import propagate_nb201
from bench.ncp.objective import Head, SearchObjective
from bench.ncp.predictor import Predictor, PredictorConfig, train_predictor
from bench.ncp.propagate import Propagation, default_start, propagate_continuous, propagate_wta
from bench.ncp.recipe import AUTHORS, DEFAULT, PredictorRecipe, recipe_named
from bench.ncp.search import STRATEGIES, SearchOutcome, SearchRequest, build_objective, search_mr, search_nb201
from bench.ncp.splits import Split, arch_id_folds, authors_split, split_by_arch_id

__all__ = [
    "AUTHORS", "DEFAULT", "STRATEGIES", "Head", "Predictor", "PredictorConfig", "PredictorRecipe", "Propagation",
    "SearchObjective", "SearchOutcome", "SearchRequest", "SettingTable", "Split", "arch_id_folds", "authors_split",
    "build_objective", "default_start", "propagate_continuous", "propagate_nb201", "propagate_wta", "recipe_named", "search_mr",
    "search_nb201", "split_by_arch_id", "train_predictor",
]
