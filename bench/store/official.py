"""Import of the authors' published pickles into the store (read through the allow-list unpickler).

Recognised files in a source directory (SPEC section 6):

- ``<name>.pkl`` or ``<name>/trainval.pkl`` for the nine official names
  (``Setting.official_name`` in :mod:`bench.settings`: cls-50-1000 -> cls_a, ...);
- the NAS-Bench-201 table as ``nas-bench-201/trainval.pkl``, ``nas-bench-201.pkl``
  or ``nb201*.pkl`` -> setting ``nb201``.

Every file is loaded and validated before anything is written, so a refused
file (non-allow-listed global, bad code, conflicting duplicate, a metric that
is infinite) leaves the store untouched; a NaN is read as "not measured", like None (pandas
writes a missing value so), and the missing values are counted per metric in the import's
line and metadata; call
:func:`read_official_dir` before creating a store, so that a refused import
creates nothing. Errors name the file, the row and its code, the key and the
value, in one line.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import nb201
from bench.code import ArchCode
from bench.errors import BenchError, CodeError, DataError
from bench.safe_pickle import load_untrusted
from bench.settings import SETTINGS, get_setting
from bench.store import layout
from bench.store.results import architecture_columns, extra_metric_names, head_cost_columns
from bench.store.schema import STORE_COLUMNS, results_schema
from bench.store.store import Store
from bench.userfiles import read_user_bytes

CODE_KEYS = ("embedding", "inverted_residual_setting", "input_channel", "last_channel")
COST_KEYS = ("flops", "params")
NB201_KEYS = ("embedding", "Flops", "Params")

@dataclass
class SettingImport:
    """One parsed published file: the table to store and what was noticed on the way."""

    setting: str
    source: Path
    source_sha256: str
    table: pa.Table
    renamed: dict[str, str] = field(default_factory=dict)
    duplicates_dropped: int = 0
    cost_mismatches: list[dict[str, Any]] = field(default_factory=list)
    cost_computed: int = 0  # rows without published flops/params: the closed form filled them in
    source_keys: list[str] = field(default_factory=list)  # the published rows' key order (for export back)
    text_keys: tuple[str, ...] = ()  # keys that are text in every row (an arch string, a path): not imported
    empty_keys: tuple[str, ...] = ()  # keys beyond the setting's metrics with no value in any row: not imported
    store_keys: tuple[str, ...] = ()  # keys named like the store's own columns (gflops, arch_id...): not imported
    outcome: str = ""  # set by import_parsed: "unchanged ..." or "replaced ..." when the store held the setting

    @property
    def source_name(self) -> str:
        """The file as its directory names it: ``seg.pkl`` or ``seg/trainval.pkl``."""
        return f"{self.source.parent.name}/{self.source.name}" if self.source.name == "trainval.pkl" else self.source.name

    @property
    def missing_values(self) -> dict[str, int]:
        """Per metric (and NAS-Bench-201 cost) measured in some rows, how many rows lack it (None, NaN or no key)."""
        names = [n for n in self.table.schema.names if n not in STORE_COLUMNS or n in ("params_m", "mflops")]
        nulls = {n: self.table[n].null_count for n in names}
        return {n: k for n, k in sorted(nulls.items()) if 0 < k < self.table.num_rows}

    def describe(self) -> str:
        text = f"{self.setting}: {self.table.num_rows} architectures from {self.source_name}"
        if self.outcome:
            text += f" ({self.outcome})"
        missing = self.missing_values
        noticed = [  # (whether to say it, what to say)
            (self.text_keys, f"text keys not imported (not metrics): {list(self.text_keys)}"),
            (missing, f"values not measured (None, NaN or absent): {missing}"),
            (self.empty_keys, f"keys with no value in any row not imported: {list(self.empty_keys)}"),
            (self.store_keys, ("keys named like the store's own columns not imported (the store derives them): "
                               f"{list(self.store_keys)}")),
            (self.renamed, f"metrics renamed {self.renamed}"),
            (self.duplicates_dropped, f"{self.duplicates_dropped} identical duplicate rows dropped"),
            (get_setting(self.setting).space == "nasbench_mr",
             f"params/flops vs closed form: {len(self.cost_mismatches)} mismatches"),
            (self.cost_computed, f"{self.cost_computed} rows had no flops/params (computed from the code)"),
        ]
        text += "".join(f"; {said}" for say, said in noticed if say)
        main = get_setting(self.setting).main_metric
        if self.table[main].null_count == self.table.num_rows:
            metrics = [n for n in self.table.schema.names if (n in get_setting(self.setting).metrics or n not in STORE_COLUMNS)
                       and self.table[n].null_count < self.table.num_rows]
            text += (f"; WARNING: no row has the main metric {main!r} (found {metrics}); "
                     "stats and correlate will have nothing for this setting")
        return text


def find_official_files(src_dir: str | Path) -> tuple[dict[str, Path], list[Path]]:
    """(setting -> published file, files that were not recognised) in ``src_dir``.

    Hidden files (``.*``, and the ``._*`` AppleDouble files a Mac writes beside every file it
    copies) are neither imported nor listed as ignored.
    """
    root = Path(src_dir)
    if not root.is_dir():
        raise BenchError(f"source directory {str(root)!r} does not exist or is not a directory")
    found: dict[str, list[Path]] = {}
    for setting in SETTINGS.values():
        name = setting.official_name
        found[setting.name] = [p for p in (root / f"{name}.pkl", root / name / "trainval.pkl") if p.is_file()]
    found["nb201"] += sorted(root.glob("nb201*.pkl"))  # the authors' sample of their NAS-Bench-201 table
    chosen = {}
    for setting, paths in found.items():
        if len(paths) > 1:
            raise BenchError(f"setting {setting} is published more than once in {root}: {[str(p) for p in paths]}; keep one")
        if paths:
            chosen[setting] = paths[0]
    used = set(chosen.values())
    ignored = sorted(p for p in root.rglob("*.pkl") if p not in used and not _hidden(p.relative_to(root)))
    return chosen, ignored


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


@dataclass
class OfficialSource:
    """Every published file of a source directory, parsed and validated; nothing written yet."""

    parsed: list[SettingImport]
    ignored: list[Path]


def read_official_dir(src_dir: str | Path) -> OfficialSource:
    """Find, load and validate every published file in ``src_dir`` (refusing a folder with none).

    Call it before creating or opening a store for writing: a refused import then creates nothing.

    Example:
        >>> read_official_dir("/nonexistent")
        Traceback (most recent call last):
        bench.errors.BenchError: source directory '/nonexistent' does not exist or is not a directory
    """
    chosen, ignored = find_official_files(src_dir)
    if not chosen:
        seen = f"; it holds {[str(p.relative_to(src_dir)) for p in ignored][:5]}" if ignored else ""
        raise BenchError(
            f"no published pickles in {str(src_dir)!r}{seen}; expected files such as cls-50-1000.pkl, "
            f"seg/trainval.pkl or nb201*.pkl (names: {sorted(s.official_name for s in SETTINGS.values())})"
        )
    return OfficialSource([read_official(path, setting) for setting, path in chosen.items()], ignored)


def read_official(path: str | Path, setting: str) -> SettingImport:
    """Load and validate one published pickle into the store's imported-table form."""
    path = Path(path)
    data = read_user_bytes(path, "published file")
    rows = load_untrusted(data, name=str(path))
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        kind = type(rows).__name__
        if isinstance(rows, list):
            kind = "a list of non-dicts" if rows else "an empty list"
        raise DataError(f"{path}: expected a non-empty list of dicts (one per architecture), got {kind}")
    digest = hashlib.sha256(data).hexdigest()
    space = get_setting(setting).space
    parsed = _read_nb201(path, digest, rows, setting) if space == "nb201" else _read_mr(path, digest, rows, setting)
    parsed.source_keys = [str(k) for k in rows[0]]
    return parsed


