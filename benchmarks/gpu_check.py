"""One short GPU check: the training step of the project's default CUDA path against fp32 eager,
job packing for a small code, and GPU JPEG decoding. Prints a table and writes JSON.

Run on a CUDA machine: python benchmarks/gpu_check.py --out results.json [--steps 20]

The codes are the published architectures at the 10th percentile, median and
90th percentile of FLOPs (the same three as ../shared/docs/PERF.md).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import time

import torch
from torch import nn

from bench.nn import build_network
from tasks.engine.loop import autocast_for, to_channels_last

CODES = {
    "p10": "16_8-2_1_1_8-1_2_1_2_48_48-2_3_1_1_1_40_8_8-2_4_1_1_1_1_48_8_8_16-64",
    "median": "16_32-4_1_2_16-1_2_3_1_128_112-1_3_3_4_1_96_48_96-4_4_2_4_1_2_64_80_16_128-32",
    "p90": "32_16-1_1_3_48-4_2_4_3_96_112-4_3_3_1_4_48_48_128-3_4_2_3_2_2_96_64_128_48-128",
}


def step_rate(code: str, mode: str, steps: int, batch: int = 80, size: int = 224) -> float:
    """Images per second of SGD training steps (cross-entropy, 50 classes)."""
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
    torch.backends.cudnn.allow_tf32 = mode == "tf32"
    torch.manual_seed(0)
    model = build_network(code, "cls", 50).to(device)
    default_path = mode == "default"
    if default_path:
        to_channels_last(model)
    autocast = autocast_for(device, "bf16" if default_path else "fp32")
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    if default_path:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 50, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()

    def one() -> None:
        with autocast():
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        one()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        one()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def _packed_worker(code: str, steps: int, queue: mp.Queue) -> None:
    queue.put(step_rate(code, "default", steps))


def packed_rate(code: str, jobs: int, steps: int) -> float:
    """Aggregate images/s of ``jobs`` training processes sharing the GPU."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_packed_worker, args=(code, steps, queue)) for _ in range(jobs)]
    for p in procs:
        p.start()
    rates = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def jpeg_decode_rate(batch: int = 256, repeats: int = 4) -> float:
    """torchvision nvJPEG batch decode + resize to 224 on the GPU, images/s."""
    import numpy as np
    from PIL import Image
    from torchvision.io import decode_jpeg

    rng = np.random.default_rng(0)
    blobs = []
    for _ in range(batch):
        img = Image.fromarray(rng.integers(0, 255, (375, 500, 3), dtype=np.uint8))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        blobs.append(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8))
    decode_jpeg(blobs[:8], device="cuda")
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        images = decode_jpeg(blobs, device="cuda")
        resized = [torch.nn.functional.interpolate(im[None].float(), size=(224, 224), mode="bilinear") for im in images]
    torch.cuda.synchronize()
    del resized
    return batch * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--pack", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=None, help="subset of p10 median p90")
    parser.add_argument("--skip-extras", action="store_true", help="no packing / decode measurements")
    args = parser.parse_args()
    results: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "batch": 80, "input": 224}
    for name, code in CODES.items():
        if args.only and name not in args.only:
            continue
        for mode in ("fp32", "default"):
            rate = step_rate(code, mode, args.steps)
            results[f"{name}_{mode}_img_s"] = rate
            print(f"{name:>7} {mode:>8}: {rate:8.1f} img/s", flush=True)
        results[f"{name}_speedup"] = results[f"{name}_default_img_s"] / results[f"{name}_fp32_img_s"]
        print(f"{name:>7} default / fp32 = {results[f'{name}_speedup']:.2f}x", flush=True)
    if args.skip_extras:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
        return
    packed = packed_rate(CODES["p10"], args.pack, args.steps * 2)
    results["p10_packed_img_s"] = packed
    results["p10_packing_gain"] = packed / results["p10_default_img_s"]
    print(f"p10 x{args.pack} packed: {packed:.1f} img/s = {results['p10_packing_gain']:.2f}x one job", flush=True)
    results["nvjpeg_decode_resize_img_s"] = jpeg_decode_rate()
    print(f"nvJPEG decode + resize: {results['nvjpeg_decode_resize_img_s']:.0f} img/s", flush=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
