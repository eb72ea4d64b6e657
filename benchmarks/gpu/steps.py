"""Training steps in isolation and the input pipeline alone, measured side by side in one process.

A step here is the engine's step (``tasks.engine.loop._Trainer._step`` minus the learning-rate
update): autocast and gradient scaler from :class:`tasks.engine.precision.Precision`,
``to_channels_last`` on the model and a channels_last input, ``cudnn.benchmark`` on, as
every CUDA job sets it. Modes:

- ``default``: what a job does on this device (``precision=auto``: bf16 on compute
  capability >= 8.0, fp16 + GradScaler below; channels_last on CUDA; fp32 on the CPU);
- ``fp32_eager``: fp32 with TF32 off, contiguous NCHW: the reference the 2.5x target is against;
- ``fp16``: fp16 autocast + GradScaler + channels_last (the V100 path; it runs on Hopper too).

On the CPU every mode resolves to fp32 (``resolve_precision``), which the JSON records.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.code import ArchCode
from bench.cost import cost
from bench.nn import build_network
from tasks.engine.loop import to_channels_last
from tasks.engine.precision import Precision

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO.parent / "shared" / "nasbench_mr" / "cls-50-1000.pkl"
# The published codes at the 10th, 50th and 90th FLOPs percentile of cls-50-1000.pkl (2,507 codes), as
# numpy's "lower" percentile picks them (rank floor(q (n - 1)) in a stable sort): the three codes
# measured in earlier sessions. Literals, so the suite runs where ../shared is absent (the GPU machine);
# `published_codes` re-derives them wherever the file is present and the suite records whether they agree.
CODES = {
    "p10": "16_8-2_1_1_8-1_2_1_2_48_48-2_3_1_1_1_40_8_8-2_4_1_1_1_1_48_8_8_16-64",
    "median": "16_32-4_1_2_16-1_2_3_1_128_112-1_3_3_4_1_96_48_96-4_4_2_4_1_2_64_80_16_128-32",
    "p90": "32_16-1_1_3_48-4_2_4_3_96_112-4_3_3_1_4_48_48_128-3_4_2_3_2_2_96_64_128_48-128",
}
MODES = ("default", "fp32_eager", "fp16")
NUM_CLASSES = 50  # Cls-A


def published_codes(path: Path = PUBLISHED) -> dict[str, str] | None:
    """The p10 / median / p90 codes by FLOPs rank in the published file, or None where it is absent."""
    if not path.is_file():
        return None
    from bench.safe_pickle import load_untrusted  # the authors' pickle: never the plain pickle module

    rows = load_untrusted(path)
    flops = np.array([float(r["flops"]) for r in rows])
    order = np.argsort(flops, kind="stable")
    pick = {"p10": 0.1, "median": 0.5, "p90": 0.9}
    return {name: ArchCode.from_row(rows[order[int(q * (len(rows) - 1))]]).to_string() for name, q in pick.items()}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 for convolutions and matmuls on or off inside the block (torch's defaults restored after)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def mode_setup(mode: str, device: torch.device) -> tuple[Precision, bool, bool | None]:
    """(precision, channels_last, tf32) of a mode on ``device``; tf32 None = torch's default, as a job runs."""
    cuda = device.type == "cuda"
    if mode == "default":
        return Precision.for_device("auto", device), cuda, None
    if mode == "fp32_eager":
        return Precision.for_device("fp32", device), False, False
    if mode == "fp16":
        return Precision.for_device("fp16", device), cuda, None
    raise ValueError(f"unknown mode {mode!r}; valid are {MODES}")


def engine_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                autocast: Callable[[], contextlib.AbstractContextManager], loss_of: Callable[[], torch.Tensor]) -> torch.Tensor:
    """One optimisation step in the engine's order (loss under autocast, scaled backward, step, update)."""
    with autocast():
        loss = loss_of()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss


