from dataclasses import replace

import numpy as np
import pytest
import torch

from bench.code import FIELD_NAMES, ArchCode
from bench.cost import cost_batch
from bench.errors import BenchError
from bench.ncp.encoding import MR_ENCODING
from bench.ncp.features import CodeFeatures
from bench.ncp.model import MetricNet
from bench.ncp.predictor import Predictor
from bench.ncp.propagate import default_start, propagate_continuous, propagate_wta
from bench.ncp.recipe import recipe_named
from bench.ncp.search import build_objective, parse_starts
from bench.ncp.splits import Split


def relu_predictor(first_w, first_b, mid_w, last_w, last_b) -> Predictor:
    """A hand-set ReLU network on the standardised code z (no BatchNorm effect): ``last . relu(mid relu(first z + b))``."""
    first_w, mid_w = np.atleast_2d(first_w), np.atleast_2d(mid_w)
    recipe = recipe_named("authors", {"activation": "relu", "hidden": len(first_w), "branch": len(mid_w)})
    recipe = replace(recipe, hidden_bn=False, cost_targets=False)
    net = MetricNet(27, (1,), (0.0,), recipe)
    with torch.no_grad():
        net.input_shift.copy_(torch.tensor(MR_ENCODING.center)), net.input_scale.copy_(torch.tensor(MR_ENCODING.scale))
        bn = net.input_norm
        bn.running_mean.zero_(), bn.running_var.fill_(1.0 - bn.eps), bn.weight.fill_(1.0), bn.bias.zero_()
        first, mid, last = net.shared[0], net.branches[0][0], net.branches[0][4]
        first.weight.copy_(torch.tensor(first_w)), first.bias.copy_(torch.tensor(first_b))
        mid.weight.copy_(torch.tensor(mid_w)), mid.bias.zero_()
        last.weight.copy_(torch.tensor([last_w])), last.bias.fill_(last_b)
    net.eval()
    split = Split("arch_id", 0, (), ())
    return Predictor("cls_a", "nasbench_mr", ("top1",), (net,), CodeFeatures("nasbench_mr"), np.zeros(1), np.ones(1), split, recipe)


def linear_predictor(a: np.ndarray) -> Predictor:
    """A predictor whose output is exactly ``a . z`` (z the standardised code): a known gradient."""
    first = np.zeros((2, 27))
    first[0] = a  # bias 100 keeps the ReLUs in their linear part
    return relu_predictor(first, [100.0, 0.0], np.eye(2), [1.0, 0.0], -100.0)


def peaked_predictor(field: str, peak_raw: float) -> Predictor:
    """Output ``z_f - 2 relu(z_f - c)``: rises with field f up to raw value ``peak_raw``, then falls."""
    k = FIELD_NAMES.index(field)
    c = (peak_raw - MR_ENCODING.center[k]) / MR_ENCODING.scale[k]
    first = np.zeros((2, 27))
    first[:, k] = 1.0
    return relu_predictor(first, [100.0, -c], np.eye(2), [1.0, -2.0], -100.0)


def test_linear_predictor_is_what_it_claims():
    a = np.random.default_rng(0).normal(size=27)
    x = default_start(1)
    assert np.allclose(linear_predictor(a).predict(x)["top1"], MR_ENCODING.standardise(x) @ a, atol=1e-3)


def test_wta_grows_the_only_dimension_that_raises_the_metric():
    k = FIELD_NAMES.index("c3_2")
    a = np.zeros(27)
    a[k] = 1.0
    result = propagate_wta(build_objective([linear_predictor(a)], None, 0.0), default_start(1), iterations=1)
    expected = default_start(1)
    expected[0, k] += 8
    assert np.array_equal(result.final, expected)


def test_wta_shrinks_the_dimension_with_the_best_metric_loss_per_flop():
    rng = np.random.default_rng(3)
    a = -rng.uniform(0.5, 1.5, size=27)  # every dimension lowers the metric: shrinking always helps
    start = default_start(1)
    result = propagate_wta(build_objective([linear_predictor(a)], None, 0.0), start, iterations=1)
    unit = MR_ENCODING.unit
    grown = start + np.diag(unit).astype(np.int64)
    dr = cost_batch(grown)[1] - cost_batch(start)[1]
    ratio = (-a / MR_ENCODING.scale * unit) / dr  # d(loss)/d(unit) over FLOPs per unit
    k = int(np.argmax(ratio))
    expected = start.copy()
    expected[0, k] -= int(unit[k])
    assert np.array_equal(result.final, expected)


def test_wta_stops_when_no_move_helps():
    result = propagate_wta(build_objective([linear_predictor(np.zeros(27))], None, 0.0), default_start(1), 5)
    assert np.array_equal(result.final, default_start(1)) and result.stopped[0] == 0


