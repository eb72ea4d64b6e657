"""Exports: per-setting benchmark Parquet files with a manifest, and the authors' pickle layout.

``export_benchmark`` writes ``DIR/<setting>.parquet`` (one row per
architecture: arch_id, code, the 27 code columns, params_m, gflops, the
metrics under the paper's names, n_seeds, source, provenance),
``DIR/<setting>.curves.parquet`` when the setting has learning curves, and
``DIR/MANIFEST.json`` (row counts, sha256 per file, schema version, coverage).

A setting is complete when every architecture with a run attempt in it has a
succeeded run (imported settings are complete: they are what the authors
published), and, if ``expected`` codes are given, every one of them has a row.
Incomplete settings are refused unless ``allow_incomplete``; then they are
written and flagged (``"complete": false`` with the missing and failed ids).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.code import FIELD_NAMES, ArchCode
from bench.errors import BenchError
from bench.settings import get_setting
from bench.store.official import DET3D_RENAMES
from bench.store.schema import SCHEMA_VERSION
from bench.store.store import Store

ID_LIST_LIMIT = 200  # ids listed per setting in the manifest; counts are always exact


@dataclass
class ExportResult:
    """What an export wrote and what it refused."""

    manifest: dict[str, Any]
    written: list[Path] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def _write_atomic(path: Path, data: bytes) -> str:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def coverage(store: Store, setting: str, table: pa.Table, expected: set[str] | None) -> dict[str, Any]:
    """Missing / failed / running architectures of ``setting`` (against its runs and ``expected``)."""
    have = set(table["arch_id"].to_pylist())
    failed, running = set(), set()
    if setting != "nb201":
        runs = store.load_runs(setting).select(["arch_id", "status"]).to_pylist()
        attempted = {r["arch_id"] for r in runs}
        failed = {r["arch_id"] for r in runs if r["status"] == "failed"} - have
        running = attempted - have - failed
    missing = (set(expected) - have - failed) if expected is not None else set()
    return {
        "complete": not (missing or failed or running),
        "n_missing": len(missing), "missing": sorted(missing)[:ID_LIST_LIMIT],
        "n_failed": len(failed), "failed": sorted(failed)[:ID_LIST_LIMIT],
        "n_running": len(running), "running": sorted(running)[:ID_LIST_LIMIT],
    }


def provenance_column(store: Store, setting: str, table: pa.Table) -> pa.Array:
    """Per row: where its numbers come from (published file, or seeds, code versions and config of runs)."""
    imported = store.imports().get(setting)
    note_imported = "imported"
    if imported is not None:
        meta = pq.read_schema(pa.BufferReader(store.fs.read(imported[0]))).metadata
        if meta and b"bench.source_file" in meta:
            note_imported = (f"imported from {meta[b'bench.source_file'].decode()} "
                             f"(sha256 {meta[b'bench.source_sha256'].decode()[:16]})")
    measured: dict[str, str] = {}
    if setting != "nb201" and "measured" in table["source"].to_pylist():
        runs = store.load_runs(setting).filter(pc.equal(pc.field("status"), "succeeded")).to_pylist()
        by_arch: dict[str, list[dict]] = {}
        for run in runs:
            by_arch.setdefault(run["arch_id"], []).append(run)
        for arch_id, arch_runs in by_arch.items():
            seeds = sorted({r["seed"] for r in arch_runs})
            shas = sorted({(r["git_sha"] or "unknown")[:12] for r in arch_runs})
            configs = sorted({r["config_hash"] or "" for r in arch_runs})
            measured[arch_id] = f"measured: seeds {seeds}; git {shas}; config {configs}"
    return pa.array([measured.get(a, note_imported) if s == "measured" else note_imported
                     for a, s in zip(table["arch_id"].to_pylist(), table["source"].to_pylist())], pa.string())


def export_benchmark(store: Store, out_dir: str | Path, settings: Iterable[str] | None = None,
                     allow_incomplete: bool = False, expected_codes: Iterable[str] | None = None) -> ExportResult:
    """Write the per-setting benchmark files and MANIFEST.json into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = list(settings) if settings is not None else store.settings()
    expected = None if expected_codes is None else {ArchCode.parse(c).arch_id for c in expected_codes}
    manifest: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "created_at": datetime.now(timezone.utc).isoformat(),
                                "store": store.uri, "settings": {}}
    result = ExportResult(manifest)
    ids_per_setting: dict[str, set[str]] = {}
    for setting in chosen:
        table = store.load_setting(setting)
        if not table.num_rows:
            result.refused[setting] = "the store has no rows for it (nothing imported or run)"
            continue
        cover = coverage(store, setting, table, None if setting == "nb201" else expected)
        if not cover["complete"] and not allow_incomplete:
            result.refused[setting] = (f"{cover['n_missing']} missing, {cover['n_failed']} failed and "
                                       f"{cover['n_running']} unfinished architectures; rerun them or pass --allow-incomplete")
            continue
        table = table.drop_columns(["official_index"]).append_column("provenance", provenance_column(store, setting, table))
        name = f"{setting}.parquet"
        entry = {"file": name, "rows": table.num_rows, "sha256": _write_atomic(out / name, _parquet_bytes(table)),
                 "columns": table.schema.names, "main_metric": get_setting(setting).main_metric,
                 "sources": {s: table["source"].to_pylist().count(s) for s in ("measured", "imported")}, **cover}
        result.written.append(out / name)
        curves = store.load_curves(setting) if setting != "nb201" else None
        if curves is not None and curves.num_rows:
            curves_name = f"{setting}.curves.parquet"
            entry["curves"] = {"file": curves_name, "rows": curves.num_rows,
                               "sha256": _write_atomic(out / curves_name, _parquet_bytes(curves))}
            result.written.append(out / curves_name)
        manifest["settings"][setting] = entry
        if setting != "nb201":
            ids_per_setting[setting] = set(table["arch_id"].to_pylist())
    union = set().union(*ids_per_setting.values()) if ids_per_setting else set()
    shared = set.intersection(*ids_per_setting.values()) if ids_per_setting else set()
    manifest["coverage"] = {"architectures": len(union), "in_every_exported_setting": len(shared),
                            "per_setting": {s: len(v) for s, v in ids_per_setting.items()}}
    manifest["refused"] = result.refused
    _write_atomic(out / "MANIFEST.json", json.dumps(manifest, indent=1).encode())
    return result


