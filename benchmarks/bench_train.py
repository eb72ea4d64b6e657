"""Training throughput: the project's default path vs fp32 eager, side by side, and the input pipeline alone.

    python benchmarks/bench_train.py                       # CPU here: small inputs, a few steps
    python benchmarks/bench_train.py --quick --out r.json  # on a CUDA GPU: < 2 minutes for the whole comparison

Codes: the published codes at the 10th percentile, median and 90th percentile of
FLOPs (from ../shared/nasbench_mr/cls-50-1000.pkl when present, else from the
seeded sample of bench.space ranked by bench.cost). For each, a training step
(SGD, cross-entropy; the engine's own autocast and channels_last helpers) in:
- ``default``: what a job does on this device (CUDA: bf16 autocast + channels_last;
  CPU: fp32, so on a CPU both columns measure the same thing);
- ``fp32_eager``: fp32 (TF32 off), contiguous NCHW.
The input pipeline is measured alone on generated 500x375 JPEGs: CPU decode +
RandomResizedCrop + flip in loader workers, and (on CUDA) nvJPEG batch decode +
crop/resize on the GPU. Every number is named with the device it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.code import ArchCode
from bench.cost import cost
from bench.nn import build_network
from bench.space import sample_codes
from tasks.classification.data import AugmentConfig, ImageFiles, collate_encoded, decode_batch_on_device
from tasks.data.manifest import ManifestEntry
from tasks.engine.loop import _inputs_channels_last, autocast_for, to_channels_last

PUBLISHED = Path(__file__).resolve().parents[1] / ".." / "shared" / "nasbench_mr" / "cls-50-1000.pkl"


def percentile_codes(given: str | None = None) -> tuple[dict[str, ArchCode], str]:
    """p10 / median / p90 codes by FLOPs, and where they came from (``given``: "p10=CODE,median=CODE,p90=CODE")."""
    if given:
        pairs = dict(item.split("=", 1) for item in given.split(","))
        return {name: ArchCode.from_string(pairs[name]) for name in ("p10", "median", "p90")}, "--codes"
    if PUBLISHED.exists():
        from bench.safe_pickle import load_untrusted

        rows = load_untrusted(PUBLISHED)
        codes = [ArchCode.from_row(r) for r in rows]
        flops = np.array([float(r["flops"]) for r in rows])
        source = "published cls-50-1000.pkl"
    else:
        codes = sample_codes(2500, seed=0)
        flops = np.array([cost(c).gflops for c in codes])
        source = "bench.space.sample_codes(2500, seed=0) ranked by bench.cost"
    order = np.argsort(flops, kind="stable")
    pick = {name: codes[order[round(q * (len(codes) - 1))]] for name, q in (("p10", 0.1), ("median", 0.5), ("p90", 0.9))}
    return pick, source


def time_steps(code: ArchCode, device: torch.device, mode: str, batch: int, size: int, warmup: int, steps: int) -> dict:
    torch.manual_seed(0)
    model = build_network(code, "cls", 50).to(device)
    default = mode == "default"
    if default and device.type == "cuda":
        to_channels_last(model)
    autocast = autocast_for(device, "bf16" if default else "fp32")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 50, (batch,), device=device)
    if default and device.type == "cuda":
        x = _inputs_channels_last(x)

    def step() -> None:
        with autocast():
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    # fp32 means fp32: cuDNN would otherwise run fp32 convolutions in TF32 (PERF.md lists them apart).
    tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = default
    try:
        for _ in range(warmup):
            step()
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync(device)
        seconds = time.perf_counter() - start
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    return {"steps_per_s": steps / seconds, "images_per_s": steps * batch / seconds}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_jpegs(folder: Path, count: int) -> list[ManifestEntry]:
    """Smooth random 500x375 photos-like JPEGs (quality 90): ImageNet's typical size."""
    from torchvision.io import encode_jpeg

    g = torch.Generator().manual_seed(0)
    entries = []
    for i in range(count):
        low = torch.rand(1, 3, 24, 32, generator=g)
        image = F.interpolate(low, size=(375, 500), mode="bicubic", align_corners=False)
        image = (image + 0.05 * torch.rand(1, 3, 375, 500, generator=g)).clamp(0, 1).mul(255).to(torch.uint8)[0]
        data = encode_jpeg(image, quality=90).numpy().tobytes()
        (folder / f"{i}.JPEG").write_bytes(data)
        entries.append(ManifestEntry("train", f"{i}.JPEG", 0, len(data), ""))
    return entries


