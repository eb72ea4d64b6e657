"""3D detection on the CPU: KITTI evaluation time on a val-sized set, and PointPillars training step time.

Run: python benchmarks/bench_det3d.py [--quick] [--out results.json]

- evaluation: 3,769 frames (KITTI val) of random scenes (cars, pedestrians, cyclists, vans,
  DontCare) and random detections (jittered copies of the objects plus clutter, ~30 per frame),
  all 3 classes x 3 views (2D, BEV, 3D) x 3 levels, both recall samplings;
- training step on the CPU: the full KITTI grid (496 x 432, 12,000 pillars of up to 100 points,
  batch 2 = one GPU's share of 16 over 8), the median-FLOPs code of the seeded sample.
  ``--quick`` uses 500 frames and the toy grid (80 x 80).

The CUDA step (fp32 / bf16 / fp16, the job's loss and clipping) is measured by
benchmarks/gpu_suite.py (section det3d_steps), with the published median code.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from bench.config import parse
from bench.cost import cost_batch
from bench.space import sample_codes
from tasks.det3d.detector import DetectorConfig, PointPillars
from tasks.det3d.kitti import Objects
from tasks.det3d.kitti_eval import evaluate
from tasks.det3d.recipe import Det3dRecipe, toy_detector_config

NAMES = np.array(["Car", "Pedestrian", "Cyclist", "Van", "DontCare"])
SIZES = np.array([[3.9, 1.56, 1.6], [0.8, 1.73, 0.6], [1.76, 1.73, 0.6], [5.0, 2.0, 1.9], [1.0, 1.0, 1.0]])


def random_frame(rng: np.random.Generator) -> tuple[Objects, Objects]:
    n = int(rng.integers(1, 12))
    kind = rng.choice(5, n, p=[0.55, 0.12, 0.05, 0.08, 0.2])
    size = SIZES[kind] * rng.uniform(0.9, 1.1, (n, 3))
    boxes = np.c_[rng.uniform(-15, 15, n), rng.uniform(1.4, 1.9, n), rng.uniform(5, 60, n), size, rng.uniform(-np.pi, np.pi, n)]
    height = 721.5 * boxes[:, 4] / boxes[:, 2]
    x1, y1 = rng.uniform(0, 1100, n), rng.uniform(120, 200, n)
    bbox = np.c_[x1, y1, x1 + height * 1.5, y1 + height]
    gt = Objects(NAMES[kind], rng.uniform(0, 0.6, n), rng.integers(0, 3, n), np.zeros(n), bbox, boxes, np.ones(n))
    m = 30
    pick = rng.integers(0, n, m)
    det_boxes = boxes[pick] + rng.normal(0, 1, (m, 7)) * [0.3, 0.05, 0.3, 0.2, 0.05, 0.1, 0.2]
    clutter = rng.random(m) < 0.3
    det_boxes[clutter, 0] += rng.uniform(-10, 10, clutter.sum())
    det_names = np.where(rng.random(m) < 0.8, NAMES[np.minimum(kind[pick], 2)], rng.choice(NAMES[:3], m))
    det = Objects(det_names, np.zeros(m), np.zeros(m, int), np.zeros(m), bbox[pick] + rng.normal(0, 5, (m, 4)), det_boxes,
                  rng.uniform(0, 1, m))
    return gt, det


def bench_eval(frames: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    pairs = [random_frame(rng) for _ in range(frames)]
    start = time.perf_counter()
    result = evaluate([g for g, _ in pairs], [d for _, d in pairs])
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "metrics": len(result), "car_3d_moderate": result["car_3d_moderate"]}


def median_code() -> str:
    codes = sample_codes(2507, seed=0)
    _, flops = cost_batch(np.array([c.to_list() for c in codes]))
    return codes[int(np.argsort(flops)[len(flops) // 2])].to_string()


def kitti_config() -> DetectorConfig:
    from pathlib import Path

    import yaml

    recipe = yaml.safe_load((Path(__file__).resolve().parents[1] / "conf" / "task" / "det3d.yaml").read_text())
    return parse(Det3dRecipe, recipe, "task").model


def bench_step(config: DetectorConfig, code: str, device: torch.device, steps: int, batch: int = 2) -> dict[str, float]:
    torch.manual_seed(0)
    model = PointPillars(code, config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    lo = torch.tensor(config.point_range[:3])
    span = torch.tensor(config.point_range[3:]) - lo
    clouds = [torch.cat([torch.rand(20000, 3) * span + lo, torch.rand(20000, 1)], dim=1).to(device) for _ in range(batch)]
    gt = torch.tensor([[20.0, 0.0, -0.9, 3.9, 1.6, 1.56, 0.3], [15.0, 5.0, -0.9, 0.8, 0.6, 1.73, 1.0]], device=device)
    labels = torch.tensor([0, 1], device=device)
    times = []
    for _ in range(steps + 1):  # the first step warms up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = model(clouds)
        loss = model.loss(out, [gt] * batch, [labels] * batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    step = float(np.median(times[1:]))
    return {"seconds_per_step": step, "frames_per_second": batch / step, "batch": batch, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 frames; the toy grid on the CPU")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    results: dict[str, object] = {}
    results["eval"] = bench_eval(500 if args.quick else 3769)
    print(f"evaluation: {results['eval']['frames']} frames in {results['eval']['seconds']:.2f} s")
    code = median_code()
    results["code"] = code
    cpu_config = toy_detector_config() if args.quick else kitti_config()
    results["cpu_step"] = bench_step(cpu_config, code, torch.device("cpu"), steps=2)
    results["cpu_grid"] = f"{cpu_config.grid.ny}x{cpu_config.grid.nx}"
    print(f"cpu step ({results['cpu_grid']}): {results['cpu_step']['seconds_per_step']:.2f} s")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
