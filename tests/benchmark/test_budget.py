"""The budget: simulated training time and queries, resumed training charged once, all-or-nothing charges."""

from __future__ import annotations

import pytest

from bench.benchmark import Benchmark, Budget, BudgetExceeded
from bench.errors import BenchError
from tests.benchmark.helpers import LENGTH, build_store


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("budget"))


def _measured(built):
    """(code, its two cls_a runs) of an architecture measured with two seeds."""
    code = next(r.code for r in built.runs if r.setting == "cls_a" and len(built.runs_of(r.code, "cls_a")) == 2
                and not r.synthetic)
    return code, built.runs_of(code, "cls_a")


def test_resumed_training_is_charged_once_and_full_charging_counts_every_query(built):
    code, runs = _measured(built)
    mean_wall = sum(r.wall_seconds for r in runs) / len(runs)
    bench = Benchmark.open(built.uri, budget=Budget())
    steps = (25, 50, 75)
    for step in steps:
        bench.query(code, "cls_a", at=step)
    bench.query(code, "cls_a", at=25)  # asked again: already trained that far
    bench.query(code, "cls_a")  # the final value: the rest of the training
    assert bench.budget.seconds_spent == pytest.approx(mean_wall) and bench.budget.queries_spent == 5
    bench.query(code, "cls_a", seed=runs[0].seed)  # one seed is another training run
    assert bench.budget.seconds_spent == pytest.approx(mean_wall + runs[0].wall_seconds)
    full = Benchmark.open(built.uri, budget=Budget(reuse=False))
    for step in steps:
        full.query(code, "cls_a", at=step)
    full.query(code, "cls_a")
    assert full.budget.seconds_spent == pytest.approx(mean_wall * (1 + sum(steps) / LENGTH["cls_a"]))


def test_the_query_that_would_pass_a_limit_raises_and_is_not_charged(built):
    code, runs = _measured(built)
    mean_wall = sum(r.wall_seconds for r in runs) / len(runs)
    bench = Benchmark.open(built.uri, budget=Budget(seconds=mean_wall * 0.6))
    half = bench.query(code, "cls_a", at=50)
    with pytest.raises(BudgetExceeded, match=r"needs .* s of simulated training"):
        bench.query(code, "cls_a")
    assert bench.budget.seconds_spent == pytest.approx(half.train_seconds) and bench.budget.queries_spent == 1
    bench.budget.reset()
    assert (bench.budget.seconds_spent, bench.budget.queries_spent) == (0.0, 0)
    with pytest.raises(BudgetExceeded):
        bench.query(code, "cls_a")  # reset forgets what was paid, too
    counted = Benchmark.open(built.uri, budget=Budget(queries=2))
    counted.query(code, "cls_a")
    counted.query(code, "cls_a", metric="top5")
    with pytest.raises(BudgetExceeded, match="2 of 2 queries spent"):
        counted.query(code, "cls_a")


def test_published_data_counts_queries_but_refuses_a_budget_in_seconds(built):
    code = Benchmark.open(built.uri).codes("nb201")[0]
    by_queries = Benchmark.open(built.uri, budget=Budget(queries=10))
    by_queries.query(code, "nb201")
    assert (by_queries.budget.queries_spent, by_queries.budget.seconds_spent) == (1, 0.0)
    by_time = Benchmark.open(built.uri, budget=Budget(seconds=1e9))
    with pytest.raises(BenchError, match=r"no training time .* use Budget\(queries=...\)"):
        by_time.query(code, "nb201")
    assert by_time.budget.queries_spent == 0


def test_a_multi_task_query_is_charged_all_or_nothing(built):
    code, _ = _measured(built)
    bench = Benchmark.open(built.uri)
    settings = ["cls_a", "seg"]
    assert all(bench.has(code, s) for s in settings)
    need = len(settings)
    tight = Benchmark.open(built.uri, budget=Budget(queries=need - 1))
    with pytest.raises(BudgetExceeded):
        tight.query_settings(code, settings)
    assert tight.budget.queries_spent == 0
    enough = Benchmark.open(built.uri, budget=Budget(queries=need))
    assert list(enough.query_settings(code, settings)) == settings and enough.budget.queries_spent == need


@pytest.mark.parametrize("kwargs, message", [({"seconds": -1}, "seconds=-1 is invalid"),
                                             ({"queries": 1.5}, "queries=1.5 is invalid")])
def test_bad_limits_are_refused(kwargs, message):
    with pytest.raises(BenchError, match=message):
        Budget(**kwargs)
