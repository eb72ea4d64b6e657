"""The search's closing lines for a found code the store holds with or without its main metric."""

from bench.ncp.summary import mr_summary


def _result(rank, true_miou):
    return {"code": "C", "strategy": "continuous", "lambda": 0.5, "codes_evaluated": 70, "search_seconds": 0.1,
            "gflops": 1.0, "params_m": 2.0, "settings": ["seg"], "in_store": True, "rank": rank,
            "predicted": {"mIoU": 70.0}, "true": {"mIoU": true_miou},
            "nearest": {"code": "N", "distance": 0.5, "true": {"mIoU": 69.0}, "rank": 12, "of": 2400}}


def test_a_stored_code_with_its_main_metric_shows_true_value_and_rank():
    line = mr_summary(_result(3, 71.0), "OUT", "S")[2 + 1]
    assert line == "  seg: IN THE STORE, true mIoU 71.00, rank 3", line


def test_a_stored_code_without_its_main_metric_points_at_the_nearest_measured_one():
    """Not 'IN THE STORE, true mIoU n/a, rank None': the row is there, the measurement is not."""
    line = mr_summary(_result(None, None), "OUT", "S")[3]
    assert line.startswith("  seg: in the store, mIoU not measured; nearest measured N at distance 0.50"), line
    assert "rank 12/2400" in line
