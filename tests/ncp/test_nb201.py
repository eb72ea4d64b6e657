"""NAS-Bench-201 propagation: the simplex projection, read-outs, and the fix of the snapping projection."""

import itertools

import numpy as np
import pytest

from bench.errors import BenchError
from bench.ncp.nb201 import ops_string, project_simplex, propagate_nb201
from bench.ncp.predictor import train_predictor
from bench.ncp.search import nb201_objective, search_nb201
from bench.ncp.synthetic import tiny_config, tiny_nb201_objective
from tests.ncp.helpers import shared_table

ALL_CELLS = np.eye(5, dtype=np.float32)[np.array(list(itertools.product(range(5), repeat=6)))].reshape(-1, 30)


def test_simplex_projection_is_the_euclidean_projection():
    x = np.random.default_rng(0).normal(size=(200, 5))
    p = project_simplex(x)
    assert np.all(p >= 0) and np.allclose(p.sum(1), 1.0)
    assert np.allclose(project_simplex(p), p)  # a point of the simplex stays put
    # optimality (KKT): on the support, x - p is one constant; off it, x is below that constant
    for row_x, row_p in zip(x, p):
        support = row_p > 0
        theta = (row_x - row_p)[support]
        assert np.allclose(theta, theta[0]) and np.all(row_x[~support] <= theta[0] + 1e-9)
    assert project_simplex(x.astype(np.float32)).dtype == np.float32  # the search's dtype is kept


def test_read_outs_are_cells_and_the_found_one_has_the_best_objective():
    objective = tiny_nb201_objective(0.5)
    result = propagate_nb201(objective, iterations=30, readout_every=1)
    assert result.iterations == tuple(range(1, 31)) and result.candidates.shape == (30, 30)
    assert np.all(result.candidates.reshape(-1, 6, 5).sum(-1) == 1)
    assert np.allclose(result.scores, objective.score(result.candidates))
    assert np.array_equal(result.found, result.candidates[int(np.argmax(result.scores))])
    edges = result.propagation.x[1:].reshape(30, 6, 5)
    assert np.all(edges > -1e-6) and np.allclose(edges.sum(-1), 1.0, atol=1e-5)  # every edge on its simplex


