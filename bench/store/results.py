"""The benchmark view: runs and long-form metrics folded into one row per architecture."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.code import FIELD_NAMES, ArchCode
from bench.cost import cost_batch
from bench.settings import get_setting
from bench.store.schema import CODE_TYPE, HEAD_COST_COLUMNS, results_schema

VIEWS = ("benchmark", "real", "imported", "synthetic")
"""What ``Store.load_setting(data=...)`` shows: the benchmark (real runs, else published values), only
real runs, only published values, or only runs on generated data."""


@lru_cache(maxsize=1 << 16)
def _decoded(code: str) -> tuple[str, str, tuple[int, ...]]:
    # Compaction and reads decode the same few thousand codes over and over (every seed,
    # every compaction); validating each once per process is enough.
    parsed = ArchCode.from_string(code)
    return parsed.arch_id, parsed.to_string(), tuple(parsed.to_list())


def architecture_columns(codes: Sequence[str | ArchCode]) -> dict[str, pa.Array]:
    """arch_id, code, the 27 code columns and the benchmark's params_m / gflops (official strings or codes)."""
    decoded = [(c.arch_id, c.to_string(), tuple(c.to_list())) if isinstance(c, ArchCode) else _decoded(c)
               for c in codes]
    matrix = np.array([d[2] for d in decoded], dtype=np.int64).reshape(len(decoded), len(FIELD_NAMES))
    params, flops = cost_batch(matrix) if len(decoded) else (np.zeros(0), np.zeros(0))
    columns = {"arch_id": pa.array([d[0] for d in decoded], pa.string()),
               "code": pa.array([d[1] for d in decoded], pa.string())}
    for i, name in enumerate(FIELD_NAMES):
        columns[name] = pa.array(matrix[:, i], CODE_TYPE)
    columns["params_m"] = pa.array(params / 1e6, pa.float64())
    columns["gflops"] = pa.array(flops / 1e9, pa.float64())
    return columns


def head_cost_columns(setting: str, codes: Sequence[str | ArchCode]) -> dict[str, pa.Array]:
    """``head_params_m`` / ``head_gflops``: the setting's own network (``Setting.cost``) of each code."""
    spec = get_setting(setting).cost
    if spec is None:
        return {name: pa.nulls(len(codes), pa.float64()) for name in HEAD_COST_COLUMNS}
    decoded = [c.to_list() if isinstance(c, ArchCode) else _decoded(c)[2] for c in codes]
    matrix = np.array(decoded, dtype=np.int64).reshape(len(decoded), len(FIELD_NAMES))
    params, flops = cost_batch(matrix, spec) if len(decoded) else (np.zeros(0), np.zeros(0))
    return {"head_params_m": pa.array(params / 1e6, pa.float64()), "head_gflops": pa.array(flops / 1e9, pa.float64())}


def extra_metric_names(setting: str, names: list[str]) -> tuple[str, ...]:
    """Metric names beyond the paper's list for ``setting``, sorted (kept, never dropped)."""
    known = set(get_setting(setting).metrics)
    return tuple(sorted({n for n in names if n not in known}))


def measured_results(setting: str, runs: pa.Table, metrics: pa.Table, data_kind: str = "real",
                     variant: str = "") -> pa.Table:
    """Mean over seeds of each metric of the succeeded runs of one group, one row per architecture.

    The group is (``data_kind``, ``variant``): real and synthetic runs, and a variant's runs,
    never mix. Within a group every run has one identity (the scheduler and the training
    launcher refuse another), so the mean is over seeds of one experiment. For a seed with
    several succeeded attempts the latest attempt counts. ``runs`` needs arch_id, seed,
    attempt, status, code, data_kind, variant; ``metrics`` the long form (arch_id, seed,
    attempt, metric, value).
    """
    keep = pc.and_(pc.equal(runs["status"], "succeeded"),
                   pc.and_(pc.equal(pc.fill_null(runs["data_kind"], "real"), data_kind),
                           pc.equal(pc.fill_null(runs["variant"], ""), variant)))
    ok = runs.filter(keep).select(["arch_id", "seed", "attempt", "code"]).to_pandas()
    if ok.empty:
        return results_schema(setting).empty_table()
    latest = ok.sort_values("attempt").drop_duplicates(["arch_id", "seed"], keep="last")
    long = metrics.select(["arch_id", "seed", "attempt", "metric", "value"]).to_pandas()
    long = long.merge(latest[["arch_id", "seed", "attempt"]], on=["arch_id", "seed", "attempt"])
    wide = long.pivot_table(index="arch_id", columns="metric", values="value", aggfunc="mean", dropna=False)
    seeds = latest.groupby("arch_id")["seed"].nunique()
    codes = latest.drop_duplicates("arch_id").set_index("arch_id")["code"].sort_index()
    extras = extra_metric_names(setting, list(wide.columns))
    schema = results_schema(setting, extras)
    columns = {**architecture_columns(list(codes.values)), **head_cost_columns(setting, list(codes.values))}
    wide = wide.reindex(codes.index)
    for name in (*get_setting(setting).metrics, *extras):
        values = wide[name].to_numpy(dtype=float) if name in wide.columns else np.full(len(codes), np.nan)
        columns[name] = pa.array(values, pa.float64(), mask=np.isnan(values))
    columns["n_seeds"] = pa.array(seeds.reindex(codes.index).to_numpy(), pa.int32())
    columns["data_kind"] = pa.array([data_kind] * len(codes), pa.string())
    columns["official_index"] = pa.nulls(len(codes), pa.int32())
    return pa.table(columns, schema=schema)


def combine(setting: str, measured: pa.Table | None, imported: pa.Table | None) -> pa.Table:
    """Measured rows, then imported rows of architectures not measured."""
    parts = []
    if measured is not None:
        parts.append(measured)
    if imported is not None:
        if parts and len(measured):
            imported = imported.filter(pc.invert(pc.is_in(imported["arch_id"], measured["arch_id"])))
        parts.append(imported)
    if not parts:
        return results_schema(setting).empty_table()
    extras = extra_metric_names(setting, [n for p in parts for n in p.schema.names if n not in _fixed(setting)])
    schema = results_schema(setting, extras)
    conformed = [_conform(p, schema, setting) for p in parts]
    return conformed[0] if len(conformed) == 1 else pa.concat_tables(conformed)


def _fixed(setting: str) -> set[str]:
    # Columns of the view that are not metrics (and a schema-1 file's ``source``).
    return set(results_schema(setting).names) - set(get_setting(setting).metrics) | {"source"}


def _conform(table: pa.Table, schema: pa.Schema, setting: str) -> pa.Table:
    """``table`` with ``schema``'s columns in order; missing metric columns as nulls, and a schema-1
    table's ``source`` (measured | imported) and missing head cost read in today's terms."""
    names = table.schema.names
    if table.schema.equals(schema, check_metadata=False):
        return table
    columns = []
    for f in schema:
        if f.name in names:
            columns.append(table[f.name].cast(f.type))
        elif f.name == "data_kind" and "source" in names:
            columns.append(pc.replace_substring(table["source"].cast(pa.string()), "measured", "real"))
        elif f.name in HEAD_COST_COLUMNS and "code" in names and get_setting(setting).space == "nasbench_mr":
            columns.append(head_cost_columns(setting, table["code"].to_pylist())[f.name])
        else:
            columns.append(pa.nulls(len(table), f.type))
    return pa.table(columns, schema=schema)
