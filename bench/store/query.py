"""Queries across settings: join settings on arch_id."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from bench.code import FIELD_NAMES
from bench.errors import BenchError
from bench.settings import get_setting, setting_names
from bench.store.store import Store

JOIN_TYPES = ("inner", "left outer", "full outer")


def join_settings(store: Store, settings: Sequence[str], metrics: Sequence[str] | None = None,
                  how: str = "inner") -> pa.Table:
    """One row per architecture with ``<setting>.<metric>`` columns for each setting, joined on arch_id.

    ``metrics`` defaults to each setting's paper metrics; ``how`` is ``inner``
    (architectures every setting has), ``left outer`` (those of the first
    setting) or ``full outer``.

    Example (names only; see tests/store/test_api.py):
        store.join(["cls_a", "seg"], metrics=["top1", "mIoU"])  # arch_id, code, ..., cls_a.top1, seg.mIoU
    """
    if how not in JOIN_TYPES:
        raise BenchError(f"how={how!r} is invalid; valid joins are {list(JOIN_TYPES)}")
    if len(settings) < 1:
        raise BenchError("join needs at least one setting")
    for setting in settings:
        if get_setting(setting).space != "nasbench_mr":
            raise BenchError(f"setting {setting!r} cannot be joined; NAS-Bench-MR settings are "
                             f"{setting_names(space='nasbench_mr')}")
    arch_columns = ["arch_id", "code", *FIELD_NAMES, "params_m", "gflops"]
    joined: pa.Table | None = None
    for setting in settings:
        table = store.load_setting(setting)
        wanted = [m for m in (metrics if metrics is not None else get_setting(setting).metrics) if m in table.schema.names]
        if metrics is not None and not wanted:
            raise BenchError(f"none of the metrics {list(metrics)} is a column of {setting}; it has {list(get_setting(setting).metrics)}")
        part = table.select(["arch_id", *wanted]).rename_columns(["arch_id", *(f"{setting}.{m}" for m in wanted)])
        if joined is None:
            joined = part
        else:
            joined = joined.join(part, "arch_id", join_type=how, coalesce_keys=True)
    # Code columns and cost come from the union of the settings' rows.
    codes = pa.concat_tables([store.load_setting(s, columns=arch_columns) for s in settings]).group_by("arch_id", use_threads=False).aggregate(
        [(c, "first") for c in arch_columns[1:]]).rename_columns(arch_columns)
    result = codes.join(joined, "arch_id", join_type="right outer", coalesce_keys=True)
    return result.select([*arch_columns, *joined.schema.names[1:]]).sort_by("arch_id")
