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
from bench.store.schema import CODE_TYPE, results_schema


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


def extra_metric_names(setting: str, names: list[str]) -> tuple[str, ...]:
    """Metric names beyond the paper's list for ``setting``, sorted (kept, never dropped)."""
    known = set(get_setting(setting).metrics)
    return tuple(sorted({n for n in names if n not in known}))


def measured_results(setting: str, runs: pa.Table, metrics: pa.Table) -> pa.Table:
    """Mean over seeds of each metric of the succeeded runs, one row per architecture.

    For a seed with several succeeded attempts the latest attempt counts.
    ``runs`` needs arch_id, seed, attempt, status, code; ``metrics`` the
    long form (arch_id, seed, attempt, metric, value).
    """
    ok = runs.filter(pc.equal(runs["status"], "succeeded")).select(["arch_id", "seed", "attempt", "code"]).to_pandas()
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
    columns = architecture_columns(list(codes.values))
    wide = wide.reindex(codes.index)
    for name in (*get_setting(setting).metrics, *extras):
        values = wide[name].to_numpy(dtype=float) if name in wide.columns else np.full(len(codes), np.nan)
        columns[name] = pa.array(values, pa.float64(), mask=np.isnan(values))
    columns["n_seeds"] = pa.array(seeds.reindex(codes.index).to_numpy(), pa.int32())
    columns["source"] = pa.array(["measured"] * len(codes), pa.string())
    columns["official_index"] = pa.nulls(len(codes), pa.int32())
    return pa.table(columns, schema=schema)


def combine(setting: str, measured: pa.Table | None, imported: pa.Table | None, source: str | None) -> pa.Table:
    """Measured rows, then imported rows of architectures not measured (unless ``source`` picks one)."""
    parts = []
    if measured is not None and source in (None, "measured"):
        parts.append(measured)
    if imported is not None and source in (None, "imported"):
        if parts and len(measured):
            imported = imported.filter(pc.invert(pc.is_in(imported["arch_id"], measured["arch_id"])))
        parts.append(imported)
    if not parts:
        return results_schema(setting).empty_table()
    if len(parts) == 1:
        return parts[0]
    extras = extra_metric_names(setting, [n for p in parts for n in p.schema.names if n not in _fixed(setting)])
    schema = results_schema(setting, extras)
    return pa.concat_tables([_conform(p, schema) for p in parts])


def _fixed(setting: str) -> set[str]:
    return set(results_schema(setting).names) - set(get_setting(setting).metrics)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in order, missing metric columns as nulls."""
    columns = [
        table[f.name].cast(f.type) if f.name in table.schema.names else pa.nulls(len(table), f.type) for f in schema
    ]
    return pa.table(columns, schema=schema)
