"""The loop a user runs: search -> found_codes.txt -> train them (run.py sweep=file) -> mode=evaluate fills in truth."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bench.code import FIELD_NAMES, ArchCode
from bench.cost import cost
from bench.ncp.driver import run
from bench.ncp.options import parse_options
from bench.ncp.synthetic import synthetic_frame, synthetic_metric
from bench.sched.codes import read_code_list

CONF = Path(__file__).resolve().parents[2] / "conf"
SMALL = ["predictor.epochs=10", "predictor.members=1", "predictor.n_train=240", "predictor.n_val=60",
         "propagation.iterations=15"]


def options(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("search", overrides=[f"store={tmp_path / 'store'}", f"out={tmp_path / 'out'}", *SMALL, *overrides])
    return parse_options(OmegaConf.to_container(cfg, resolve=True))


def measured(frame: pd.DataFrame, codes: list[ArchCode]) -> pd.DataFrame:
    """``frame`` plus rows for ``codes`` as if they had been trained since (metric from the synthetic formula)."""
    rows = []
    for code in codes:
        c = cost(code)
        value = float(synthetic_metric(np.array([code.to_list()]), np.array([c.gflops]))[0])
        rows.append({"arch_id": code.arch_id, "code": code.to_string(), **dict(zip(FIELD_NAMES, code.to_list())),
                     "params_m": c.params_m, "gflops": c.gflops, "mIoU": value, "mAcc": value + 3, "aAcc": value + 6})
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)


def test_search_codes_file_training_and_evaluate(tmp_path):
    before = synthetic_frame(300, seed=0, setting="seg")
    lines: list[str] = []
    result = run(options(tmp_path, "predictor.settings=[seg]", "init=random:4", "seed=1"),
                 lambda s, data="benchmark": before, lines.append)
    assert any("training the 'default' predictor" in line for line in lines)  # progress while training
    assert any(line.startswith("found ") for line in lines) and any("exact cost" in line for line in lines)
    assert any("nearest measured" in line for line in lines) and result["in_store"] is False

    codes_file = tmp_path / "out" / "found_codes.txt"
    codes = read_code_list(codes_file)  # exactly what launch/run.py sweep=file sweep.codes_file=... reads
    assert [c.to_string() for c in codes] == list(dict.fromkeys(c["code"] for c in result["candidates"]))
    assert codes[0].to_string() == result["code"] and f"sweep.codes_file={codes_file}" in codes_file.read_text()

    later = measured(before, codes[:2])  # the first two found codes were trained since
    lines.clear()
    evaluated = run(options(tmp_path, "mode=evaluate"), lambda s, data="benchmark": later, lines.append)
    on_disk = json.loads((tmp_path / "out" / "result.json").read_text())
    assert on_disk == json.loads(json.dumps(evaluated))
    truth = later.set_index("code")["mIoU"]
    assert evaluated["in_store"] is True and evaluated["true"]["mIoU"] == truth[result["code"]]
    assert evaluated["nearest"]["distance"] == 0.0 and "note" not in evaluated
    filled = [c["true"] for c in evaluated["candidates"]]
    assert filled[:2] == [truth[codes[0].to_string()], truth[codes[1].to_string()]] and set(filled[2:]) == {None}
    assert any("2 of 4 found codes are measured" in line for line in lines)
    assert evaluated["predicted"] == result["predicted"]  # evaluation re-reads the store, never retrains
    assert not any("generated (toy) data" in line for line in lines)

    # A code trained on generated data (data=toy) is not a benchmark value: nothing is filled in, and the user is told.
    toy = measured(before.iloc[:0], codes[2:3])
    lines.clear()
    evaluated = run(options(tmp_path, "mode=evaluate"),
                    lambda s, data="benchmark": toy if data == "synthetic" else later, lines.append)
    assert [c["true"] for c in evaluated["candidates"]][2] is None
    assert f"  1 more was trained on generated (toy) data only: not benchmark values, so nothing is filled in for " \
           f"{codes[2].to_string()}" in lines