def time_pipeline(entries: list[ManifestEntry], root: Path, device: torch.device, on_device: bool, batch: int,
                  workers: int, images: int) -> float:
    """Images per second delivered as normalised training tensors on ``device``."""
    from tasks.data.image_ops import normalize

    cfg = AugmentConfig(crop_size=224)
    dataset = ImageFiles(root, entries, cfg, decode_on_device=on_device)
    keys = [(i % len(entries), i) for i in range(images)]
    batches = [keys[i : i + batch] for i in range(0, len(keys), batch)]
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate_encoded if on_device else None,
        pin_memory=device.type == "cuda", persistent_workers=False, prefetch_factor=4 if workers else None,
    )
    start, seen = time.perf_counter(), 0
    for item in loader:
        if on_device:
            out = decode_batch_on_device(item, device, cfg, entries)
        else:
            out = normalize(item[0].to(device, non_blocking=True))
        seen += out.shape[0]
    sync(device)
    return seen / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and images (the GPU comparison in < 2 min)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, help="default: 80 on CUDA (PERF.md), 8 on CPU")
    parser.add_argument("--size", type=int, help="input side; default: 224 on CUDA, 32 on CPU")
    parser.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1))
    parser.add_argument("--out", help="write the results as JSON to this path")
    parser.add_argument("--codes", help="p10=CODE,median=CODE,p90=CODE (e.g. on a machine without ../shared)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (80 if cuda else 8)
    size = args.size or (224 if cuda else 32)
    warmup, steps = (5, 15) if args.quick else (10, 40)
    if not cuda:
        warmup, steps = (1, 3) if args.quick else (2, 6)
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    if cuda:
        torch.backends.cudnn.benchmark = True
    card = torch.cuda.get_device_name(device) if cuda else f"CPU ({os.cpu_count()} cores)"
    codes, source = percentile_codes(args.codes)
    report = {"device": card, "torch": torch.__version__, "codes_from": source, "batch": batch, "input": size,
              "default_path": "bf16 autocast + channels_last" if cuda else "fp32 (CPU)", "train_step": {}, "pipeline": {}}
    print(f"device: {card}; codes from {source}; cls {size}x{size}, batch {batch}", flush=True)
    print(f"{'code':8} {'GFLOPs@128':>10} {'default img/s':>14} {'fp32 img/s':>11} {'speed-up':>9}", flush=True)
    for name, code in codes.items():
        row = {"code": code.to_string(), "gflops_128": round(cost(code).gflops, 3)}
        for mode in ("default", "fp32_eager"):
            row[mode] = time_steps(code, device, mode, batch, size, warmup, steps)
        row["speedup"] = row["default"]["images_per_s"] / row["fp32_eager"]["images_per_s"]
        report["train_step"][name] = row
        print(f"{name:8} {row['gflops_128']:>10.2f} {row['default']['images_per_s']:>14.1f} "
              f"{row['fp32_eager']['images_per_s']:>11.1f} {row['speedup']:>8.2f}x", flush=True)
        if cuda:
            torch.cuda.empty_cache()
    images = (1000 if args.quick else 3000) if cuda else (64 if args.quick else 256)
    with tempfile.TemporaryDirectory() as tmp:
        entries = make_jpegs(Path(tmp), 200 if cuda else 32)
        cpu_rate = time_pipeline(entries, Path(tmp), device, False, batch, args.workers, images)
        report["pipeline"]["cpu_decode_workers"] = {"workers": args.workers, "images_per_s": cpu_rate}
        print(f"input pipeline, CPU decode + RandomResizedCrop in {args.workers} workers: {cpu_rate:.0f} img/s", flush=True)
        if cuda:
            time_pipeline(entries, Path(tmp), device, True, batch, args.workers, batch * 4)  # warm nvJPEG up
            gpu_rate = time_pipeline(entries, Path(tmp), device, True, batch, args.workers, images)
            report["pipeline"]["gpu_decode"] = {"workers": args.workers, "images_per_s": gpu_rate}
            print(f"input pipeline, nvJPEG batch decode + crop/resize on the GPU: {gpu_rate:.0f} img/s", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