def _number(value: Any, where: str, minimum: float | None = None) -> float | None:
    """A published number as a float: finite (and >= ``minimum``), or None when absent.

    A NaN is None too: pandas writes a missing value as NaN (``DataFrame.to_dict``), so
    refusing it would refuse a whole file for one unmeasured row. An infinity is refused:
    it is a broken value, not a missing one.
    """
    if _missing(value):
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise DataError(f"{where}={value!r} is not a number; metric values must be numbers (or dicts of numbers), "
                        "and a key is skipped as text only when it is text (or None or NaN) in every row")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range (10**400)
        raise DataError(f"{where}={value!r} is too large for a float; valid values are finite numbers") from None
    if math.isinf(number):
        raise DataError(f"{where}={value!r} is not finite; valid values are finite numbers "
                        "(or None or NaN when not measured)")
    if minimum is not None and number < minimum:
        raise DataError(f"{where}={value!r} is negative; valid values are >= {minimum}")
    return number


def _metrics(row: dict, where: str, skip: tuple[str, ...], renames: dict[str, str], renamed: set[str]) -> dict[str, float | None]:
    """A row's metrics by name; nested dicts are flattened with '_' (``{"car": {"3d": x}}`` -> ``car_3d``).

    The published names in ``renames`` that this row used are added to ``renamed``. Two keys that give
    one metric (a bare ``moderate`` beside ``{"car": {"3d": {"moderate": x}}}`` in a 3ddet file) are
    refused: keeping either would silently drop the other.
    """
    out: dict[str, float | None] = {}
    source: dict[str, str] = {}

    def add(name: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{name}_{key}", inner)
            return
        column = renames.get(name, name)
        if column in out:
            raise DataError(f"{where}: keys {source[column]!r} and {name!r} both give the metric {column!r}; "
                            "a file must give each metric once")
        if column != name:
            renamed.add(name)
        source[column] = name
        out[column] = _number(value, f"{where} {name}")

    for key, value in row.items():
        if key not in skip:
            add(str(key), value)
    return out


def _text_keys(rows: list[dict], skip: tuple[str, ...], setting: str) -> tuple[str, ...]:
    """Top-level keys whose every value is text or missing (an ``arch`` string, a checkpoint path): not metrics.

    A key of the setting's own metrics is never one (its text is an error), nor is a key that is
    text in some rows and a number in others."""
    declared = set(get_setting(setting).metrics) | {k for k, _ in get_setting(setting).published_renames}
    candidates = {str(k) for r in rows for k, v in r.items() if isinstance(v, str)} - declared - set(skip)
    return tuple(sorted(k for k in candidates if all(isinstance(r.get(k), str) or _missing(r.get(k)) for r in rows)))


def _missing(value: Any) -> bool:
    """None, or a NaN (a 0-d array of one too): how pandas leaves a missing value, in a text column too."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
                             and math.isnan(value))


def _same_cost(published: float | None, computed: float, precision: float, abs_tol: float) -> bool:
    """Whether a published cost equals the closed form to the precision it was stored in."""
    return published is None or math.isclose(published, computed, rel_tol=max(1e-9, precision), abs_tol=abs_tol)


def _precision(value: Any) -> float:
    """Relative rounding a published number carries: its type's epsilon for a numpy float16/float32 (scalar
    or 0-d array); for a float, the epsilon of the narrowest of float16/float32 that holds it exactly, as
    narrow floats are after pandas (``to_dict``) or an export widened them; else 0."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # the numpy scalar, its dtype kept
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        return float(np.finfo(value.dtype).eps)
    if isinstance(value, float) and math.isfinite(value):
        for narrow in (np.float16, np.float32):
            if float(narrow(value)) == value:
                return float(np.finfo(narrow).eps)
    return 0.0