@pytest.mark.parametrize("kwargs, message", [
    ({"projection": "nearest"}, "nb201.projection='nearest' is invalid"),
    ({"step_size": float("nan")}, "nb201.step_size=nan"),
    ({"readout_every": 0}, "nb201.readout_every=0"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(BenchError, match=message):
        propagate_nb201(tiny_nb201_objective(), **kwargs)


def test_on_the_published_sample_the_projection_no_longer_snaps_back():
    """The old projection (reset to the argmax every 10 iterations) read out ONE cell six times; straight-through
    propagation visits many cells and finds a better one by the same objective."""
    table = shared_table("nb201_sample.pkl", "nb201")
    predictor = train_predictor(table, None, tiny_config(60, members=1, n_train=1600, n_val=400))
    objective = nb201_objective(predictor, 0.1)
    snap = search_nb201(predictor, 0.1, 60, 0.5, 10, "snap")
    assert len({ops_string(c) for c in snap.candidates}) == 1  # the saw-tooth: the search was over at iteration 10
    fixed = search_nb201(predictor, 0.1)
    assert len({ops_string(c) for c in fixed.candidates}) >= 5
    every_cell = objective.score(ALL_CELLS)
    rank = int((every_cell > fixed.scores.max() + 1e-6).sum()) + 1
    assert fixed.scores.max() > snap.scores.max() and rank <= 100  # top 100 of all 15,625 cells by J


def test_a_found_cell_stored_without_accuracy_is_reported_unmeasured_not_a_crash():
    """A published table may hold a cell whose Acc (and Flops) is missing (None, or NaN read as missing):
    the result says so and points at the nearest MEASURED cell, instead of failing on its missing rank."""
    from bench.ncp.data import SettingTable
    from bench.ncp.results import refresh_nb201_truth
    from bench.ncp.summary import nb201_summary
    from bench.ncp.synthetic import synthetic_nb201_frame

    frame = synthetic_nb201_frame(50)
    frame.loc[7, ["Acc", "gflops", "mflops"]] = np.nan
    table = SettingTable.from_frame(frame, "nb201")
    found = np.asarray(frame["embedding"][7], dtype=np.float32)
    result = {"onehot": found.tolist(), "code": "found", "lambda": 0.1, "iterations": 60, "search_seconds": 0.01,
              "predicted": {"Acc": 40.0, "mflops": 50.0}}
    refresh_nb201_truth(result, table)
    assert result["in_store"] and result["true"] == {"Acc": None, "mflops": None}
    assert "rank" not in result and "not measured" in result["note"]
    assert result["nearest"]["code"] != ops_string(found) and result["nearest"]["true"]["Acc"] is not None
    lines = nb201_summary(result, "OUT")
    assert "its accuracy not measured" in lines[2] and "nearest measured cell" in lines[2], lines
    frame.loc[7, "Acc"] = 41.0  # measured, cost still missing: the rank is back, MFLOPs print as n/a
    refresh_nb201_truth(result, SettingTable.from_frame(frame, "nb201"))
    assert result["true"] == {"Acc": 41.0, "mflops": None} and result["rank"] >= 1 and "note" not in result
    assert "true Acc 41.00% at n/a MFLOPs" in nb201_summary(result, "OUT")[2]


def test_the_nb201_predictor_report_states_its_cost_in_mflops_like_the_search():
    from bench.ncp.data import SettingTable
    from bench.ncp.results import predictor_document
    from bench.ncp.synthetic import synthetic_nb201_frame

    table = SettingTable.from_frame(synthetic_nb201_frame(400), "nb201")
    predictor = train_predictor(table, None, tiny_config(5, members=1, n_train=320, n_val=80))
    document = predictor_document([predictor])["nb201"]
    assert "gflops" not in document and set(document) == {"Acc", "mflops", "params_m"}
    assert document["mflops"]["mae"] == pytest.approx(predictor.report["gflops"]["mae"] * 1e3)
    assert document["mflops"]["kendall_tau"] == predictor.report["gflops"]["kendall_tau"]
    assert document["Acc"]["mae"] == predictor.report["Acc"]["mae"]  # other metrics as they were


def test_the_nb201_split_learns_from_the_whole_table_not_a_2000_cell_draw():
    """On NAS-Bench-201 the default arch_id split is 80 / 20 of the table (12,500 / 3,125 on the full
    one); on the 2,000-cell sample that is the 1,600 / 400 the old shrunken 2,000 / 500 gave, the same ids."""
    from bench.ncp.data import SettingTable
    from bench.ncp.predictor import PredictorConfig
    from bench.ncp.recipe import recipe_named
    from bench.ncp.splits import split_by_arch_id
    from bench.ncp.synthetic import synthetic_nb201_frame

    config = PredictorConfig()
    assert config.arch_id_sizes("nb201", 15_625) == (12_500, 3_125)
    assert config.arch_id_sizes("nasbench_mr", 15_625) == (2_000, 500)  # the paper's sizes stay on NAS-Bench-MR
    assert PredictorConfig(n_train=1000, n_val=200).arch_id_sizes("nb201", 15_625) == (1000, 200)
    ids = np.array([f"c{i}" for i in range(2000)])
    assert split_by_arch_id(ids, 0, *config.arch_id_sizes("nb201", 2000)) == split_by_arch_id(ids, 0, 2000, 500)

    table = SettingTable.from_frame(synthetic_nb201_frame(3000), "nb201")
    lines = []
    predictor = train_predictor(table, None, PredictorConfig(recipe_named("default", {"epochs": 1, "members": 1})),
                                progress=lines.append)
    assert (len(predictor.split.train_ids), len(predictor.split.val_ids)) == (2400, 600)
    assert not any("fewer than n_train" in line for line in lines), lines
