"""The one prepared GPU check: every task's real job on CUDA, the training step side by side, where its time goes.

THE DEVICE COMMAND (one ``run`` call of the device tool, from the repository root):

    # here, first (the device machine has no Hydra or PyAV and cannot download them):
    bash benchmarks/gpu_wheels.sh
    # the run call: this command, carry [".whl"], timeout_s 570
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; set -o pipefail; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_suite.py --out $OUT/gpu_suite.json --budget-s 480 2>&1 | tee $OUT/gpu_suite.log
    # then, here (files_at: where the call's files lie):
    python benchmarks/render_performance.py <files_at>/gpu_suite.json

$OUT brings back gpu_suite.json (every number, the card, driver, CUDA and torch named),
gpu_suite.log and gpu_suite.profile.txt. The JSON is rewritten after every section, so a run cut
short still returns what it measured. Only if a section failed: rerun it at once, while the
machine is warm (30 s), with the same command but ``--out $OUT/rerun.json --only <sections>
--budget-s 120`` and timeout_s 150 (not jobs or resume: together ~4 minutes, more than is left), and
render both JSONs (the rerun's sections replace the first run's); otherwise call give_back at once.

    python benchmarks/gpu_suite.py --device cpu --quick --out /tmp/suite.json    # the same code paths on a CPU, ~1 min

Sections, in order (the essential ones first, optional ones only while the budget lasts):
env, steps (p10/median/p90 codes: default vs fp32 eager vs fp16, side by side), pipeline (the
input pipeline alone), jobs (cls, cls in fp16, seg, video, det3d: the real ``launch/train.py``
jobs), resume (each job killed after a checkpoint and resumed), det3d_steps (PointPillars per
precision), profile (median code's default step; det3d in bf16), graphs (p10: whole-step CUDA
graph), compile (p10: torch.compile reduce-overhead backbone), packing (p10: 4 jobs on one GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch

from bench.argtypes import nonnegative_float
from benchmarks.gpu import jobs, profiling, steps

SECTIONS = ("env", "steps", "pipeline", "jobs", "resume", "det3d_steps", "profile", "graphs", "compile", "packing")
TINY = "8_8-1_1_1_8-1_2_1_1_8_8-1_3_1_1_1_8_8_8-1_4_1_1_1_1_8_8_8_8-8"  # the smallest code: the CPU jobs take seconds
CLS_A_FULL_JOB_IMAGES = 100 * 50 * 1000  # cls_a: 100 epochs of cls-50-1000
# Rough seconds each optional section takes on an H200 (skipped when less budget is left).
ESTIMATE_S = {"det3d_steps": 25, "profile": 30, "graphs": 20, "packing": 40, "compile": 90}


def environment(device: torch.device) -> dict:
    env = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
           "cpu_count": os.cpu_count(), "host": platform.node()}
    try:
        import torchvision

        env["torchvision"] = torchvision.__version__
    except ImportError:
        env["torchvision"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(card=props.name, capability=f"{props.major}.{props.minor}", sm_count=props.multi_processor_count,
                   memory_gib=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), driver=_driver())
    else:
        env.update(card=f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)", cuda=None,
                   driver=None, capability=None)
    env["default_precision"] = steps.mode_setup("default", device)[0].name
    return env


def _driver() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


class Suite:
    """Runs the sections in order within a time budget; the JSON is written after each one."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.quick = args, args.quick
        self.device = torch.device(args.device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", 0)  # jobs name their device: devices=[cuda:0]
        self.cuda = self.device.type == "cuda"
        self.out = Path(args.out)
        self.work = Path(args.work or tempfile.mkdtemp(prefix="gpu_suite-"))
        self.started = time.time()
        self.report: dict = {"suite": {"mode": "cpu-quick" if self.quick else self.device.type, "argv": sys.argv[1:],
                                       "budget_s": args.budget_s}, "skipped": {}, "errors": {}}
        self.straight: dict[str, dict] = {}
        self._chain_runs: dict[str, list[jobs.Run]] = {}
        self._background: threading.Thread | None = None
        self._jobs_result: dict = {}
        self._jobs_error: BaseException | None = None
        self._at_kill: dict[str, list] = {}
        # The small code of the graphs / packing / compile sections: p10 on a GPU; with --quick the smallest code,
        # since what is checked there is the path (spawned jobs, a compiled backbone), not the p10 code's speed.
        self.small = TINY if self.quick else steps.CODES["p10"]

    def remaining(self) -> float:
        return self.args.budget_s - (time.time() - self.started) if self.args.budget_s else float("inf")

    def save(self) -> None:
        self.report["suite"]["wall_s"] = time.time() - self.started
        self.report["suite"]["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.report, indent=1, default=str))

    def section(self, name: str, fn: Callable[[], object]) -> None:
        if self.args.only and name not in self.args.only:
            return
        if name in ESTIMATE_S and self.remaining() < ESTIMATE_S[name]:
            self.report["skipped"][name] = f"budget: {self.remaining():.0f} s left, about {ESTIMATE_S[name]} s needed"
            print(f"[{name}] skipped: {self.report['skipped'][name]}", flush=True)
            return
        start = time.time()
        print(f"[{name}] ...", flush=True)
        try:
            result = fn()
            if result is not None:
                self.report[name] = result
        except Exception:  # noqa: BLE001 - one failed section must not cost the others in a one-shot device run
            self.report["errors"][name] = traceback.format_exc()[-3000:]
            print(f"[{name}] FAILED:\n{self.report['errors'][name]}", flush=True)
        print(f"[{name}] {time.time() - start:.1f} s", flush=True)
        self.save()

    # ------------------------------------------------------------------ sizes of each mode
    @property
    def step_size(self) -> dict:
        return {"batch": 2, "size": 32, "warmup": 0, "steps": 2} if self.quick else \
               {"batch": 80, "size": 224, "warmup": 5, "steps": 20}

    # ------------------------------------------------------------------ sections
    def run(self) -> dict:
        self.section("env", lambda: environment(self.device))
        self.report["codes"] = {**steps.CODES, "verified_against_published": self._verify_codes()}
        # Packing last: an earlier session measured it (4.36x); the profile and graphs / compile have never run.
        order = ["steps", "pipeline", "jobs", "resume", "det3d_steps", "profile", "graphs", "compile", "packing"]
        if self.quick and (not self.args.only or "jobs" in self.args.only):
            # A CPU run measures nothing worth protecting: its job processes run in the background while this
            # process does the in-process sections, so two cores are busy (the test in CI must stay short).
            self._background = threading.Thread(target=self._jobs_in_background, daemon=True)
            self._background.start()
            order = [s for s in order if s not in ("jobs", "resume")] + ["jobs", "resume"]
        for name in order:
            self.section(name, getattr(self, name))
        self.report["checks"] = checks(self.report)
        self.save()
        return self.report

    def _verify_codes(self) -> bool | None:
        found = steps.published_codes()
        return None if found is None else found == steps.CODES

    def steps(self) -> dict:
        size = self.step_size
        rows = steps.step_table(self.device, **size)
        return {**size, "rows": rows}

    def pipeline(self) -> dict:
        if self.quick:
            return steps.pipeline_rates(self.device, batch=8, workers=0, images=32, files=8)
        return steps.pipeline_rates(self.device, batch=80, workers=min(16, os.cpu_count() or 1), images=2400, files=200)

    def _jobs_in_background(self) -> None:
        try:
            self._jobs_result = self._run_jobs()
        except BaseException as exc:  # noqa: BLE001 - handed to the jobs section, which records it
            self._jobs_error = exc

    def jobs(self) -> dict:
        if self._background is None:  # on a GPU: now, alone on the device
            return self._run_jobs()
        self._background.join()
        if self._jobs_error is not None:
            raise self._jobs_error
        return self._jobs_result

    def _run_jobs(self) -> dict:
        every = 2 if self.quick else 10
        self._every = every
        self._plans = jobs.quick_plans(every) if self.quick else jobs.gpu_plans(every)
        scale = 1 if self.quick else jobs.GPU_SCALE
        self._toy = self.work / f"toy-x{scale}"
        seconds = jobs.prepare_toy(self._toy, scale)
        self._code = TINY if self.quick else steps.CODES["median"]
        straight = [[self._launcher(p, f"{p.name}-straight")] for p in self._plans]
        if self.quick:  # a CPU run only needs them done: two at a time, the kill-and-resume chain among them
            resumable = [p for p in self._plans if p.name in self.args.resume]
            done = jobs.run_chains([self._chain(p) for p in resumable] + straight, parallel=2, timeout_s=300)
            self._chain_runs = {p.name: runs for p, runs in zip(resumable, done)}
            done = done[len(resumable):]
        else:  # timed: one job at a time on the GPU, alone (the chains run in the resume section)
            done = jobs.run_chains(straight, parallel=1, timeout_s=240)
        runs = {}
        for (run,) in done:
            runs[run.plan.name] = jobs.collect(run)
            print(f"  {run.plan.name}: exit {runs[run.plan.name]['exit']}, {runs[run.plan.name]['wall_s']:.1f} s", flush=True)
        self.straight = runs
        return {"code": self._code, "toy_scale": scale, "toy_seconds": seconds, "log_every": every, "runs": runs}

    def _launcher(self, plan: jobs.JobPlan, folder: str, kill_after: int = 0) -> Callable[[], jobs.Run]:
        return lambda: jobs.launch(plan, self.work / folder, self._toy, self._code, str(self.device), self._every, kill_after)

    def _chain(self, plan: jobs.JobPlan) -> jobs.Chain:
        """Kill the job past its first checkpoint (one more log line: kill_after), note the checkpoints, resume it."""
        folder = f"{plan.name}-resume"

        def resume() -> jobs.Run:
            self._at_kill[plan.name] = jobs.checkpoints_in(self.work / folder)
            return self._launcher(plan, folder)()

        return [self._launcher(plan, folder, kill_after=self._every + 1), resume]

    def resume(self) -> dict:
        if not self.straight:
            raise RuntimeError("the jobs section did not run: nothing to compare a resumed job with")
        if not self.quick:  # not timed: all the chains at once
            plans = [p for p in self._plans if p.name in self.args.resume and self.straight[p.name]["exit"] == 0]
            done = jobs.run_chains([self._chain(p) for p in plans], parallel=max(1, len(plans)), timeout_s=300)
            self._chain_runs = {p.name: runs for p, runs in zip(plans, done)}
        out = {}
        for name, (killed, resumed) in self._chain_runs.items():
            out[name] = jobs.resume_check(self.straight[name], killed, self._at_kill.get(name, []), jobs.collect(resumed),
                                          self.device.type, self._every)
            print(f"  {name}: {'passed' if out[name]['passed'] else 'FAILED'} {out[name]['checks']}", flush=True)
        return out

    @property
    def det3d(self) -> tuple[str, int]:
        """(code, points per cloud) of the det3d step: the median code on a KITTI-like sweep; tiny with --quick."""
        return (TINY, 2000) if self.quick else (steps.CODES["median"], 20000)

    def det3d_steps(self) -> dict:
        warmup, count = (1, 2) if self.quick else (3, 10)
        code, points = self.det3d
        return steps.det3d_steps(code, self.device, self.quick, warmup, count, points=points)

    def profile(self) -> dict:
        size = self.step_size
        active = 1 if self.quick else 10
        median, table = profiling.profile_cls(steps.CODES["median"], self.device, size["batch"], size["size"],
                                              size["warmup"], active)
        code, points = self.det3d
        det_step, precision = steps.det3d_step_fn(code, steps.det3d_config(self.quick), "bf16", self.device, points=points)
        det, det_table = profiling.profile_step(det_step, self.device, size["warmup"], 2 if self.quick else 5)
        self.out.with_suffix(".profile.txt").write_text(
            f"median code, default step ({median['precision']}), batch {size['batch']}, {size['size']}x{size['size']}\n"
            f"{table}\n\ndet3d, bf16 autocast (resolved: {precision})\n{det_table}\n")
        return {"median_default": median, "det3d_bf16": {**det, "code": code, "precision": precision}}

    def graphs(self) -> dict:
        if not self.cuda:
            self.report["skipped"]["graphs"] = "CUDA graphs need a CUDA device"
            return None
        size = self.step_size
        result = profiling.graphs_vs_eager(self.small, self.device, size["batch"], size["size"], size["warmup"], 40)
        result["code"] = self.small
        if "graph_images_per_s" in result:
            result["break_even"] = profiling.break_even(result["graph_startup_s"], result["eager_images_per_s"],
                                                        result["graph_images_per_s"], CLS_A_FULL_JOB_IMAGES)
        return result

    def packing(self) -> dict:
        size = self.step_size
        count, jobs_n = (2, 1) if self.quick else (40, 4)
        single = steps.cls_step(self.small, "default", self.device, size["batch"], size["size"], size["warmup"], count)
        # --quick: one job in this process; a spawned one costs a CPU run ~5 s of imports.
        packed = steps.packed_rate(self.small, self.device, jobs_n, size["batch"], size["size"], size["warmup"], count,
                                   spawn=not self.quick)
        return {**packed, "code": self.small, "single_images_per_s": single["images_per_s"],
                "gain": packed["aggregate_images_per_s"] / single["images_per_s"]}

    def compile(self) -> dict:
        size = self.step_size
        backend = "inductor" if self.cuda else "eager"  # inductor's CPU code generation alone would take minutes here
        if self.quick:  # in this process: the child process is only a time limit, and costs a CPU run ~5 s of imports
            result = profiling.compiled_main(self.small, str(self.device), size["batch"], size["size"], size["warmup"], 2,
                                             backend)
        else:
            limit = max(30.0, min(300.0, self.remaining() - 15))
            result = profiling.compiled_rate(self.small, self.device, size["batch"], size["size"], size["warmup"], 40,
                                             backend, limit)
        result["code"] = self.small
        eager = self.report.get("graphs", {}).get("eager_images_per_s")
        if eager is None and "compiled_images_per_s" in result:  # no graphs section (a CPU, or --only): measure it here
            eager = steps.cls_step(self.small, "default", self.device, size["batch"], size["size"], size["warmup"],
                                   40 if self.cuda else 2)["images_per_s"]
        if "compiled_images_per_s" in result and eager:
            result["eager_images_per_s"] = eager
            result["break_even"] = profiling.break_even(result["compile_startup_s"], eager, result["compiled_images_per_s"],
                                                        CLS_A_FULL_JOB_IMAGES)
        return result


def checks(report: dict) -> dict:
    """The pass/fail facts of a run: every job succeeded and its loss fell, every resume check passed."""
    runs = report.get("jobs", {}).get("runs", {})
    out = {
        "jobs_succeeded": {n: r.get("exit") == 0 and r.get("status") == "succeeded" for n, r in runs.items()},
        "loss_fell": {n: bool(r.get("loss_fell")) for n, r in runs.items()},
        "resume_passed": {n: r.get("passed", False) for n, r in report.get("resume", {}).items()},
        "sections_failed": sorted(report.get("errors", {})),
    }
    out["all_passed"] = (bool(runs) and all(out["jobs_succeeded"].values()) and all(out["loss_fell"].values())
                         and all(out["resume_passed"].values()) and not out["sections_failed"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="the JSON to write (a .profile.txt is written beside it)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny batches and few steps: the code paths in ~1 min on a CPU")
    parser.add_argument("--budget-s", type=nonnegative_float, default=0.0, help="skip optional sections past this many seconds (0: none)")
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run these sections only (a rerun of a failed one)")
    parser.add_argument("--resume", nargs="*", help="jobs to kill and resume (default: all on a GPU; cls with --quick)")
    parser.add_argument("--work", help="folder for toy data, stores and work dirs (default: a new temporary folder)")
    parser.add_argument("--compile-child", help=argparse.SUPPRESS)  # internal: the torch.compile measurement's process
    args = parser.parse_args(argv)
    if args.compile_child:
        print(json.dumps(profiling.compiled_main(*json.loads(args.compile_child))), flush=True)
        return 0
    if not args.out:
        parser.error("--out is required")
    if args.resume is None:
        args.resume = ["cls"] if args.quick else ["cls", "cls_fp16", "seg", "video", "det3d"]
    from benchmarks.gpu.table import summary

    report = Suite(args).run()
    print("\n".join(summary(report)), flush=True)
    return 0 if report["checks"]["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
