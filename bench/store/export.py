"""Exports: per-setting benchmark Parquet files with a manifest, and the authors' pickle layout.

``export_benchmark`` writes ``DIR/<setting>.parquet`` (one row per
architecture: arch_id, code, the 27 code columns, params_m and gflops in the
published classification convention, head_params_m and head_gflops for the
setting's own network, the metrics under the paper's names, n_seeds,
data_kind, provenance), ``DIR/<setting>.curves.parquet`` when the setting has
learning curves, and ``DIR/MANIFEST.json`` (row counts, sha256 per file,
schema version, which view and kinds of data, coverage).

Which numbers: ``data="benchmark"`` (runs on real data, and published values
of architectures not run here), ``"real"``, ``"imported"`` or ``"synthetic"``
(runs on generated data, never benchmark numbers; the smoke sweep exports this).

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

from bench.code import ArchCode
from bench.errors import BenchError
from bench.settings import get_setting
from bench.store.results import VIEWS
from bench.store.schema import SCHEMA_VERSION, STORE_COLUMNS
from bench.store.store import Store
from bench.userfiles import check_output_dir

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


def _group_runs(store: Store, setting: str, data: str, variant: str) -> list[dict[str, Any]]:
    """The runs behind ``setting``'s rows in view ``data`` (none for imported rows)."""
    if not get_setting(setting).trainable or data == "imported":
        return []
    kind = "synthetic" if data == "synthetic" else "real"
    runs = store.load_runs(setting)
    keep = pc.and_(pc.equal(runs["data_kind"], kind), pc.equal(runs["variant"], variant))
    return runs.filter(keep).to_pylist()


def coverage(runs: list[dict[str, Any]], table: pa.Table, expected: set[str] | None) -> dict[str, Any]:
    """Missing / failed / running architectures of a setting (against its ``runs`` and ``expected``)."""
    have = set(table["arch_id"].to_pylist())
    failed, running = set(), set()
    if runs:
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


def provenance_column(store: Store, setting: str, table: pa.Table, runs: list[dict[str, Any]]) -> pa.Array:
    """Per row: where its numbers come from (published file, or seeds, code versions, config and data of runs)."""
    imported = store.imports().get(setting)
    note_imported = "imported"
    if imported is not None:
        meta = pq.read_schema(pa.BufferReader(store.fs.read(imported[0]))).metadata
        if meta and b"bench.source_file" in meta:
            note_imported = (f"imported from {meta[b'bench.source_file'].decode()} "
                             f"(sha256 {meta[b'bench.source_sha256'].decode()[:16]})")
    measured: dict[str, str] = {}
    by_arch: dict[str, list[dict]] = {}
    for run in runs:
        if run["status"] == "succeeded":
            by_arch.setdefault(run["arch_id"], []).append(run)
    for arch_id, arch_runs in by_arch.items():
        seeds = sorted({r["seed"] for r in arch_runs})
        shas = sorted({(r["git_sha"] or "unknown")[:12] for r in arch_runs})
        configs = sorted({r["config_hash"] or "" for r in arch_runs})
        datasets = sorted({r["dataset_id"] or "" for r in arch_runs})
        hosts = sorted({r["gpu_model"] or "cpu" for r in arch_runs})
        measured[arch_id] = (f"{arch_runs[0]['data_kind']} runs: seeds {seeds}; git {shas}; config {configs}; "
                             f"data {datasets}; hardware {hosts}")
    return pa.array([note_imported if kind == "imported" else measured.get(a, kind)
                     for a, kind in zip(table["arch_id"].to_pylist(), table["data_kind"].to_pylist())], pa.string())


