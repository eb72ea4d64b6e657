"""How rough plan=true is: a full sweep's GPU-hours under other defensible fits of the same measurements.

    python benchmarks/plan_sensitivity.py

The plan fits one line (per-step overhead + FLOPs at a rate) to a few measured codes per task
(conf/throughput/h200.yaml). Refitting it to a subset of those points, or to PERF.md's other build
of the same network, gives other lines the data supports equally; how far the sweep's total moves
between them is a floor on the estimate's uncertainty (data loading, communication, retries add more).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cli import CONF_DIR
from bench.sched.config import PlanRun, build_plan
from bench.sched.plan import make_plan
from bench.sched.throughput import MeasuredPoint
from tasks import TASKS

P10, MEDIAN, P90 = (
    "16_8-2_1_1_8-1_2_1_2_48_48-2_3_1_1_1_40_8_8-2_4_1_1_1_1_48_8_8_16-64",
    "16_32-4_1_2_16-1_2_3_1_128_112-1_3_3_4_1_96_48_96-4_4_2_4_1_2_64_80_16_128-32",
    "32_16-1_1_3_48-4_2_4_3_96_112-4_3_3_1_4_48_48_128-3_4_2_3_2_2_96_64_128_48-128",
)
ALTERNATIVES = {  # (setting, task type): name -> points (code, per-GPU batch, samples/s)
    ("cls_a", "cls"): {
        "PERF.md's naive build (bf16 column)": [(P10, 80, 2094), (MEDIAN, 80, 1133), (P90, 80, 1215)],
        "the median code alone": [(MEDIAN, 80, 884)],
        "p10 and median only": [(P10, 80, 1799), (MEDIAN, 80, 884)],
    },
    ("seg", "seg"): {
        "the median code alone": [(MEDIAN, 8, 102.4)],
        "the p90 code alone": [(P90, 8, 120.1)],
    },
}


def planned(setting: str) -> PlanRun:
    if not OmegaConf.has_resolver("tempdir"):
        OmegaConf.register_new_resolver("tempdir", tempfile.gettempdir)
    store = Path(tempfile.mkdtemp()) / "absent"  # never created: the plan reads a store only if it exists
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("run", [f"task={setting}", "sweep=full", "plan=true", f"store={store}"])
    return build_plan(cfg, TASKS)


def with_points(run: PlanRun, task: str, points: list[tuple[str, int, float]]) -> PlanRun:
    row = replace(run.throughput.tasks[task], points=tuple(MeasuredPoint(*p) for p in points))
    return replace(run, throughput=replace(run.throughput, tasks={**run.throughput.tasks, task: row}))


def main() -> None:
    for (setting, task), alternatives in ALTERNATIVES.items():
        run = planned(setting)
        base = make_plan(run).gpu_hours
        print(f"{setting}: {base:,.0f} GPU-hours for the frozen 2,500 codes with conf/throughput/h200.yaml")
        for name, points in alternatives.items():
            hours = make_plan(with_points(run, task, points)).gpu_hours
            print(f"  fitted to {name}: {hours:,.0f} ({hours / base - 1:+.0%})")


if __name__ == "__main__":
    main()
