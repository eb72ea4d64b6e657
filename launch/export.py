"""Command line of the results store: import the published benchmark, export, analyse.

    python launch/export.py import-official SRC_DIR --store URI [--replace]
    python launch/export.py export --store URI --out DIR [--setting S ...] [--allow-incomplete] [--expect-codes FILE]
                                   [--data benchmark|real|imported|synthetic] [--variant NAME]
    python launch/export.py export-pickles --store URI --out DIR [--setting S ...]
    python launch/export.py correlate --store URI --out FILE.csv [--plot FILE.png]
    python launch/export.py stats --store URI [--out FILE.csv]
    python launch/export.py compact --store URI
    python launch/export.py verify --store URI

``--data`` picks which numbers (default ``benchmark``: runs on real data, and published values of
architectures not run here); runs on generated data (``synthetic``) are never shown unless asked.
Errors in the input print one line saying what was wrong and exit with 2 (bench/cli.py's contract).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from a checkout

from bench.errors import BenchError
from bench.settings import setting_names
from bench.store.results import VIEWS

ALL_SETTINGS = setting_names()


def _store(uri: str, create: bool = False):
    from bench.store import Store, StoreError

    try:
        return Store.open(uri, create=create)
    except StoreError as err:
        if create or "not a store" not in str(err):
            raise
        raise StoreError(f"{uri!r} is not a store (no STORE.json); create one with "
                         f"`python launch/export.py import-official SRC_DIR --store {uri}` or by running jobs") from None


def cmd_import(args: argparse.Namespace) -> int:
    from bench.store.official import import_parsed, read_official_dir

    source = read_official_dir(args.src)  # every file is validated before a store is created
    store = _store(args.store, create=True)
    for item in import_parsed(store, source.parsed, replace=args.replace):
        print(item.describe())
        for bad in item.cost_mismatches[:5]:
            print(f"  cost mismatch {bad}")
    for path in source.ignored:
        print(f"ignored (not a published setting name): {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bench.store.export import export_benchmark

    expected = None
    if args.expect_codes:
        expected = [line for line in Path(args.expect_codes).read_text().splitlines() if line.strip()]
    result = export_benchmark(_store(args.store), args.out, args.setting, args.allow_incomplete, expected,
                              data=args.data, variant=args.variant)
    for setting, entry in result.manifest["settings"].items():
        flag = "" if entry["complete"] else (f"  INCOMPLETE: {entry['n_missing']} missing, {entry['n_failed']} failed, "
                                             f"{entry['n_running']} unfinished")
        print(f"{setting}: {entry['rows']} rows -> {Path(args.out) / entry['file']}{flag}")
    for setting, why in result.refused.items():
        print(f"REFUSED {setting}: {why}", file=sys.stderr)
    print(f"manifest: {Path(args.out) / 'MANIFEST.json'}")
    return 1 if result.refused else 0


def cmd_export_pickles(args: argparse.Namespace) -> int:
    from bench.store.export import export_pickles

    for path in export_pickles(_store(args.store), args.out, args.setting):
        print(path)
    return 0


def cmd_correlate(args: argparse.Namespace) -> int:
    from bench.store.analysis import correlate, plot_heatmap
    from bench.userfiles import check_output_file

    for name, path in (("--out", args.out), ("--plot", args.plot)):
        if path:
            check_output_file(name, path)  # before the work: a bad path is one line, not a traceback after it
    corr, counts = correlate(_store(args.store), args.setting, args.data)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    corr.to_csv(args.out, float_format="%.6f", index_label="setting")
    print(corr.round(3).to_string())
    print(f"shared architectures per pair:\n{counts.to_string()}")
    if args.plot:
        plot_heatmap(corr, args.plot)
        print(f"heatmap: {args.plot}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from bench.store.analysis import stats
    from bench.userfiles import check_output_file

    if args.out:
        check_output_file("--out", args.out)
    table = stats(_store(args.store), args.setting, args.data)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from bench.store.compact import compact

    print(compact(_store(args.store)).describe())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from bench.store.verify import verify

    report = verify(_store(args.store))
    print(report.describe())
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python launch/export.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def with_data(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", default="benchmark", choices=VIEWS,
                       help="which numbers: benchmark (real runs, else published; default), real, imported, synthetic")

    def with_store(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--store", required=True, help="store URI: a directory or an fsspec URL")
        return p

    p = with_store("import-official", "import the authors' published pickles")
    p.add_argument("src", metavar="SRC_DIR", help="directory with <name>.pkl or <name>/trainval.pkl files")
    p.add_argument("--replace", action="store_true", help="supersede settings imported from different content")
    p.set_defaults(run=cmd_import)
    p = with_store("export", "write DIR/<setting>.parquet and DIR/MANIFEST.json")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--setting", action="append", choices=ALL_SETTINGS, help="only these (repeatable); default all")
    p.add_argument("--allow-incomplete", action="store_true", help="write settings with missing/failed archs, flagged")
    p.add_argument("--expect-codes", metavar="FILE", help="official code strings, one per line, every setting must cover")
    p.add_argument("--variant", default="", help="a variant's runs (recorded with variant=NAME); default the benchmark")
    with_data(p)
    p.set_defaults(run=cmd_export)
    p = with_store("export-pickles", "write the authors' pickle layout (<official name>.pkl)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--setting", action="append", choices=ALL_SETTINGS)
    p.set_defaults(run=cmd_export_pickles)
    p = with_store("correlate", "Spearman correlation of the main metric between settings (paper Fig. 4)")
    p.add_argument("--out", required=True, metavar="FILE.csv")
    p.add_argument("--plot", metavar="FILE.png")
    p.add_argument("--setting", action="append", choices=setting_names(space="nasbench_mr"))
    with_data(p)
    p.set_defaults(run=cmd_correlate)
    p = with_store("stats", "count, mean, std, min, max of the main metric per setting (paper Table 6)")
    p.add_argument("--out", metavar="FILE.csv")
    p.add_argument("--setting", action="append", choices=ALL_SETTINGS)
    with_data(p)
    p.set_defaults(run=cmd_stats)
    with_store("compact", "fold commit files into partitioned Parquet").set_defaults(run=cmd_compact)
    with_store("verify", "check every file's checksum; quarantine damaged ones").set_defaults(run=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; bad input prints one ``error:`` line and returns 2."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            return args.run(args)
    except (BenchError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: what was written is complete (every file is written atomically)", file=sys.stderr)
        return 130
    except OSError as err:  # the environment, not the input: a full disk, a permission, an unreachable store
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
