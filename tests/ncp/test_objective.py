import copy
import warnings

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.ncp.baselines import random_codes
from bench.ncp.data import SettingTable
from bench.ncp.encoding import MR_ENCODING, NB201_ENCODING
from bench.ncp.flops_poly import FlopsPolynomial
from bench.ncp.objective import Head, SearchObjective
from bench.ncp.predictor import PredictorConfig, train_predictor
from bench.ncp.recipe import recipe_named
from bench.ncp.search import build_objective, nb201_objective
from bench.ncp.synthetic import synthetic_frame, synthetic_nb201_frame, tiny_config, tiny_predictor


def _z(n=5, seed=0):
    return torch.tensor(MR_ENCODING.standardise(random_codes(n, seed)))


@pytest.fixture(scope="module")
def other_recipes():
    """Predictors of cls_a by the authors' recipe (code only, swish) and by a ReLU variant: mixed stacks."""
    table = SettingTable.from_frame(synthetic_frame(300, seed=6), "cls_a")
    authors = train_predictor(table, config=tiny_config(8, members=1, recipe="authors", n_train=240, n_val=60))
    relu = train_predictor(table, config=PredictorConfig(recipe_named("default", {"epochs": 8, "members": 2,
                                                                                  "activation": "relu"}), n_train=240, n_val=60))
    return authors, relu


@pytest.mark.parametrize("lam", [0.0, 0.5, 2.0])
def test_hand_written_gradient_equals_autograd_of_the_papers_loss(predictor, lam):
    objective = build_objective([predictor], None, lam)
    z = _z().requires_grad_(True)
    objective.autograd_loss(z).backward()
    _, gflops, grad = objective.value_and_grad(z.detach().numpy())
    assert np.allclose(grad, z.grad.numpy(), atol=1e-5)
    exact = FlopsPolynomial.build().numpy(MR_ENCODING.unstandardise(z.detach().numpy()))
    assert np.allclose(gflops, exact, rtol=1e-4)


def test_gradient_through_mixed_recipes_activations_and_features_equals_autograd(predictor, other_recipes):
    """Default (cost features, 2 members), authors (code only) and ReLU predictors in one objective."""
    objective = build_objective([predictor, *other_recipes], [1.0, 0.5, 2.0], 0.7)
    assert len(objective._stacks) == 2  # swish and relu members stack separately
    z = _z(6, seed=3).requires_grad_(True)
    objective.autograd_loss(z).backward()
    y, _, grad = objective.value_and_grad(z.detach().numpy())
    assert np.allclose(grad, z.grad.numpy(), atol=1e-5)
    x = MR_ENCODING.unstandardise(z.detach().numpy())
    for i, p in enumerate((predictor, *other_recipes)):
        assert np.allclose(objective.head_points(y)[:, i], p.predict(x)["top1"], atol=1e-3)


def test_multi_task_gradient_is_the_weighted_sum_of_single_task_gradients():
    cls, seg = tiny_predictor("cls_a"), tiny_predictor("seg")
    z = _z(4, seed=1).numpy()
    g_cls = build_objective([cls], None, 0.0).value_and_grad(z)[2]
    g_seg = build_objective([seg], None, 0.0).value_and_grad(z)[2]
    g_both = build_objective([cls, seg], [0.3, 1.7], 0.0).value_and_grad(z)[2]
    assert np.allclose(g_both, 0.3 * g_cls + 1.7 * g_seg, atol=1e-6)


def test_score_is_the_objective_with_exact_flops(predictor):
    objective = build_objective([predictor], None, 1.0)
    x = random_codes(6, seed=2)
    predicted = predictor.predict(x)["top1"]
    gflops = FlopsPolynomial.build().numpy(x)
    unit = objective._flops_unit
    expected = (predicted - predictor.target_mean[0]) / predictor.target_std[0] - gflops / unit
    assert np.allclose(objective.score(x), expected, atol=1e-4)


def test_nb201_objective_gradient_includes_the_learned_flops_head():
    table = SettingTable.from_frame(synthetic_nb201_frame(300), "nb201")
    p = train_predictor(table, None, tiny_config(10, n_train=240, n_val=60))
    objective = nb201_objective(p, 0.4)
    z = torch.tensor(NB201_ENCODING.standardise(np.random.default_rng(0).random((3, 30))), requires_grad=True)
    objective.autograd_loss(z).backward()
    assert np.allclose(objective.value_and_grad(z.detach().numpy())[2], z.grad.numpy(), atol=1e-5)


def test_bad_objectives_are_clear_errors(predictor):
    with pytest.raises(BenchError, match="lambda=-1"):
        build_objective([predictor], None, -1.0)
    with pytest.raises(BenchError, match="lambda=nan"):
        build_objective([predictor], None, float("nan"))
    with pytest.raises(BenchError, match=r"predictor.weights=\[1.0, 1.0\] gives 2 weights for 1 settings"):
        build_objective([predictor], [1.0, 1.0], 0.5)
    with pytest.raises(BenchError, match="non-negative"):
        build_objective([predictor, tiny_predictor("seg")], [1.0, -1.0], 0.5)
    with pytest.raises(BenchError, match="at least one predictor"):
        SearchObjective([], 0.5, None)
    with pytest.raises(BenchError, match="no metric 'mIoU'"):
        SearchObjective([Head(predictor, "mIoU", 1.0)], 0.5, None)


def test_gradient_with_only_some_cost_features_equals_autograd():
    """One log-cost input (params) and the stage sums: the linear features folded, one log column chosen."""
    table = SettingTable.from_frame(synthetic_frame(300, seed=8), "cls_a")
    recipe = recipe_named("default", {"epochs": 6, "members": 2, "features": ("code", "log_params", "stage_sums")})
    p = train_predictor(table, config=PredictorConfig(recipe, n_train=240, n_val=60))
    objective = build_objective([p], None, 0.3)
    assert objective._cost_columns == [1] and not objective._all_cost
    z = _z(5, seed=4).requires_grad_(True)
    objective.autograd_loss(z).backward()
    y, _, grad = objective.value_and_grad(z.detach().numpy())
    assert np.allclose(grad, z.grad.numpy(), atol=1e-5)
    x = MR_ENCODING.unstandardise(z.detach().numpy())
    assert np.allclose(objective.head_points(y)[:, 0], p.predict(x)["top1"], atol=1e-3)
    assert np.allclose(objective.heads_standardised(z.detach().numpy()), y, atol=1e-5)


def test_saturated_swish_units_give_autograd_equal_gradients_without_float_warnings(predictor):
    """First-layer weights x 1000 push pre-activations far past +-60, where exp would overflow or
    underflow to denormals: the clipped sigmoid must still match autograd and raise no warning."""
    big = copy.deepcopy(predictor)
    with torch.no_grad():
        for net in big.members:
            net.shared[0].weight.mul_(1000.0)
    objective = build_objective([big], None, 0.5)
    z = _z(6, seed=7).requires_grad_(True)
    objective.autograd_loss(z).backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, _, grad = objective.value_and_grad(z.detach().numpy())
    first = objective._stacks[0][0]
    assert np.abs(objective._inputs(*_raw_and_cost(objective, z)) @ first.w1 + first.b1).max() > 1000
    assert np.isfinite(y).all() and np.allclose(grad, z.grad.numpy(), rtol=1e-4, atol=1e-3)


def _raw_and_cost(objective, z):
    x = objective._raw(z.detach().numpy())
    return x, objective._cost.values(x)