def _read_mr(path: Path, digest: str, rows: list[dict], setting: str) -> SettingImport:
    renames = dict(get_setting(setting).published_renames)
    skip = (*CODE_KEYS, *COST_KEYS)
    store_keys = _store_keys(rows, skip)
    text = _text_keys(rows, (*skip, *store_keys), setting)
    codes, metrics, published, precision, renamed = [], [], [], [], set()
    for index, row in enumerate(rows):
        where = f"{path} row {index}"
        try:
            code = ArchCode.from_row(row)
        except CodeError as err:
            raise CodeError(f"{where}: {err}") from None
        except (TypeError, ValueError) as err:  # a code field of the wrong type (e.g. embedding=3)
            raise CodeError(f"{where}: its code fields cannot be read ({type(err).__name__}: {err})") from None
        codes.append(code)
        where = f"{where} (code {code.to_string()})"
        metrics.append(_metrics(row, where, (*skip, *text, *store_keys), renames, renamed))
        # A file without flops/params gets the closed form (None here, filled in below).
        published.append((_number(row.get("params"), f"{where} params", 0.0),
                          _number(row.get("flops"), f"{where} flops", 0.0)))
        precision.append((_precision(row.get("params")), _precision(row.get("flops"))))
    keep, dropped = _dedupe([c.arch_id for c in codes], metrics, published, path)
    columns = {**architecture_columns([codes[i] for i in keep]), **head_cost_columns(setting, [codes[i] for i in keep])}
    mismatches = []
    computed_params, computed_gflops = columns["params_m"].to_pylist(), columns["gflops"].to_pylist()
    for j, i in enumerate(keep):
        params, flops = published[i]
        if not (_same_cost(params, computed_params[j], precision[i][0], 5e-7)
                and _same_cost(flops, computed_gflops[j], precision[i][1], 5e-10)):
            mismatches.append({"arch_id": codes[i].arch_id, "published_params_m": params, "published_gflops": flops,
                               "params_m": computed_params[j], "gflops": computed_gflops[j]})
    # Keep the published numbers (what the authors shipped); the report says where they differ.
    columns["params_m"] = pa.array([computed_params[j] if published[i][0] is None else published[i][0]
                                    for j, i in enumerate(keep)], pa.float64())
    columns["gflops"] = pa.array([computed_gflops[j] if published[i][1] is None else published[i][1]
                                  for j, i in enumerate(keep)], pa.float64())
    missing_cost = sum(1 for i in keep if None in published[i])
    table, empty = _finish(setting, columns, [metrics[i] for i in keep], keep)
    used = {k: v for k, v in renames.items() if k in renamed}
    return SettingImport(setting, path, digest, table, used, dropped, mismatches, missing_cost, text_keys=text,
                         empty_keys=empty, store_keys=store_keys)


