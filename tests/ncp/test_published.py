"""Search on the published tables (skipped when ../shared is absent)."""

import numpy as np

from bench.code import ArchCode
from bench.cost import cost_batch
from bench.ncp.predictor import train_predictor
from bench.ncp.report import nearest
from bench.ncp.search import SearchRequest, exact_cost, search_mr, search_nb201
from bench.ncp.synthetic import tiny_config
from tests.ncp.helpers import shared_table

QUICK = tiny_config(20, members=1, n_train=2000, n_val=500)


def test_seg_search_finds_a_valid_code_and_compares_it_with_the_table():
    table = shared_table("seg.pkl", "seg")
    assert len(table) == 2507 and np.allclose(cost_batch(table.x)[1] / 1e9, table.gflops)
    predictor = train_predictor(table, ("mIoU",), QUICK)
    assert (len(predictor.split.train_ids), len(predictor.split.val_ids)) == (2000, 500)
    outcome = search_mr([predictor], SearchRequest(lam=0.5))
    code = ArchCode.from_list(outcome.found[0].tolist())
    assert exact_cost(outcome.found[0])["gflops"] < 1.96  # lambda 0.5 trades FLOPs away from the start's 1.96
    near = nearest(table, outcome.found[0])
    assert near["distance"] > 0 or near["code"] == code.to_string()
    assert 1 <= near["rank"] <= 2507


def test_nb201_sample_mode_returns_a_one_hot_cell():
    table = shared_table("nb201_sample.pkl", "nb201")
    predictor = train_predictor(table, None, QUICK)
    found = search_nb201(predictor, lam=0.2)
    assert np.all(found.found.reshape(6, 5).sum(1) == 1)
    assert found.propagation.x.shape == (61, 1, 30) and found.iterations == tuple(range(1, 61))
