"""DataError survives torch's re-raising from a DataLoader worker as the original one line."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from bench.errors import BenchError, DataError, check_number, one_line


class _BrokenFile(DataError):
    """A subclass, as the readers raise (UnreadableVideo, ...)."""


class _Failing(Dataset):
    def __init__(self, error: Exception) -> None:
        self.error = error

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> torch.Tensor:
        raise self.error


def _raised_in_worker(error: Exception) -> Exception:
    """What a real DataLoader worker process hands back for ``error``."""
    batches = iter(DataLoader(_Failing(error), num_workers=1))
    try:
        next(batches)
    except Exception as err:  # noqa: BLE001 - the test inspects whatever came back
        # Drop the frames that hold the iterator, so that its worker is shut down now, not in a later fork.
        err.__traceback__ = None
        return err
    finally:
        del batches
    raise AssertionError("the worker raised nothing")


@pytest.mark.parametrize("error_type", [DataError, _BrokenFile])
def test_data_error_from_a_worker_process_is_the_original_line(error_type):
    error = _raised_in_worker(error_type("video '/data/a.avi' has 3 decodable frames"))
    assert type(error) is error_type
    assert str(error) == "video '/data/a.avi' has 3 decodable frames"
    assert error.worker == "in DataLoader worker process 0"
    assert one_line(error) == str(error)


def test_one_line_recovers_other_errors_torch_rewraps():
    error = _raised_in_worker(KeyError("label"))
    assert type(error) is KeyError and "\n" in str(error)  # what torch gives
    assert one_line(error) == "KeyError in DataLoader worker process 0: 'label'"
    assert one_line(ValueError("plain")) == "plain"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "0.5", True, None])
def test_check_number_refuses_what_a_comparison_lets_through(value):
    with pytest.raises(BenchError, match="augment.hflip="):
        check_number("augment.hflip", value, 0.0, 1.0)


def test_check_number_range():
    assert check_number("x", 1, 0.0) == 1.0
    with pytest.raises(BenchError, match=r"x=2 is out of range; valid is a finite number in \[0.0, 1.0\]"):
        check_number("x", 2, 0.0, 1.0)