def _read_nb201(path: Path, digest: str, rows: list[dict], setting: str) -> SettingImport:
    store_keys = _store_keys(rows, NB201_KEYS)
    text = _text_keys(rows, (*NB201_KEYS, *store_keys), setting)
    ids, codes, onehots, metrics, published = [], [], [], [], []
    for index, row in enumerate(rows):
        where = f"{path} row {index}"
        missing = [k for k in NB201_KEYS if k not in row]
        if missing:  # Acc may be absent, as any metric (not measured); the search needs the costs
            raise DataError(f"{where} lacks {missing}; NAS-Bench-201 rows carry embedding, Flops, Params (and Acc)")
        ops = nb201.ops_of_onehot(row["embedding"], where)
        where = f"{where} (ops {nb201.cell_code(ops)})"
        ids.append(nb201.cell_arch_id(ops))
        codes.append(nb201.cell_code(ops))
        onehots.append(np.asarray(row["embedding"], dtype=np.float32))
        metrics.append(_metrics(row, where, (*NB201_KEYS, *text, *store_keys), {}, set()))
        published.append((_number(row["Params"], f"{where} Params", 0.0), _number(row["Flops"], f"{where} Flops", 0.0)))
    keep, dropped = _dedupe(ids, metrics, published, path)
    mflops = [published[i][1] for i in keep]
    columns = {
        "arch_id": pa.array([ids[i] for i in keep], pa.string()),
        "code": pa.array([codes[i] for i in keep], pa.string()),
        "embedding": pa.FixedSizeListArray.from_arrays(
            pa.array(np.concatenate([onehots[i] for i in keep]), pa.float32()), nb201.WIDTH),
        "params_m": pa.array([published[i][0] for i in keep], pa.float64()),
        "gflops": pa.array([None if m is None else m / 1e3 for m in mflops], pa.float64()),
        "mflops": pa.array(mflops, pa.float64()),
    }
    table, empty = _finish(setting, columns, [metrics[i] for i in keep], keep)
    return SettingImport(setting, path, digest, table, {}, dropped, text_keys=text, empty_keys=empty,
                         store_keys=store_keys)


def _store_keys(rows: list[dict], skip: tuple[str, ...]) -> tuple[str, ...]:
    """Top-level keys named like the store's own columns (``gflops``, ``arch_id``, a code field...), as a
    file made from an export carries them: the store derives those columns itself, and a metric of the
    same name would make a second column of that name (an unreadable table)."""
    return tuple(sorted({str(k) for r in rows for k in r} & STORE_COLUMNS - set(skip)))


def _dedupe(ids: list[str], metrics: list[dict], published: list[tuple], path: Path) -> tuple[list[int], int]:
    """Row indices to keep: identical repeats dropped, conflicting repeats refused."""
    first: dict[str, int] = {}
    keep = []
    for i, arch_id in enumerate(ids):
        j = first.setdefault(arch_id, i)
        if j == i:
            keep.append(i)
        elif json.dumps([metrics[i], published[i]], sort_keys=True) != json.dumps([metrics[j], published[j]], sort_keys=True):
            raise DataError(f"{path}: rows {j} and {i} are the same architecture {arch_id} with different results")
    return keep, len(ids) - len(keep)


