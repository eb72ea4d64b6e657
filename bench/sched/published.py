"""The published benchmark's architectures: the codes the authors trained, in their published row order.

``sweep=published`` re-measures them on the user's cluster (more seeds, curves, provenance) so that
every one can be compared with its published numbers. Two sources give the same list:

- ``data_manifests/codes-published-2507.txt`` (+ ``.sha256``), shipped with the project. It is
  derived data: the 27-integer codes only, no published result, so a fresh install can run the
  sweep without the pickles, and a months-long sweep is pinned to a hashed list exactly like
  the frozen sample. It was written by ``freeze`` below, which refuses pickles whose code lists
  differ (the authors' cls-50-1000, seg and video files hold the same 2,507 codes in the same order).
- a store where the pickles were imported (``python launch/export.py import-official DIR --store S``):
  the imported tables' codes ordered by ``official_index`` (``sweep.source=imported``).

The frozen 2,500-code sample (``codes-2500-seed0.txt``) and the published codes are different
architectures; ``overlap`` counts how many they share.

Command line::

    python -m bench.sched.published freeze SRC_DIR    # (re)write the shipped list from the pickles in SRC_DIR
    python -m bench.sched.published verify [SRC_DIR]  # its hash, and (with SRC_DIR) that the pickles hold it
    python -m bench.sched.published overlap [SRC_DIR] # codes shared by the frozen sample and the published list
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.code import ArchCode
from bench.errors import BenchError
from bench.sched.codes import MANIFEST_DIR, expected_sha256, load_frozen, read_code_list, write_code_list
from bench.settings import get_setting
from bench.store import Store

PUBLISHED_CODES = MANIFEST_DIR / "codes-published-2507.txt"


def load_published(path: Path = PUBLISHED_CODES) -> list[ArchCode]:
    """The shipped published list, verified against its recorded hash.

    Example:
        >>> codes = load_published()
        >>> len(codes), codes[0].arch_id == ArchCode.from_string(codes[0].to_string()).arch_id
        (2507, True)
    """
    return read_code_list(path, expected_sha256(path))


def _same_list(lists: dict[str, list[ArchCode]], where: str) -> list[ArchCode]:
    """The one list every source holds; an error naming the first disagreement otherwise."""
    (first, reference), *others = lists.items()
    for name, codes in others:
        if codes != reference:
            row = next((i for i, (a, b) in enumerate(zip(reference, codes)) if a != b), min(len(reference), len(codes)))
            raise BenchError(
                f"{where}: {first} and {name} hold different published code lists ({len(reference)} vs {len(codes)} "
                f"codes, first difference at row {row}); pick one explicitly"
            )
    return reference


def codes_from_pickles(src_dir: str | Path) -> tuple[list[ArchCode], dict[str, str]]:
    """The published codes of every NAS-Bench-MR pickle in ``src_dir`` (they must agree), and each file's sha256."""
    from bench.store.official import find_official_files, read_official

    chosen, _ = find_official_files(src_dir)
    chosen = {s: p for s, p in chosen.items() if get_setting(s).space == "nasbench_mr"}
    if not chosen:
        raise BenchError(f"no NAS-Bench-MR pickles in {str(src_dir)!r}; expected files such as cls-50-1000.pkl, seg.pkl")
    lists, digests = {}, {}
    for setting, path in chosen.items():
        parsed = read_official(path, setting)
        order = parsed.table["official_index"].to_pylist()
        codes = parsed.table["code"].to_pylist()
        lists[path.name] = [ArchCode.from_string(c) for _, c in sorted(zip(order, codes))]
        digests[path.name] = parsed.source_sha256
    return _same_list(lists, str(src_dir)), digests


def imported_settings(store: Store) -> list[str]:
    """The store's imported NAS-Bench-MR settings (nb201 holds another search space)."""
    return [s for s in store.imports() if get_setting(s).space == "nasbench_mr"]


def codes_from_store(store: Store, setting: str) -> list[ArchCode]:
    """The published codes of ``store``'s imported tables, in published row order (``official_index``).

    ``setting``'s own import when it has one; otherwise every imported NAS-Bench-MR setting's, which must
    agree (the published files do).
    """
    imported = imported_settings(store)
    if not imported:
        raise BenchError(
            f"store {store.uri} has no imported published setting, so sweep.source=imported has no codes; import the "
            f"pickles first (python launch/export.py import-official DIR --store {store.uri}) or use "
            f"sweep.source=published (the shipped list {PUBLISHED_CODES.name})"
        )
    lists = {}
    for name in [setting] if setting in imported else imported:
        table = store.load_setting(name, columns=["code", "official_index"], data="imported")
        pairs = sorted(zip(table["official_index"].to_pylist(), table["code"].to_pylist()))
        lists[name] = [ArchCode.from_string(code) for _, code in pairs]
    return _same_list(lists, f"store {store.uri}")


def freeze(src_dir: str | Path, path: Path = PUBLISHED_CODES) -> str:
    """Write the published codes of the pickles in ``src_dir`` to ``path`` (+ ``.sha256``); return the hash."""
    codes, digests = codes_from_pickles(src_dir)
    header = (
        f"NAS-Bench-MR: the {len(codes)} architectures of the published benchmark, in the published row order.",
        "Derived data (codes only, no results), identical in every published file it was read from:",
        *(f"  {name} sha256 {digest}" for name, digest in sorted(digests.items())),
        "Written by: python -m bench.sched.published freeze SRC_DIR",
    )
    return write_code_list(path, codes, header)


def overlap(frozen: list[ArchCode], published: list[ArchCode]) -> list[ArchCode]:
    """Codes of ``frozen`` that are also in ``published`` (by architecture id), in ``frozen``'s order."""
    ids = {code.arch_id for code in published}
    return [code for code in frozen if code.arch_id in ids]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sched.published", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("freeze", "verify", "overlap"))
    parser.add_argument("src", nargs="?", help="directory of the published pickles (cls-50-1000.pkl, seg.pkl, ...)")
    parser.add_argument("--path", type=Path, default=PUBLISHED_CODES)
    args = parser.parse_args(argv)
    try:
        if args.command == "freeze":
            if not args.src:
                parser.error("freeze needs SRC_DIR, the directory of the published pickles")
            print(f"{freeze(args.src, args.path)}  {args.path}")
            return 0
        published = codes_from_pickles(args.src)[0] if args.src else load_published(args.path)
        where = args.src or str(args.path)
        if args.command == "verify":
            shipped = load_published(args.path)
            if args.src and published != shipped:
                print(f"error: {args.path} is not the code list of the pickles in {args.src}", file=sys.stderr)
                return 1
            same = f", same as {args.src}" if args.src else ""
            print(f"ok: {len(shipped)} codes, sha256 {expected_sha256(args.path)}{same}")
            return 0
        frozen = load_frozen()
        shared = overlap(frozen, published)
        print(f"{len(shared)} of the {len(frozen)} frozen codes are among the {len(published)} published codes "
              f"({where})")
        for code in shared:
            print(f"  {code.to_string()}")
        return 0
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
