"""Shared fixtures of the NCP tests: synthetic tables everywhere."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from bench.code import ArchCode
from bench.ncp.synthetic import synthetic_frame, synthetic_nb201_frame, tiny_predictor
from bench.store import Store
from bench.store.official import import_official


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    torch.set_num_threads(1)  # tiny MLPs; the CI machine is shared


@pytest.fixture(scope="session")
def predictor():
    return tiny_predictor("cls_a")

@pytest.fixture(scope="session")
def store_uri(tmp_path_factory):
    """A real store with seg, cls_a (300 architectures each) and nb201 imported from pickles generated here."""
    src = tmp_path_factory.mktemp("published")
    for setting, name in (("seg", "seg.pkl"), ("cls_a", "cls-50-1000.pkl")):
        frame = synthetic_frame(300, seed=0, setting=setting)
        metrics = [c for c in frame.columns if c in ("top1", "top5", "mIoU", "mAcc", "aAcc")]
        rows = [{**ArchCode.from_string(r["code"]).to_row(), "flops": r["gflops"], "params": r["params_m"],
                 **{m: r[m] for m in metrics}} for _, r in frame.iterrows()]
        (src / name).write_bytes(pickle.dumps(rows))
    nb = synthetic_nb201_frame(300, seed=0)
    rows = [{"embedding": np.asarray(r["embedding"], dtype=np.float32), "Acc": r["Acc"], "Flops": r["mflops"],
             "Params": r["params_m"]} for _, r in nb.iterrows()]
    (src / "nb201_sample.pkl").write_bytes(pickle.dumps(rows))
    uri = str(tmp_path_factory.mktemp("store") / "s")
    import_official(Store.open(uri), str(src))
    return uri
