import numpy as np
import pytest
import torch

from bench.code import FIELD_NAMES
from bench.cost import cost_batch
from bench.errors import BenchError
from bench.nb201 import ops_of_onehot
from bench.ncp.baselines import random_codes
from bench.ncp.encoding import (
    MR_ENCODING,
    NB201_ENCODING,
    codes_to_array,
    decode_mr,
    encoding_for,
    nb201_argmax,
)
from bench.ncp.flops_poly import FlopsPolynomial
from bench.space import sample_codes


def test_standardise_round_trip_and_space_statistics():
    x = codes_to_array(sample_codes(2500))
    z = MR_ENCODING.standardise(x)
    assert np.allclose(MR_ENCODING.unstandardise(z), x, atol=1e-4)
    # uniform sampling -> standardised columns have mean ~0 and std ~1
    assert np.abs(z.mean(0)).max() < 0.1 and np.abs(z.std(0) - 1).max() < 0.1


def test_round_and_decode_any_continuous_point_gives_a_valid_code():
    rng = np.random.default_rng(0)
    x = rng.uniform(-50, 200, size=(500, 27))  # far outside the range too
    codes = decode_mr(x)
    grid = MR_ENCODING.round_raw(x)
    assert [c.to_list() for c in codes] == grid.tolist()  # the decoded codes are the rounded grid points
    channel = np.array([n[0] in "ico" for n in FIELD_NAMES])
    assert np.all(grid[:, channel] % 8 == 0) and grid.min() >= 1 and grid.max() <= 128


def test_nb201_argmax_and_ops():
    x = np.random.default_rng(1).random((3, 30))
    onehot = nb201_argmax(x)
    assert np.all(onehot.reshape(3, 6, 5).sum(-1) == 1)
    assert list(ops_of_onehot(onehot[0])) == list(x[0].reshape(6, 5).argmax(1))
    with pytest.raises(BenchError, match="one-hot"):
        ops_of_onehot(np.ones(30))
    assert NB201_ENCODING.dim == 30


def test_unknown_space_is_a_clear_error():
    with pytest.raises(BenchError, match="valid spaces"):
        encoding_for("darts")


@pytest.mark.parametrize("quantity, column, scale", [("flops", 1, 1e9), ("params", 0, 1e6)])
def test_polynomial_equals_cost_model_exactly(quantity, column, scale):
    poly = FlopsPolynomial.build(quantity=quantity)
    x = np.concatenate([codes_to_array(sample_codes(300)), random_codes(300, seed=3)])
    exact = cost_batch(x)[column]
    assert np.array_equal(np.rint(poly.numpy(x) * scale).astype(np.int64), exact)


def test_polynomial_gradient_matches_finite_difference():
    poly = FlopsPolynomial.build()
    x = torch.tensor(random_codes(4, seed=5), dtype=torch.float64, requires_grad=True)
    poly(x).sum().backward()
    grown = x.detach().clone()
    grown[:, 4] += 1e-3
    fd = (poly(grown) - poly(x.detach())) / 1e-3
    assert torch.allclose(x.grad[:, 4], fd, rtol=1e-4)
