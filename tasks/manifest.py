"""Create or verify dataset subset manifests (the format is in :mod:`tasks.data.manifest`).

Command line::

    # the paper's three ImageNet subsets from your copy, into data_manifests/
    python -m tasks.manifest imagenet --root /data/imagenet
    # one custom subset
    python -m tasks.manifest imagenet --root /data/imagenet --name my-20-500 --classes 20 --per-class 500
    # check a copy against a manifest (size only, or full content with --mode sha256)
    python -m tasks.manifest verify data_manifests/cls-50-1000.tsv --root /data/imagenet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError
from tasks.data.imagenet import scan_imagenet
from tasks.data.manifest import STANDARD_SUBSETS, Manifest, select_imagenet_subset

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "data_manifests"
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
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--name", help="a custom subset name (with --classes and --per-class)")
    make.add_argument("--classes", type=int)
    make.add_argument("--per-class", type=int)
    make.add_argument("--min-class-images", type=int, default=STANDARD_MIN_CLASS_IMAGES)
    make.add_argument("--no-file-hashes", action="store_true", help="skip per-file sha256 (faster; size checks only)")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