def time_rounds(step: Callable[[], object], device: torch.device, warmup: int, steps: int,
                ready: Callable[[], object] | None = None) -> list[float]:
    """Seconds of two equal rounds of ``steps // 2`` steps after ``warmup`` steps (their spread is the noise).

    ``ready`` is called between warm-up and timing (packed jobs wait there for each other)."""
    for _ in range(warmup):
        step()
    sync(device)
    if ready is not None:
        ready()
    rounds = []
    for _ in range(2):
        start = time.perf_counter()
        for _ in range(max(1, steps // 2)):
            step()
        sync(device)
        rounds.append(time.perf_counter() - start)
    return rounds


def rate_of(rounds: list[float], per_round: int) -> dict[str, float]:
    rates = [per_round / s for s in rounds]
    return {"per_s": per_round * len(rounds) / sum(rounds), "spread": abs(rates[0] - rates[1]) / max(rates)}


def cls_step_fn(code: str, mode: str, device: torch.device, batch: int, size: int,
                compile_backbone: str | None = None) -> tuple[Callable[[], object], dict]:
    """The classification training step of ``code`` in ``mode`` as a closure, and what the mode resolved to.

    ``compile_backbone`` names a torch.compile backend for the backbone alone ("inductor" runs in
    ``mode="reduce-overhead"``, i.e. with CUDA graphs; "eager" only traces, for a CPU check of the path)."""
    precision, channels_last, tf32_on = mode_setup(mode, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as every CUDA job sets it (tasks.engine.loop)
    torch.manual_seed(0)
    model = build_network(code, "cls", NUM_CLASSES).to(device)
    if channels_last:
        to_channels_last(model)
    if compile_backbone:
        mode_arg = "reduce-overhead" if compile_backbone == "inductor" else None
        model.backbone = torch.compile(model.backbone, backend=compile_backbone, mode=mode_arg)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scaler, autocast = precision.scaler(), precision.autocast()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    # Two batches in turn: no step reads an input the previous one left in the cache.
    inputs = [torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt) for _ in range(2)]
    labels = torch.randint(0, NUM_CLASSES, (batch,), device=device)
    turn = [0]

    def loss_of() -> torch.Tensor:
        turn[0] ^= 1
        return F.cross_entropy(model(inputs[turn[0]]).float(), labels)

    def step() -> torch.Tensor:
        with tf32(tf32_on) if tf32_on is not None else contextlib.nullcontext():
            return engine_step(model, optimizer, scaler, autocast, loss_of)

    return step, {"precision": precision.name, "channels_last": channels_last,
                  "tf32": "default" if tf32_on is None else tf32_on}


def cls_step(code: str, mode: str, device: torch.device, batch: int, size: int, warmup: int, steps: int,
             ready: Callable[[], object] | None = None) -> dict:
    """Images/s of the classification training step of ``code`` in ``mode``, and its peak memory."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    step, meta = cls_step_fn(code, mode, device, batch, size)
    rate = rate_of(time_rounds(step, device, warmup, steps, ready), batch * max(1, steps // 2))
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {"images_per_s": rate["per_s"], "spread": rate["spread"], **meta, "peak_bytes": peak}


def step_table(device: torch.device, batch: int, size: int, warmup: int, steps: int,
               codes: dict[str, str] = CODES, modes: tuple[str, ...] = MODES) -> dict[str, dict]:
    """Every code in every mode, side by side in this process; speed-ups are default / fp32_eager."""
    table = {}
    for name, code in codes.items():
        row: dict = {"code": code, "gflops_128": round(cost(ArchCode.from_string(code)).gflops, 3)}
        for mode in modes:
            row[mode] = cls_step(code, mode, device, batch, size, warmup, steps)
        row["speedup_default"] = row["default"]["images_per_s"] / row["fp32_eager"]["images_per_s"]
        if "fp16" in row:
            row["speedup_fp16"] = row["fp16"]["images_per_s"] / row["fp32_eager"]["images_per_s"]
        table[name] = row
    return table


def det3d_config(quick: bool):
    """The det3d recipe's detector (the full KITTI grid), or with --quick the toy recipe's (40 x 40, what the CPU job trains)."""
    import yaml

    from bench.config import parse
    from benchmarks.gpu.jobs import real_recipe
    from tasks.det3d.recipe import Det3dRecipe

    recipe = real_recipe("det3d")
    if quick:
        recipe["model"] |= yaml.safe_load((REPO / "conf" / "smoke" / "toy_det3d.yaml").read_text())["model"]
    return parse(Det3dRecipe, recipe, "task").model


def det3d_step_fn(code: str, config, mode: str, device: torch.device, batch: int = 2,
                  points: int = 20000) -> tuple[Callable[[], object], str]:
    """PointPillars' training step as the det3d job runs it (its loss, grad clipping 10) in precision ``mode``."""
    from tasks.det3d.detector import PointPillars

    precision = Precision.for_device(mode, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    lo = torch.tensor(config.point_range[:3])
    span = torch.tensor(config.point_range[3:]) - lo
    g = torch.Generator().manual_seed(0)
    # 20,000 points a frame: about what a KITTI sweep keeps inside the camera's field of view.
    clouds = [torch.cat([torch.rand(points, 3, generator=g) * span + lo, torch.rand(points, 1, generator=g)], 1).to(device)
              for _ in range(batch)]
    gt = [torch.tensor([[8.0, 0.0, -0.9, 3.9, 1.6, 1.56, 0.3], [12.0, 3.0, -0.9, 0.8, 0.6, 1.73, 1.0]], device=device)] * batch
    labels = [torch.tensor([0, 1], device=device)] * batch
    torch.manual_seed(0)
    model = PointPillars(code, config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scaler, autocast = precision.scaler(), precision.autocast()

    def step() -> None:
        with autocast():
            loss = model.loss(model(clouds), gt, labels)["loss"]  # as Det3dTask.loss
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)  # the recipe's grad_clip
        scaler.step(optimizer)
        scaler.update()

    return step, precision.name


def det3d_steps(code: str, device: torch.device, quick: bool, warmup: int, steps: int, batch: int = 2,
                points: int = 20000) -> dict:
    """Point clouds/s of the PointPillars training step per precision (the recipe trains in fp32)."""
    from benchmarks.gpu.jobs import real_recipe

    config = det3d_config(quick)
    out: dict = {"code": code, "grid": f"{config.grid.ny}x{config.grid.nx}", "batch": batch, "points": points,
                 "recipe_precision": real_recipe("det3d")["runtime"]["precision"]}
    for mode in ("fp32", "bf16", "fp16"):
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        step, resolved = det3d_step_fn(code, config, mode, device, batch, points)
        rate = rate_of(time_rounds(step, device, warmup, steps), batch * max(1, steps // 2))
        # "fp32" as a job runs it: torch's default lets cuDNN run fp32 convolutions in TF32 on Ampere and later.
        out[mode] = {"clouds_per_s": rate["per_s"], "ms_per_step": 1000 * batch / rate["per_s"], "spread": rate["spread"],
                     "precision": resolved, "tf32_convolutions": torch.backends.cudnn.allow_tf32,
                     "peak_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None}
    return out


def make_jpegs(folder: Path, count: int) -> list:
    """Smooth random 500x375 photo-like JPEGs (quality 90): ImageNet's typical size."""
    from torchvision.io import encode_jpeg

    from tasks.data.manifest import ManifestEntry

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


def pipeline_rates(device: torch.device, batch: int, workers: int, images: int, files: int) -> dict:
    """Images/s the classification input pipeline delivers as normalised 224 tensors on ``device``, alone:
    the job's device-decode path (loader workers read bytes; decode + augment in ``decode_batch_on_device``,
    nvJPEG on CUDA), the decode alone, and the CPU-decode fallback (decode + augment in the workers)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    from tasks.classification.data import AugmentConfig, ImageFiles, collate_encoded, decode_batch_on_device
    from tasks.data.image_ops import normalize

    cfg = AugmentConfig(crop_size=224)
    out: dict = {"workers": workers, "batch": batch, "images": images, "jpeg": "500x375 q90"}
    with tempfile.TemporaryDirectory() as tmp:
        entries = make_jpegs(Path(tmp), files)
        keys = [(i % len(entries), i) for i in range(images)]
        batches = [keys[i : i + batch] for i in range(0, len(keys), batch)]
        for name, on_device in (("device_decode_augment", True), ("cpu_decode_augment", False)):
            dataset = ImageFiles(tmp, entries, cfg, decode_on_device=on_device)
            loader = torch.utils.data.DataLoader(
                dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate_encoded if on_device else None,
                pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None)
            if on_device:  # nvJPEG's first call sets up its handles: keep that out of the rate
                decode_batch_on_device(collate_encoded([dataset[(0, 0)]]), device, cfg, entries)
            sync(device)
            start, seen = time.perf_counter(), 0
            for item in loader:
                out_batch = (decode_batch_on_device(item, device, cfg, entries) if on_device
                             else normalize(item[0].to(device, non_blocking=True)))
                seen += out_batch.shape[0]
            sync(device)
            out[name] = seen / (time.perf_counter() - start)
        blobs = [torch.frombuffer(bytearray((Path(tmp) / e.path).read_bytes()), dtype=torch.uint8) for e in entries]
        blobs = (blobs * (batch // len(blobs) + 1))[:batch]
        decode_jpeg(blobs[:2], mode=ImageReadMode.RGB, device=device)
        sync(device)
        rounds = max(1, images // batch)
        start = time.perf_counter()
        for _ in range(rounds):
            decode_jpeg(blobs, mode=ImageReadMode.RGB, device=device)
        sync(device)
        out["decode_only"] = rounds * batch / (time.perf_counter() - start)
    return out


def _packed_worker(code: str, device: str, batch: int, size: int, warmup: int, steps: int, queue, barrier) -> None:
    torch.set_num_threads(1)
    queue.put(cls_step(code, "default", torch.device(device), batch, size, warmup, steps, barrier.wait)["images_per_s"])


def packed_rate(code: str, device: torch.device, jobs: int, batch: int, size: int, warmup: int, steps: int,
                spawn: bool = True) -> dict:
    """Aggregate images/s of ``jobs`` processes training ``code`` on the same device at once.

    The processes start timing together (a barrier after their warm-up), so the rates add up.
    ``spawn=False`` runs one job in this process (a CPU check of the path without ~5 s of imports)."""
    if not spawn:
        import queue
        import threading

        results: queue.Queue = queue.Queue()
        _packed_worker(code, str(device), batch, size, warmup, steps, results, threading.Barrier(1))
        rate = results.get()
        return {"jobs": 1, "aggregate_images_per_s": rate, "per_job": [rate], "spawned": False}
    ctx = mp.get_context("spawn")  # CUDA cannot be used in a forked child
    results, barrier = ctx.Queue(), ctx.Barrier(jobs)
    procs = [ctx.Process(target=_packed_worker, args=(code, str(device), batch, size, warmup, steps, results, barrier))
             for _ in range(jobs)]
    for p in procs:
        p.start()
    rates = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return {"jobs": jobs, "aggregate_images_per_s": sum(rates), "per_job": rates, "spawned": True}