def _finish(setting: str, columns: dict[str, pa.Array], metrics: list[dict], keep: list[int]) -> tuple[pa.Table, tuple[str, ...]]:
    """The imported table, and the keys left out of it: beyond the setting's metrics, with no value in any
    row (None or NaN everywhere, as a pandas column of a metric never measured), they would be columns of
    nothing that every reader lists as a metric. The setting's own metrics are columns whatever they hold."""
    measured = {k for m in metrics for k, v in m.items() if v is not None}
    empty = tuple(sorted({k for m in metrics for k in m} - measured - set(get_setting(setting).metrics)))
    extras = extra_metric_names(setting, sorted(measured))
    schema = results_schema(setting, extras)
    for name in schema.names:
        if name in columns or name in ("n_seeds", "data_kind", "official_index"):
            continue
        columns[name] = pa.array([m.get(name) for m in metrics], pa.float64())
    columns["n_seeds"] = pa.nulls(len(keep), pa.int32())
    columns["data_kind"] = pa.array(["imported"] * len(keep), pa.string())
    columns["official_index"] = pa.array(keep, pa.int32())
    return pa.table([columns[n] for n in schema.names], schema=schema), empty


def import_official(store: Store, src_dir: str | Path, replace: bool = False) -> list[SettingImport]:
    """Import every published file found in ``src_dir`` into ``store``; all validated before any write.

    Re-importing the same rows is a no-op, whatever the file's name, layout or pickle encoding
    (``outcome`` says "unchanged"; the stored provenance stays the first import's). A setting
    already imported with different rows is refused unless ``replace``; the old table is then
    kept under ``imports/superseded/`` (nothing stored is ever deleted).
    """
    return import_parsed(store, read_official_dir(src_dir).parsed, replace)


def import_parsed(store: Store, parsed: list[SettingImport], replace: bool = False) -> list[SettingImport]:
    """Write tables that :func:`read_official_dir` validated into ``store`` (same rules as ``import_official``).

    Each setting's table is one atomic file: if writing stops (a full disk), the ``OSError`` raised says
    exactly which settings were written and which were not, and no setting is half-imported.
    """
    existing = store.imports()
    payloads = []
    for item in parsed:
        old = existing.get(item.setting)
        stored = None if old is None else store.read_table(*old)
        if stored is None:
            old = None  # absent, or quarantined as unreadable just now: this import takes its place
        elif stored.equals(item.table, check_metadata=False):
            item.outcome = f"unchanged: the store holds these rows already ({old[0]}), nothing written"
            continue
        if old is not None and not replace:
            raise BenchError(
                f"setting {item.setting} is already imported ({old[0]}) with different rows; "
                "pass replace=True (CLI: --replace) to supersede it (the old table is kept under imports/superseded/)"
            )
        metadata = {
            b"bench.source_file": item.source_name.encode(),
            b"bench.source_sha256": item.source_sha256.encode(),
            b"bench.renamed_metrics": json.dumps(item.renamed).encode(),
            b"bench.cost_mismatches": json.dumps(item.cost_mismatches[:100]).encode(),
            b"bench.source_keys": json.dumps(item.source_keys).encode(),
            b"bench.text_keys": json.dumps(list(item.text_keys)).encode(),
            b"bench.missing_values": json.dumps(item.missing_values).encode(),
            b"bench.empty_keys": json.dumps(list(item.empty_keys)).encode(),
            b"bench.store_keys": json.dumps(list(item.store_keys)).encode(),
        }
        table = item.table.replace_schema_metadata({**item.table.schema.metadata, **metadata})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        payloads.append((item, old, layout.sha16(data), data))
    written: list[str] = []
    for index, (item, old, sha, data) in enumerate(payloads):
        try:
            store.fs.write_new(layout.import_path(item.setting, sha), data)
            if old is not None:
                store.fs.move(old[0], f"{layout.IMPORTS}/superseded/{old[0].rsplit('/', 1)[1]}")
        except OSError as err:
            left = [p[0].setting for p in payloads[index:]]
            raise OSError(err.errno, f"{err.strerror or err} while importing {item.setting} into {store.uri}; "
                                     f"imported: {written or 'nothing'}; not imported: {left}") from None
        if old is not None:
            item.outcome = f"replaced {old[0]}, kept under {layout.IMPORTS}/superseded/"
        written.append(item.setting)
    return parsed

