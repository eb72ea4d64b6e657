"""Typed, versioned Arrow schemas of everything the store keeps.

Bump :data:`SCHEMA_VERSION` whenever a schema changes incompatibly; every
file the store writes carries the version in its Parquet key-value metadata
(``bench.schema_version``), and a store refuses files from a newer version
instead of misreading them.

Tables (one row each of):

- ``architectures``: an architecture (id, official string, 27 code columns, cost);
- ``runs``: an attempt of (arch, setting, seed), with its provenance;
- ``metrics``: a final metric of a run (long form: metric name, value);
- ``curves``: an evaluation during training (step, step unit, metric, value);
- ``artifacts``: a checkpoint or log of a run (URI, size, sha256);
- ``results``: the benchmark view of a setting, one row per architecture with
  the metrics under the paper's names as columns (see :func:`results_schema`).

Version 2 added the run identity (``variant``, ``identity``, ``data_kind``,
``dataset_id`` replacing ``dataset_hash``) and the results view's ``data_kind``
(replacing ``source``) and task-head cost columns; files of version 1 are read
with the new columns filled in (:func:`bench.store.commits.conform`).
"""

from __future__ import annotations

import pyarrow as pa

from bench.code import FIELD_NAMES
from bench.settings import get_setting

SCHEMA_VERSION = 2
VERSION_KEY = b"bench.schema_version"
TABLE_KEY = b"bench.table"

RUN_KEY_COLUMNS = ("arch_id", "setting", "seed", "attempt")
CODE_TYPE = pa.int16()
TIMESTAMP = pa.timestamp("us", tz="UTC")


def _with_version(schema: pa.Schema, table: str) -> pa.Schema:
    return schema.with_metadata({VERSION_KEY: str(SCHEMA_VERSION).encode(), TABLE_KEY: table.encode()})


def _key_fields() -> list[pa.Field]:
    return [
        pa.field("arch_id", pa.string(), nullable=False),
        pa.field("setting", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("attempt", pa.int32(), nullable=False),
    ]


CODE_FIELDS = [pa.field(name, CODE_TYPE, nullable=False) for name in FIELD_NAMES]

ARCHITECTURES = _with_version(
    pa.schema(
        [pa.field("arch_id", pa.string(), nullable=False), pa.field("code", pa.string(), nullable=False)]
        + CODE_FIELDS
        + [pa.field("params_m", pa.float64()), pa.field("gflops", pa.float64())]
    ),
    "architectures",
)

RUN_FIELDS = _key_fields() + [
    pa.field("code", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),  # succeeded | failed | running
    pa.field("error", pa.string()),
    pa.field("started_at", TIMESTAMP),
    pa.field("ended_at", TIMESTAMP),
    pa.field("wall_seconds", pa.float64()),
    pa.field("gpu_hours", pa.float64()),
    pa.field("host", pa.string()),
    pa.field("gpu_model", pa.string()),
    pa.field("git_sha", pa.string()),
    pa.field("packages", pa.map_(pa.string(), pa.string())),
    pa.field("config_json", pa.string()),
    pa.field("config_hash", pa.string()),
    pa.field("dataset_id", pa.string()),
    pa.field("variant", pa.string()),  # "" is the benchmark; else a user's label for a deliberate variant
    pa.field("identity", pa.string()),  # 8 hex digits over (variant, dataset_id, config_hash)
    pa.field("data_kind", pa.string()),  # real | synthetic
    pa.field("info_json", pa.string()),
]
RUNS = _with_version(pa.schema(RUN_FIELDS), "runs")

METRIC_STRUCT = pa.struct([pa.field("metric", pa.string(), nullable=False), pa.field("value", pa.float64())])
CURVE_STRUCT = pa.struct(
    [
        pa.field("step", pa.int64(), nullable=False),
        pa.field("step_unit", pa.string(), nullable=False),
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
    ]
)
ARTIFACT_STRUCT = pa.struct(
    [
        pa.field("kind", pa.string(), nullable=False),
        pa.field("uri", pa.string(), nullable=False),
        pa.field("size", pa.int64()),
        pa.field("sha256", pa.string()),
        pa.field("step", pa.int64()),
    ]
)

METRICS_TABLE = _with_version(pa.schema(_key_fields() + list(METRIC_STRUCT)), "metrics")
CURVES = _with_version(pa.schema(_key_fields() + list(CURVE_STRUCT)), "curves")
ARTIFACTS = _with_version(pa.schema(_key_fields() + list(ARTIFACT_STRUCT)), "artifacts")

COMMIT = _with_version(
    pa.schema(
        RUN_FIELDS
        + [
            pa.field("metrics", pa.list_(METRIC_STRUCT)),
            pa.field("curve", pa.list_(CURVE_STRUCT)),
            pa.field("artifacts", pa.list_(ARTIFACT_STRUCT)),
        ]
    ),
    "commit",
)
"""One committed run attempt: the run row with its metrics, curve and artifacts nested."""

DATA_KINDS = ("real", "imported", "synthetic")
"""Where a number comes from: this project's runs on real data, the authors' published files, or runs on
generated (toy) data, which are never benchmark numbers."""

HEAD_COST_COLUMNS = ("head_params_m", "head_gflops")
"""The setting's own network (its task head: ``Setting.cost``) counted at the benchmark's 128 x 128 input,
beside ``params_m`` / ``gflops``, which are always the published classification convention."""

STORE_COLUMNS = frozenset({"arch_id", "code", "embedding", *FIELD_NAMES, "params_m", "gflops", "mflops", *HEAD_COST_COLUMNS,
                           "n_seeds", "data_kind", "official_index", "provenance"})
"""The store's own columns of a setting's table or export (derived from the code, or bookkeeping): never metrics."""


def results_schema(setting: str, extra_metrics: tuple[str, ...] = ()) -> pa.Schema:
    """The benchmark view of ``setting``: one row per architecture, metrics as columns.

    ``data_kind`` is ``"real"`` (aggregated from this store's runs on real data, mean
    over seeds), ``"imported"`` (the authors' published value; no runs behind it) or
    ``"synthetic"`` (runs on generated data: never benchmark numbers).
    ``official_index`` is the row's position in the published pickle (null for
    measured rows), so an export back to the pickle layout keeps the order.
    """
    info = get_setting(setting)
    metrics = [pa.field(m, pa.float64()) for m in (*info.metrics, *extra_metrics)]
    if info.space == "nb201":
        prefix = [
            pa.field("arch_id", pa.string(), nullable=False),
            pa.field("code", pa.string(), nullable=False),
            pa.field("embedding", pa.list_(pa.float32(), 30)),
            pa.field("params_m", pa.float64()),
            pa.field("gflops", pa.float64()),
            pa.field("mflops", pa.float64()),
        ]
    else:
        prefix = list(ARCHITECTURES) + [pa.field(name, pa.float64()) for name in HEAD_COST_COLUMNS]
    suffix = [
        pa.field("n_seeds", pa.int32()),
        pa.field("data_kind", pa.string(), nullable=False),
        pa.field("official_index", pa.int32()),
    ]
    return _with_version(pa.schema(prefix + metrics + suffix), f"results/{setting}")


def file_version(metadata: dict[bytes, bytes] | None) -> int | None:
    """The schema version a file declares, or None when it declares none."""
    if not metadata or VERSION_KEY not in metadata:
        return None
    return int(metadata[VERSION_KEY])
