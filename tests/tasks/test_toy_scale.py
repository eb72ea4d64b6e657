"""Scaled-up toy sets (GPU-sized batches need more samples per epoch): counts, marker, identity, refusals."""

from __future__ import annotations

import pytest

from bench.errors import BenchError
from tasks.common import toy_identity
from tasks.data.cityscapes import IMAGE_SUFFIX
from tasks.toydata import ensure_toy, toy_scale
from tasks.toydata.cityscapes import split_sizes


def _images(root, split):
    return sorted((root / "leftImg8bit" / split).rglob(f"*{IMAGE_SUFFIX}"))


def test_scale_multiplies_the_samples_and_is_recorded(tmp_path):
    default, scaled = ensure_toy("cityscapes", tmp_path / "x1"), ensure_toy("cityscapes", tmp_path / "x3", scale=3)
    assert {s: len(_images(default, s)) for s in ("train", "val")} == split_sizes(1) == {"train": 12, "val": 4}
    assert {s: len(_images(scaled, s)) for s in ("train", "val")} == split_sizes(3) == {"train": 36, "val": 12}
    # The default toy keeps its marker and identity; a scaled one says so in both.
    assert (default / ".toy-complete").read_text().strip() == "cityscapes v3" and toy_scale(default) == 1
    assert (scaled / ".toy-complete").read_text().strip() == "cityscapes v3 x3" and toy_scale(scaled) == 3
    assert toy_identity("cityscapes", default) == toy_identity("cityscapes") == "synthetic:cityscapes-toy-v3"
    assert toy_identity("cityscapes", scaled) == "synthetic:cityscapes-toy-v3-x3"
    # The first scaled scene is the default's first scene: same generator, same seed, more draws.
    assert _images(default, "train")[0].read_bytes() == _images(scaled, "train")[0].read_bytes()


def test_a_job_accepts_any_scale_but_an_explicit_other_scale_is_refused(tmp_path):
    root = ensure_toy("cityscapes", tmp_path / "c", scale=2)
    before = len(_images(root, "train"))
    assert ensure_toy("cityscapes", root) == root and len(_images(root, "train")) == before  # what a job calls
    with pytest.raises(BenchError, match="not scale 1"):
        ensure_toy("cityscapes", root, scale=1)
    with pytest.raises(BenchError, match="not 'imagenet'"):
        ensure_toy("imagenet", root)
    with pytest.raises(BenchError, match="integer >= 1"):
        ensure_toy("cityscapes", tmp_path / "d", scale=0)
