import numpy as np
import pytest

from bench.code import ArchCode
from bench.errors import BenchError
from bench.ncp.baselines import netadapt_greedy, random_codes, sample_and_rank
from bench.ncp.propagate import default_start
from bench.ncp.search import SearchRequest, build_objective, search_mr


def test_random_codes_are_valid_uniform_and_seeded():
    codes = random_codes(2000, seed=4)
    assert [ArchCode.from_list(row.tolist()).to_list() for row in codes[:200]] == codes[:200].tolist()  # raises if invalid
    assert np.array_equal(codes, random_codes(2000, seed=4))
    assert abs(codes[:, 0].mean() - 68) < 3  # channels uniform on 8..128


def test_sampling_keeps_the_best_by_the_shared_objective(predictor):
    objective = build_objective([predictor], None, 0.5)
    ranked = sample_and_rank(objective, 300, 10, seed=1)
    all_scores = objective.score(random_codes(300, seed=1))
    assert np.allclose(ranked.scores, np.sort(all_scores)[::-1][:10])
    assert np.all(np.diff(ranked.scores) <= 0) and ranked.evaluated == 300
    with pytest.raises(BenchError, match="top_k"):
        sample_and_rank(objective, 5, 10, seed=0)


def test_netadapt_improves_monotonically_and_stops_at_a_local_optimum(predictor):
    objective = build_objective([predictor], None, 0.5)
    ranked = netadapt_greedy(objective, default_start(1)[0], iterations=200)
    assert np.all(np.diff(ranked.history) > 0)
    assert ranked.scores[0] == pytest.approx(objective.score(ranked.codes)[0])
    x = ranked.codes[0]
    enc = objective.encoding
    moves = np.concatenate([np.diag(enc.unit), -np.diag(enc.unit)]).astype(np.int64)
    neighbours = (x[None] + moves)[((x[None] + moves >= enc.lo) & (x[None] + moves <= enc.hi)).all(1)]
    if len(ranked.history) < 201:  # stopped early: no neighbour is better
        assert objective.score(neighbours).max() <= ranked.scores[0] + 1e-9


@pytest.mark.parametrize("strategy", ["continuous", "wta", "random", "neural_predictor", "netadapt"])
def test_every_strategy_returns_valid_codes_best_first(predictor, strategy):
    request = SearchRequest(strategy=strategy, iterations=15, neural_samples=2000)
    outcome = search_mr([predictor], request)
    assert len(outcome.found) > 0
    assert [ArchCode.from_list(row.tolist()).to_list() for row in outcome.found] == outcome.found.tolist()
    assert np.all(np.diff(outcome.scores) <= 0)
    assert (outcome.propagation is not None) == (strategy in ("continuous", "wta"))


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(BenchError, match="unknown strategy 'evolution'; valid strategies"):
        SearchRequest(strategy="evolution")
