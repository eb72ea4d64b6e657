"""Make the Seg-4x copy of Cityscapes: the same layout, every frame resized to 256x512.

    python -m tasks.segmentation.resize /data/cityscapes /data/cityscapes_4x [--size 256 512]

Images are resized bilinearly (antialiased), label-id maps with nearest neighbour
(an interpolated id would be a different class). Existing outputs are kept, so an
interrupted run can simply be started again.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, encode_png

from bench.argtypes import count
from bench.errors import BenchError, check_int
from tasks.data.cityscapes import scan_cityscapes
from tasks.segmentation.data import read_label_png, read_png


def _resize_to(path: Path, out: Path, size: tuple[int, int], is_label: bool) -> None:
    if out.exists():
        return
    # Labels are read as the ids they store (a palette PNG's indices, not its colours' grey levels).
    x = (read_label_png(path)[None] if is_label else read_png(path, ImageReadMode.RGB))[None].float()
    if is_label:
        y = F.interpolate(x, size=size, mode="nearest")
    else:
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).round().clamp(0, 255)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(encode_png(y[0].to(torch.uint8)).numpy().tobytes())
    os.replace(tmp, out)


def resize_cityscapes(src: str | Path, dst: str | Path, size: tuple[int, int] = (256, 512)) -> int:
    """Resize every train/val pair of ``src`` into ``dst`` at ``size`` (H, W pixels); returns the number of pairs.

    Raises:
        BenchError: a size that is not two integers >= 1, or ``dst`` the same directory as ``src``.
    """
    if len(size) != 2:
        raise BenchError(f"size={tuple(size)!r} is invalid; valid is (height, width) in pixels")
    for name, value in zip(("height", "width"), size):
        check_int(f"size {name}", value, 1)
    src, dst = Path(src), Path(dst)
    if src.resolve() == dst.resolve():
        raise BenchError("the resized copy must go to another directory than the source")
    count = 0
    for split in ("train", "val"):
        for pair in scan_cityscapes(src, split):
            _resize_to(src / pair.image, dst / pair.image, size, is_label=False)
            _resize_to(src / pair.label, dst / pair.label, size, is_label=True)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks.segmentation.resize", description=__doc__.split("\n")[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--size", type=count, nargs=2, default=(256, 512), metavar=("H", "W"))
    args = parser.parse_args(argv)
    try:
        print(f"resized {resize_cityscapes(args.src, args.dst, tuple(args.size))} pairs into {args.dst}")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