def to_official_rows(table: pa.Table, setting: str, key_order: list[str] | None = None) -> list[dict[str, Any]]:
    """The authors' pickle rows for a ``load_setting`` table, in the published row order.

    ``key_order`` (the imported file's keys, kept at import) puts each row's
    keys in the published order; keys it does not name follow.
    """
    order = sorted(range(table.num_rows), key=lambda i: (table["official_index"][i].as_py() is None,
                                                         table["official_index"][i].as_py() or 0, i))
    columns = table.to_pydict()
    metric_names = [n for n in table.schema.names if n in get_setting(setting).metrics or n not in _NON_METRIC]
    back = {v: k for k, v in DET3D_RENAMES.items()} if setting == "det3d" else {}
    rows = []
    for i in order:
        row = {back.get(m, m): columns[m][i] for m in metric_names if columns[m][i] is not None}
        if setting == "nb201":
            row.update({"embedding": np.asarray(columns["embedding"][i], dtype=np.float32),
                        "Flops": columns["mflops"][i], "Params": columns["params_m"][i]})
            default = ["embedding", *(k for k in row if k not in ("embedding", "Flops", "Params")), "Flops", "Params"]
        else:
            code_row = ArchCode.from_string(columns["code"][i]).to_row()
            row.update({"flops": columns["gflops"][i], "params": columns["params_m"][i]})
            default = [*row, "input_channel", "inverted_residual_setting", "last_channel", "embedding"]
            row.update({k: code_row[k] for k in ("input_channel", "inverted_residual_setting", "last_channel", "embedding")})
        keys = [k for k in (key_order or default) if k in row]
        rows.append({k: row[k] for k in [*keys, *(k for k in default if k not in keys)]})
    return rows


_NON_METRIC = {"arch_id", "code", "embedding", "params_m", "gflops", "mflops", "n_seeds", "source", "official_index",
               "provenance", *FIELD_NAMES}


def _published_key_order(store: Store, setting: str) -> list[str] | None:
    found = store.imports().get(setting)
    if found is None:
        return None
    meta = pq.read_schema(pa.BufferReader(store.fs.read(found[0]))).metadata or {}
    return json.loads(meta[b"bench.source_keys"]) if b"bench.source_keys" in meta else None


def export_pickles(store: Store, out_dir: str | Path, settings: Iterable[str] | None = None) -> list[Path]:
    """Write ``<official name>.pkl`` per setting (``nas-bench-201.pkl`` for nb201), as the authors shipped them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for setting in (list(settings) if settings is not None else store.settings()):
        table = store.load_setting(setting)
        if not table.num_rows:
            raise BenchError(f"setting {setting!r} has no rows to export")
        name = f"{get_setting(setting).official_name}.pkl"
        rows = to_official_rows(table, setting, _published_key_order(store, setting))
        _write_atomic(out / name, pickle.dumps(rows, protocol=4))
        written.append(out / name)
    return written
