"""Networks trained together as stacked tensors behave as each network alone, and never talk to each other."""

import copy

import numpy as np
import pytest
import torch

from bench.ncp.model import MetricNet
from bench.ncp.recipe import recipe_named
from bench.ncp.stacked import StackedNets
from bench.ncp.training import TrainingData, train_members

NO_DROPOUT = recipe_named("authors", {"dropout": 0.0, "branch_dropout": (0.0, 0.0, 0.0)})
GROUPS = (1, 2, 2)


def random_nets(n: int, recipe=NO_DROPOUT) -> list[MetricNet]:
    nets = []
    for seed in range(n):
        torch.manual_seed(seed)
        net = MetricNet(9, GROUPS, recipe.branch_dropout, recipe)
        for name, buffer in net.named_buffers():  # non-trivial statistics, so the test can see them used
            if buffer.is_floating_point():
                buffer.copy_(torch.rand_like(buffer) + 0.5)
        nets.append(net)
    return nets


@pytest.mark.parametrize("training", [False, True])
def test_stacked_forward_and_gradients_equal_each_network_alone(training):
    nets = random_nets(3)
    alone = copy.deepcopy(nets)
    stacked = StackedNets(nets)
    torch.manual_seed(9)
    x, target = torch.randn(3, 16, 9), torch.randn(3, 16, 5)
    out = stacked.forward(x, training)
    ((out - target).abs().mean((1, 2))).sum().backward()
    for e, net in enumerate(alone):
        net.train(training)
        expected = net(x[e])
        assert torch.allclose(out[e], expected, atol=1e-5)
        (expected - target[e]).abs().mean().backward()
        for name, p in net.named_parameters():  # each member's gradient is its own loss's, nothing else's
            assert torch.allclose(stacked.params[name].grad[e], p.grad, atol=1e-5), name
    written = copy.deepcopy(nets)
    stacked.unstack(written)
    for e, net in enumerate(alone):  # running statistics updated as BatchNorm1d updates them (or kept, in eval)
        for name, buffer in net.named_buffers():
            assert torch.allclose(written[e].get_buffer(name).to(buffer.dtype), buffer, atol=1e-5), name


def test_stacking_refuses_networks_of_different_layouts():
    recipe = recipe_named("authors")
    with pytest.raises(ValueError, match="one layout"):
        StackedNets([MetricNet(9, (1, 2), (0.5, 0.5), recipe), MetricNet(9, (1, 3), (0.5, 0.5), recipe)])


@pytest.fixture(scope="module")
def data() -> TrainingData:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 9)).astype(np.float32)
    y = np.stack([x[:, 0] + x[:, 1] ** 2, x[:, 2], x[:, 3] * x[:, 4]], 1).astype(np.float32)
    return TrainingData(torch.from_numpy(x), torch.from_numpy(y), np.arange(240), np.arange(240, 300),
                        torch.zeros(9), torch.ones(9))


def train(data, seeds, losses=None, epochs=4):
    recipe = recipe_named("authors", {"epochs": epochs})
    return train_members(lambda: MetricNet(9, (1, 2), (0.5, 0.5), recipe), recipe, data, seeds, losses)


def predictions(net: MetricNet, data: TrainingData) -> np.ndarray:
    with torch.no_grad():
        return net(data.features).numpy()


def test_a_members_training_does_not_depend_on_the_other_members(data):
    (a0, a1), history_a = train(data, [5, 6])
    (b0, b1), history_b = train(data, [5, 7])
    assert np.allclose(predictions(a0, data), predictions(b0, data), atol=1e-5)  # member 1's seed changed, member 0 not
    assert np.allclose(history_a[0], history_b[0], atol=1e-5)
    assert not np.allclose(predictions(a1, data), predictions(b1, data), atol=1e-3)
    (c0, c1), _ = train(data, [5, 5], ["l1", "smooth_l1"])
    (d0, d1), _ = train(data, [5, 5], ["l1", "l1"])
    assert np.allclose(predictions(c0, data), predictions(d0, data), atol=1e-5)  # member 1's loss changed, member 0 not
    assert not np.allclose(predictions(c1, data), predictions(d1, data), atol=1e-3)


def test_members_learn_and_come_back_frozen_in_eval_mode(data):
    (net,), history = train(data, [1], epochs=40)
    assert history.shape == (1, 40, 60, 3) and not net.training
    assert all(not p.requires_grad for p in net.parameters())
    truth = data.targets[240:].numpy()
    first, last = np.abs(history[0, 0] - truth).mean(), np.abs(history[0, -1] - truth).mean()
    assert last < 0.6 * first
    assert np.allclose(predictions(net, data)[240:], history[0, -1], atol=1e-5)  # the returned net is the last epoch's


def test_bad_losses_are_refused(data):
    with pytest.raises(ValueError, match="one concrete loss"):
        train(data, [1, 2], ["l1"])
    with pytest.raises(ValueError, match="one concrete loss"):
        train(data, [1], ["mix"])