def test_wta_is_stationary_at_a_peak_between_grid_values_instead_of_flipping():
    """The predictor peaks at o = 11 (between grid values 8 and 16): the bare rule flipped o 8 <-> 16 forever."""
    o = FIELD_NAMES.index("o")
    start = default_start(1)
    start[0, o] = 64
    objective = build_objective([peaked_predictor("o", 11.0)], None, 0.0)
    result = propagate_wta(objective, start, iterations=20)
    path = result.x[:, 0, o]
    assert list(path[:8]) == [64, 56, 48, 40, 32, 24, 16, 8]  # J(8) > J(16): it walks down to the grid's best o
    stop = int(result.stopped[0])
    assert stop == 7 and np.all(path[stop:] == 8) and result.final[0, o] == 8
    longer = propagate_wta(objective, start, iterations=21)  # the parity of the budget no longer matters
    assert np.array_equal(longer.final, result.final)


def test_wta_never_chooses_a_dimension_that_cannot_move_that_way():
    """o is already at its minimum and shrinking it would help most: the next best shrinkable dim moves."""
    o, c = FIELD_NAMES.index("o"), FIELD_NAMES.index("c4_4")
    a = np.zeros(27)
    a[o], a[c] = -50.0, -1.0  # both lower the metric as they grow; o far more
    start = default_start(1)
    start[0, o] = 8
    result = propagate_wta(build_objective([linear_predictor(a)], None, 0.0), start, iterations=1)
    assert result.final[0, o] == 8 and result.final[0, c] == 56


@pytest.mark.parametrize("propagate", [propagate_continuous, propagate_wta])
def test_lambda_moves_metric_and_flops_the_way_it_asks(predictor, propagate):
    start = default_start(1)
    start_flops = cost_batch(start)[1][0]
    greedy = propagate(build_objective([predictor], None, 0.0), start, iterations=40)
    frugal = propagate(build_objective([predictor], None, 4.0), start, iterations=40)
    assert greedy.predicted[-1, 0, 0] > greedy.predicted[0, 0, 0] + 0.2  # lambda 0: the metric rises
    assert cost_batch(frugal.final)[1][0] < start_flops  # large lambda: FLOPs fall
    assert cost_batch(frugal.final)[1][0] < cost_batch(greedy.final)[1][0]
    assert greedy.gflops[-1, 0] > frugal.gflops[-1, 0]


def test_continuous_decodes_valid_codes_on_the_grid_from_many_starts(predictor):
    starts = parse_starts([c.to_string() for c in __import__("bench.space", fromlist=["x"]).sample_codes(50, seed=9)])
    result = propagate_continuous(build_objective([predictor], None, 0.5), starts, iterations=20)
    codes = [ArchCode.from_list(row.tolist()) for row in result.final]
    assert len(codes) == 50 and result.x.shape == (21, 50, 27)
    assert np.all((result.x >= MR_ENCODING.lo - 1e-4) & (result.x <= MR_ENCODING.hi + 1e-4))  # clipped


def test_a_batch_propagates_like_each_start_alone(predictor):
    objective = build_objective([predictor], None, 0.5)
    starts = np.concatenate([default_start(1), parse_starts(["8_8-1_1_1_8-4_2_4_4_128_128-1_3_1_1_1_8_8_8-4_4_4_4_4_4_128_128_128_128-128"])])
    together = propagate_continuous(objective, starts, iterations=30)
    alone = [propagate_continuous(objective, s[None], iterations=30) for s in starts]
    for i, single in enumerate(alone):
        assert np.array_equal(together.final[i], single.final[0])
        assert np.allclose(together.x[:, i], single.x[:, 0], atol=1e-3)


def test_propagation_is_deterministic(predictor):
    objective = build_objective([predictor], None, 0.3)
    a = propagate_continuous(objective, default_start(2), iterations=25)
    b = propagate_continuous(objective, default_start(2), iterations=25)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.final, b.final)


def test_bad_starts_and_settings_are_clear_errors(predictor):
    objective = build_objective([predictor], None, 0.5)
    with pytest.raises(BenchError, match=r"init='64_64-2' is not a valid start code"):
        parse_starts(["64_64-2"])
    with pytest.raises(BenchError, match="c1_1=65"):
        parse_starts(["64_64-2_1_2_65-2_2_2_2_64_64-2_3_2_2_2_64_64_64-2_4_2_2_2_2_64_64_64_64-64"])
    with pytest.raises(BenchError, match=r"\(N, 27\) array"):
        propagate_continuous(objective, np.zeros((2, 5)))
    outside = default_start(1).astype(float)
    outside[0, 0] = 500
    with pytest.raises(BenchError, match="i1=500 outside"):
        propagate_continuous(objective, outside)
    off_grid = default_start(1)
    off_grid[0, 0] = 60
    with pytest.raises(BenchError, match="grid"):
        propagate_wta(objective, off_grid)
