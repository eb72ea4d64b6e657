"""Network Coding Propagation (the paper's search, SPEC section 5): see docs/search.md.

Works on plain arrays (:class:`SettingTable`), so it never depends on the
store; ``launch/search.py`` reads the store and calls :func:`bench.ncp.driver.run`.
"""

from bench.ncp.data import SettingTable, Split, split_by_arch_id
from bench.ncp.objective import Head, SearchObjective
from bench.ncp.predictor import Predictor, PredictorConfig, train_predictor
from bench.ncp.propagate import Propagation, default_start, propagate_continuous, propagate_wta
from bench.ncp.search import STRATEGIES, SearchOutcome, SearchRequest, build_objective, search_mr, search_nb201

__all__ = [
    "STRATEGIES", "Head", "Predictor", "PredictorConfig", "Propagation", "SearchObjective", "SearchOutcome",
    "SearchRequest", "SettingTable", "Split", "build_objective", "default_start", "propagate_continuous",
    "propagate_wta", "search_mr", "search_nb201", "split_by_arch_id", "train_predictor",
]
