"""Store-shaped tables from the published pickles (tests skip when ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bench.code import FIELD_NAMES, ArchCode
from bench.ncp.data import SettingTable

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "nasbench_mr"


def shared_frame(file_name: str, setting: str) -> pd.DataFrame:
    """A store-shaped DataFrame built from a published pickle (skips when ../shared is absent)."""
    from bench.cost import cost
    from bench.safe_pickle import load_untrusted
    from bench.settings import get_setting

    path = SHARED / file_name
    if not path.exists():
        pytest.skip(f"published data not available at {path} (../shared is absent)")
    rows = load_untrusted(path)
    if setting == "nb201":
        return pd.DataFrame({"embedding": [r["embedding"] for r in rows], "Acc": [r["Acc"] for r in rows],
                             "Flops": [r["Flops"] for r in rows], "Params": [r["Params"] for r in rows],
                             "official_index": range(len(rows))})
    records = []
    for index, row in enumerate(rows):
        code = ArchCode.from_row(row)
        c = cost(code)
        record = {"arch_id": code.arch_id, "code": code.to_string(), **dict(zip(FIELD_NAMES, code.to_list())),
                  "params_m": c.params_m, "gflops": c.gflops, "official_index": index}
        record.update({m: row[m] for m in get_setting(setting).metrics if m in row})
        records.append(record)
    return pd.DataFrame(records).drop_duplicates("arch_id")


def shared_table(file_name: str, setting: str) -> SettingTable:
    return SettingTable.from_frame(shared_frame(file_name, setting), setting)