def export_benchmark(store: Store, out_dir: str | Path, settings: Iterable[str] | None = None,
                     allow_incomplete: bool = False, expected_codes: Iterable[str] | None = None,
                     data: str = "benchmark", variant: str = "") -> ExportResult:
    """Write the per-setting files and MANIFEST.json of view ``data`` (and ``variant``) into ``out_dir``.

    Raises :class:`~bench.errors.BenchError` when the store has nothing at all to export (the
    output directory is then not created).
    """
    if data not in VIEWS:
        raise BenchError(f"data={data!r} is invalid; valid views are {list(VIEWS)}")
    chosen = list(settings) if settings is not None else store.settings()
    if not chosen:
        raise BenchError(f"store {store.uri} holds no results (nothing imported or run); import the published "
                         "benchmark (python launch/export.py import-official SRC --store ...) or run jobs first")
    out = check_output_dir("--out", out_dir)
    out.mkdir(parents=True, exist_ok=True)
    expected = None if expected_codes is None else {ArchCode.parse(c).arch_id for c in expected_codes}
    manifest: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "created_at": datetime.now(timezone.utc).isoformat(),
                                "store": store.uri, "data": data, "variant": variant,
                                "synthetic": data == "synthetic", "settings": {}}
    result = ExportResult(manifest)
    ids_per_setting: dict[str, set[str]] = {}
    for setting in chosen:
        table = store.load_setting(setting, data=data, variant=variant)
        if not table.num_rows:
            result.refused[setting] = f"the store has no {data} rows for it"
            continue
        info = get_setting(setting)
        runs = _group_runs(store, setting, data, variant)
        cover = coverage(runs, table, expected if info.space == "nasbench_mr" else None)
        if not cover["complete"] and not allow_incomplete:
            result.refused[setting] = (f"{cover['n_missing']} missing, {cover['n_failed']} failed and "
                                       f"{cover['n_running']} unfinished architectures; rerun them or pass --allow-incomplete")
            continue
        table = table.drop_columns(["official_index"]).append_column(
            "provenance", provenance_column(store, setting, table, runs))
        name = f"{setting}.parquet"
        kinds = table["data_kind"].to_pylist()
        entry = {"file": name, "rows": table.num_rows, "sha256": _write_atomic(out / name, _parquet_bytes(table)),
                 "columns": table.schema.names, "main_metric": info.main_metric, "space": info.space,
                 "data_kinds": {k: kinds.count(k) for k in sorted(set(kinds))}, **cover}
        result.written.append(out / name)
        curves = _group_curves(store, setting, runs) if runs else None
        if curves is not None and curves.num_rows:
            curves_name = f"{setting}.curves.parquet"
            entry["curves"] = {"file": curves_name, "rows": curves.num_rows,
                               "sha256": _write_atomic(out / curves_name, _parquet_bytes(curves))}
            result.written.append(out / curves_name)
        manifest["settings"][setting] = entry
        ids_per_setting[setting] = set(table["arch_id"].to_pylist())
    manifest["coverage"] = coverage_by_space(ids_per_setting)
    manifest["refused"] = result.refused
    _write_atomic(out / "MANIFEST.json", json.dumps(manifest, indent=1).encode())
    return result


def coverage_by_space(ids_per_setting: dict[str, set[str]]) -> dict[str, Any]:
    """Architectures per exported setting, and per search space the union and those in every setting of it.

    Settings of different spaces (NAS-Bench-MR codes, NAS-Bench-201 cells) share no architecture,
    so the intersection is taken within a space; every exported setting is counted in one.
    """
    spaces: dict[str, dict[str, Any]] = {}
    for setting, ids in ids_per_setting.items():
        spaces.setdefault(get_setting(setting).space, {})[setting] = ids
    return {
        "per_setting": {s: len(v) for s, v in ids_per_setting.items()},
        "spaces": {space: {"settings": sorted(members), "architectures": len(set().union(*members.values())),
                           "in_every_exported_setting": len(set.intersection(*members.values()))}
                   for space, members in spaces.items()},
    }


def _group_curves(store: Store, setting: str, runs: list[dict[str, Any]]) -> pa.Table:
    """The curves of the succeeded runs behind a view (synthetic runs' curves never leak into real exports)."""
    wanted = {(r["arch_id"], r["seed"], r["attempt"]) for r in runs if r["status"] == "succeeded"}
    curves = store.load_curves(setting)
    keys = zip(curves["arch_id"].to_pylist(), curves["seed"].to_pylist(), curves["attempt"].to_pylist())
    return curves.filter(pa.array([k in wanted for k in keys], pa.bool_()))


def to_official_rows(table: pa.Table, setting: str, key_order: list[str] | None = None) -> list[dict[str, Any]]:
    """The authors' pickle rows for a ``load_setting`` table, in the published row order.

    ``key_order`` (the imported file's keys, kept at import) puts each row's
    keys in the published order; keys it does not name follow. Every row has the
    same keys: a metric measured in some rows (or published) is None where a row
    lacks it; a metric of the setting with no value in any row is left out (the
    3ddet file publishes car AP only).
    """
    order = sorted(range(table.num_rows), key=lambda i: (table["official_index"][i].as_py() is None,
                                                         table["official_index"][i].as_py() or 0, i))
    columns = table.to_pydict()
    metric_names = [n for n in table.schema.names if n in get_setting(setting).metrics or n not in STORE_COLUMNS]
    back = {ours: theirs for theirs, ours in get_setting(setting).published_renames}
    metric_names = [m for m in metric_names
                    if back.get(m, m) in (key_order or ()) or any(v is not None for v in columns[m])]
    rows = []
    for i in order:
        row = {back.get(m, m): columns[m][i] for m in metric_names}
        if get_setting(setting).space == "nb201":
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



def _published_key_order(store: Store, setting: str) -> list[str] | None:
    found = store.imports().get(setting)
    if found is None:
        return None
    meta = pq.read_schema(pa.BufferReader(store.fs.read(found[0]))).metadata or {}
    return json.loads(meta[b"bench.source_keys"]) if b"bench.source_keys" in meta else None


def export_pickles(store: Store, out_dir: str | Path, settings: Iterable[str] | None = None) -> list[Path]:
    """Write ``<official name>.pkl`` per setting (``nas-bench-201.pkl`` for nb201), as the authors shipped them."""
    out = check_output_dir("--out", out_dir)
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
