"""Create or verify dataset subset manifests (the format is in :mod:`tasks.data.manifest`).

Command line::

    # the paper's three ImageNet subsets from your copy, into data_manifests/
    python -m tasks.manifest imagenet --root /data/imagenet
    # one custom subset
    python -m tasks.manifest imagenet --root /data/imagenet --name my-20-500 --classes 20 --per-class 500
    # HMDB51: decode every clip of split 1 once and record its decodable frames (data_manifests/hmdb51-split1.tsv)
    python -m tasks.manifest hmdb51 --root /data/hmdb51 [--split 1 2 3] [--workers 8]
    # check a copy against a manifest (size only, or full content with --mode sha256)
    python -m tasks.manifest verify data_manifests/cls-50-1000.tsv --root /data/imagenet

Errors in the input print one ``error:`` line naming the file and what is wrong, and exit with 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.argtypes import count, nonnegative_int
from bench.errors import BenchError
from tasks.data.hmdb51 import DEFAULT_SPLITS_DIR, make_hmdb51_manifests
from tasks.data.imagenet import scan_imagenet
from tasks.data.manifest import MANIFEST_DIR, STANDARD_SUBSETS, Manifest, select_imagenet_subset

DEFAULT_DIR = MANIFEST_DIR
STANDARD_MIN_CLASS_IMAGES = 1000  # one threshold for all three subsets, so that they nest


def write_imagenet_manifests(
    root: str | Path,
    out_dir: str | Path,
    subsets: dict[str, tuple[int, int]],
    seed: int = 0,
    min_class_images: int | None = STANDARD_MIN_CLASS_IMAGES,
    hash_files: bool = True,
) -> list[Path]:
    """Scan ``root`` once and write one manifest per subset into ``out_dir``; returns the files."""
    layout = scan_imagenet(root)
    written = []
    for name, (classes, per_class) in subsets.items():
        manifest = select_imagenet_subset(layout, name, classes, per_class, seed, min_class_images, hash_files)
        written.append(manifest.write(Path(out_dir) / f"{name}.tsv"))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.manifest", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("imagenet", help="choose ImageNet subsets and write their manifests")
    make.add_argument("--root", required=True, help="ImageNet root holding train/ and val/")
    make.add_argument("--out", default=str(DEFAULT_DIR), help="output directory (default: data_manifests/)")
    make.add_argument("--seed", type=nonnegative_int, default=0)
    make.add_argument("--name", help="a custom subset name (with --classes and --per-class)")
    make.add_argument("--classes", type=count)
    make.add_argument("--per-class", type=count)
    make.add_argument("--min-class-images", type=count, default=STANDARD_MIN_CLASS_IMAGES)
    make.add_argument("--no-file-hashes", action="store_true", help="skip per-file sha256 (faster; size checks only)")
    video = sub.add_parser("hmdb51", help="count every HMDB51 clip's decodable frames and write the split manifests")
    video.add_argument("--root", required=True, help="HMDB51 root holding the class folders and the split files")
    video.add_argument("--out", default=str(DEFAULT_DIR), help="output directory (default: data_manifests/)")
    video.add_argument("--split", type=int, nargs="+", choices=(1, 2, 3), default=[1],
                       help="official splits (default 1)")
    video.add_argument("--videos-dir", default="",
                       help="folder of the class folders, relative to the root (default: the root)")
    video.add_argument("--splits-dir", default=DEFAULT_SPLITS_DIR,
                       help=f"folder of the split files (default {DEFAULT_SPLITS_DIR})")
    video.add_argument("--workers", type=count, default=1, help="processes decoding clips in parallel")
    video.add_argument("--no-file-hashes", action="store_true", help="skip per-file sha256 (faster; size checks only)")
    check = sub.add_parser("verify", help="check a dataset copy against a manifest")
    check.add_argument("manifest")
    check.add_argument("--root", required=True)
    check.add_argument("--mode", choices=("size", "sha256"), default="size")
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            manifest = Manifest.read(args.manifest)
            manifest.verify(args.root, args.mode)
            print(f"OK: {len(manifest.entries)} files of {manifest.name} match (mode {args.mode})")
            return 0
        if args.command == "hmdb51":
            return _write_hmdb51(args)
        if args.name:
            if args.classes is None or args.per_class is None:
                raise BenchError("--name needs --classes and --per-class")
            subsets = {args.name: (args.classes, args.per_class)}
        else:
            subsets = dict(STANDARD_SUBSETS)
        for path in write_imagenet_manifests(args.root, args.out, subsets, args.seed, args.min_class_images, not args.no_file_hashes):
            manifest = Manifest.read(path)
            print(f"wrote {path} ({len(manifest.split('train'))} train, {len(manifest.split('val'))} val, "
                  f"content_sha256 {manifest.content_sha256[:16]})")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an --out directory that cannot be written; the message names the path
        print(f"error: {exc.strerror or exc}: {exc.filename!r}" if exc.filename else f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _write_hmdb51(args: argparse.Namespace) -> int:
    report = make_hmdb51_manifests(args.root, tuple(args.split), args.videos_dir, args.splits_dir,
                                   not args.no_file_hashes, args.workers)
    for manifest in report.manifests:
        path = manifest.write(Path(args.out) / f"{manifest.name}.tsv")
        short = sum(1 for e in manifest.entries if e.frames < 64)  # the paper's recipe drops them
        print(f"wrote {path} ({len(manifest.split('train'))} train, {len(manifest.split('test'))} test clips, "
              f"{short} under 64 decodable frames; content_sha256 {manifest.content_sha256[:16]})")
    if report.header_mismatches:
        mismatches = list(report.header_mismatches.items())
        examples = ", ".join(f"{p} (header {h}, decodes {d})" for p, (d, h) in mismatches[:3])
        print(f"note: {len(report.header_mismatches)} clip(s) decode another number of frames than their header "
              f"claims, e.g. {examples}; the manifest records the decodable frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
