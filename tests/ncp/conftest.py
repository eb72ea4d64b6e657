"""Shared fixtures of the NCP tests: synthetic tables everywhere."""

from __future__ import annotations

import pytest
import torch

from bench.ncp.synthetic import tiny_predictor


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    torch.set_num_threads(1)  # tiny MLPs; the CI machine is shared


@pytest.fixture(scope="session")
def predictor():
    return tiny_predictor("cls_a")
