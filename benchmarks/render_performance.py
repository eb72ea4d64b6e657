"""Regenerate docs/performance.md from the GPU suite's JSON, naming the card on every number.

    python benchmarks/render_performance.py gpu_suite.json [rerun.json]   # after a device run of benchmarks/gpu_suite.py
    python benchmarks/render_performance.py                               # no new run: the earlier measurements only

A rerun's JSON (``--only``) replaces the sections it measured. A section the suite JSON measured replaces the earlier numbers of that section; every other
section keeps the numbers of benchmarks/performance_earlier.yaml, cited as measured in an earlier
session with their card and script. A ``--device cpu --quick`` JSON is refused (its numbers say
nothing about a GPU) unless ``--allow-cpu`` (the CI test renders one to check the renderer).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
EARLIER = REPO / "benchmarks" / "performance_earlier.yaml"
DOC = REPO / "docs" / "performance.md"


def _n(value, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def device_command() -> list[str]:
    """The device command and its instructions, from gpu_suite.py's docstring (one source for the script and the
    docs): indented lines as a code block, the paragraph after it as text."""
    text = (REPO / "benchmarks" / "gpu_suite.py").read_text()
    block = text.split("THE DEVICE COMMAND", 1)[1].split("    python benchmarks/gpu_suite.py --device cpu", 1)[0]
    lines = block.splitlines()[1:]
    code = [line[4:] for line in lines if line.startswith("    ")]
    prose = " ".join(line.strip() for line in lines if line.strip() and not line.startswith("    "))
    return ["```", *code, "```", "", prose]


def card_of(report: dict) -> str:
    env = report.get("env", {})
    return f"{env.get('card')}, driver {env.get('driver')}, CUDA {env.get('cuda')}, torch {env.get('torch')}"


def steps_new(report: dict, card: str) -> list[str]:
    st = report["steps"]
    out = [f"Measured by `benchmarks/gpu_suite.py` on {card}: batch {st['batch']}, {st['size']}x{st['size']}, "
           f"SGD + cross-entropy, 50 classes, {st['steps']} timed steps after {st['warmup']}, side by side in one process; "
           "cudnn.benchmark on (as every job). default = what a job runs on this card (`precision=auto`); "
           "fp32 = eager fp32, TF32 off, NCHW; fp16 = fp16 autocast + GradScaler + channels_last.", "",
           "| card | code (GFLOPs @128) | fp32 img/s | default img/s | fp16 img/s | default / fp32 | fp16 / fp32 | target |",
           "|---|---|---|---|---|---|---|---|"]
    short = report["env"].get("card")
    for name, row in st["rows"].items():
        target = ">= 2.5x" if name == "median" else "-"
        out.append(f"| {short} | {name} ({row['gflops_128']:.2f}) | {_n(row['fp32_eager']['images_per_s'])} | "
                   f"{_n(row['default']['images_per_s'])} ({row['default']['precision']}) | {_n(row['fp16']['images_per_s'])} | "
                   f"{row['speedup_default']:.2f}x | {row['speedup_fp16']:.2f}x | {target} |")
    return out


def steps_old(old: dict) -> list[str]:
    out = [f"Measured in an earlier session on one {old['card']}, {old['software']} (`{old['script']}`): {old['setup']}.", "",
           "| card | code (GFLOPs @128) | fp32 img/s | default img/s | default / fp32 |", "|---|---|---|---|---|"]
    for name, row in old["rows"].items():
        out.append(f"| {old['card']} (earlier) | {name} ({row['gflops_128']:.2f}) | {_n(row['fp32'])} | {_n(row['default'])} | "
                   f"{row['default'] / row['fp32']:.2f}x |")
    return out + [""] + [f"- {note} ({old['card']}, earlier)" for note in old.get("notes", [])]


def pipeline_new(report: dict, card: str) -> list[str]:
    p = report["pipeline"]
    return [f"On {card}, {p['workers']} loader workers, batch {p['batch']}, {p['jpeg']} JPEGs, to normalised 224 tensors on the GPU:", "",
            f"- the job's path (workers read bytes; nvJPEG batch decode + per-image crop/resize/flip on the GPU): "
            f"{_n(p['device_decode_augment'])} img/s ({report['env'].get('card')})",
            f"- nvJPEG batch decode alone: {_n(p['decode_only'])} img/s ({report['env'].get('card')})",
            f"- CPU fallback (decode + augment in the workers): {_n(p['cpu_decode_augment'])} img/s ({report['env'].get('card')})"]


def pipeline_old(old: dict) -> list[str]:
    return [f"- {old['setup']}: {_n(old['decode_resize_images_per_s'])} img/s ({old['card']}, {old['software']}, "
            f"`{old['script']}`, earlier session). Target: the input pipeline >= 2,000 img/s per GPU."]


def jobs_new(report: dict, card: str) -> list[str]:
    jb, resume, short = report["jobs"], report.get("resume", {}), report["env"].get("card")
    out = [f"`launch/train.py task=<setting> data=toy` (the users' entry point) on {card}: code {jb['code']}, the real "
           f"recipe's per-GPU batch and input sizes on the toy sets x{jb['toy_scale']}. Rate: median over {jb['log_every']}-step "
           "windows (evaluations and checkpoints excluded); first step: from the process start (imports, CUDA, cuDNN autotuning).", "",
           "| card | job | batch | rate | unit | first step | peak memory | precision | loss first -> last | resumed from a kill |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in jb["runs"].items():
        rate = r.get(f"{r['unit'].replace(' ', '_')}_per_s")
        res = resume.get(name)
        verdict = "-" if res is None else ("identical curve" if res["curve_identical"] else
                                           f"ok (curve max diff {_n(res['curve_max_abs_diff'], '.3g')})") if res["passed"] else "FAILED"
        peak = r.get("peak_allocated_bytes")
        out.append(f"| {short} | {name} | {r['batch']} | {_n(rate, ',.1f')} | {r['unit']}/s | {_n(r.get('time_to_first_step_s'), '.1f')} s | "
                   f"{'-' if not peak else f'{peak / 2**30:.1f} GiB'} | {r.get('info', {}).get('precision', '-')} | "
                   f"{_n(r.get('loss_first'), '.3f')} -> {_n(r.get('loss_last'), '.3f')} | {verdict} |")
    return out


def det3d_new(report: dict, card: str) -> list[str]:
    d = report["det3d_steps"]
    parts = ", ".join(f"{m} {_n(d[m]['ms_per_step'], '.1f')} ms ({_n(d[m]['clouds_per_s'], '.1f')} clouds/s)"
                      for m in ("fp32", "bf16", "fp16") if m in d)
    return [f"- PointPillars training step, grid {d['grid']}, batch {d['batch']}, {d['points']:,} points a cloud, code "
            f"{d['code']}: {parts} ({card}); the recipe trains in {d['recipe_precision']}."]


def det3d_old(old: dict) -> list[str]:
    return [f"- {old['setup']}: CUDA fp32 {old['fp32_ms']} ms, bf16 autocast {old['bf16_ms']} ms (slower: the job stays fp32), "
            f"16 CPU cores {old['cpu_step_s']} s per step; KITTI-val-sized evaluation {old['kitti_eval_s']} s "
            f"({old['card']}, {old['software']}, `{old['script']}`, earlier session)."]


def profile_new(report: dict, card: str) -> list[str]:
    out = []
    for key, title in (("median_default", "median code, default step"), ("det3d_bf16", "det3d step, bf16 autocast")):
        p = report["profile"].get(key)
        if not p:
            continue
        shares = ", ".join(f"{k} {v:.0%}" for k, v in sorted(p["categories_share"].items(), key=lambda kv: -kv[1]) if v >= 0.005)
        out.append(f"- {title} ({card}): {p['wall_ms_per_step']:.1f} ms per step of which the GPU is busy "
                   f"{p['busy_ms_per_step']:.1f} ms ({p['busy_fraction']:.0%}); {_n(p.get('kernels_per_step'))} kernels a step; "
                   f"cuDNN layout-transform kernels {p['layout_kernels_ms_per_step']:.2f} ms; {p['time_base']} time: {shares}.")
    return out + ["", "The full tables are in the run's `gpu_suite.profile.txt`."]


def _code(r: dict) -> str:
    from benchmarks.gpu.steps import CODES

    code = r.get("code")
    return "p10 code" if code in (None, CODES["p10"]) else f"code {code}"


def small_codes(report: dict | None, earlier: dict, card: str) -> list[str]:
    out = []
    pk = (report or {}).get("packing")
    if pk:
        out.append(f"- packing: {pk['jobs']} jobs of the {_code(pk)} on one GPU, {_n(pk['aggregate_images_per_s'])} img/s aggregate = "
                   f"{pk['gain']:.2f}x one job ({card}); target >= 3x.")
    else:
        old = earlier["packing"]
        out.append(f"- packing: {old['jobs']} p10 jobs on one GPU, {_n(old['aggregate_images_per_s'])} img/s aggregate = "
                   f"{old['gain']:.2f}x one job ({old['card']}, {old['software']}, `{old['script']}`, earlier session); target >= 3x.")
    for key, label, rate_key, startup_key in (("graphs", "whole-step CUDA graph", "graph_images_per_s", "graph_startup_s"),
                                              ("compile", "torch.compile(backbone, mode='reduce-overhead')",
                                               "compiled_images_per_s", "compile_startup_s")):
        r = (report or {}).get(key)
        if not r:
            old = earlier.get(key)
            out.append(f"- {label}: not measured yet (needs a GPU run of `benchmarks/gpu_suite.py`)." if not old else
                       f"- {label}: not measured yet. Earlier, {old['text']} ({old['card']}, {old['source']}, earlier session).")
        elif rate_key not in r:
            out.append(f"- {label}: {r.get('skipped') or 'failed'} ({card}).")
        else:
            be = r.get("break_even", {})
            out.append(f"- {label}, {_code(r)}: {_n(r['eager_images_per_s'])} -> {_n(r[rate_key])} img/s after {r[startup_key]:.1f} s "
                       f"of start-up; pays back after {_n(be.get('break_even_images'))} images; a full cls_a job "
                       f"({_n(be.get('full_job_images'))} images) {'wins' if be.get('wins_over_full_job') else 'does not win'} ({card}).")
    return out


def render(report: dict | None, earlier: dict, source: str) -> str:
    card = card_of(report) if report else None
    has = (lambda key: bool(report and report.get(key)))
    lines = ["# Measured performance", "",
             f"Generated by `benchmarks/render_performance.py` from {source}; do not edit by hand. Ratios measured "
             "side by side in one run are what to compare; absolute times on the shared 2-core development machine "
             "are noisy.", "", "## Measuring on a GPU: the one device command", "", *device_command(), "",
             "## Training step on a GPU", ""]
    lines += steps_new(report, card) if has("steps") else steps_old(earlier["steps"])
    lines += ["", "## Input pipeline alone", ""]
    lines += pipeline_new(report, card) if has("pipeline") else pipeline_old(earlier["pipeline"])
    lines += ["", "## Every task's real job on CUDA", ""]
    lines += jobs_new(report, card) if has("jobs") else ["Not run on a GPU yet: the next device run of `benchmarks/gpu_suite.py` "
                                                         "measures it (issue 15)."]
    lines += ["", "## 3D detection", ""]
    lines += det3d_new(report, card) if has("det3d_steps") else det3d_old(earlier["det3d_steps"])
    lines += ["", "## Where the time goes (torch.profiler)", ""]
    lines += profile_new(report, card) if has("profile") else ["Not profiled on a GPU yet."]
    lines += ["", "## Small codes: packing, CUDA graphs, torch.compile", ""]
    lines += small_codes(report, earlier, card)
    if report and (report.get("skipped") or report.get("errors")):
        lines += ["", "## Not measured in this run", ""]
        lines += [f"- {k}: {v}" for k, v in report.get("skipped", {}).items()]
        lines += [f"- {k}: failed (traceback in the JSON)" for k in report.get("errors", {})]
    for item in earlier["cpu"]:
        lines += ["", f"## {item['title']}", "", item["text"]]
    return "\n".join(lines).rstrip() + "\n"


MEASURED = ("steps", "pipeline", "jobs", "resume", "det3d_steps", "profile", "graphs", "compile", "packing")


def merge(reports: list[dict]) -> dict:
    """One report from a run and its reruns on the same card: a later run's sections replace the earlier's."""
    merged = json.loads(json.dumps(reports[0]))
    for later in reports[1:]:
        if later.get("env", {}).get("card") != merged.get("env", {}).get("card"):
            raise ValueError(f"a rerun on {later.get('env', {}).get('card')} cannot complete a run on {merged['env'].get('card')}")
        for key in MEASURED:
            if key in later:
                merged[key] = later[key]
                merged.get("errors", {}).pop(key, None)
                merged.get("skipped", {}).pop(key, None)
        merged.setdefault("errors", {}).update(later.get("errors", {}))
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite_json", nargs="*", help="a gpu_suite.py run's JSON, then its reruns' (none: earlier numbers only)")
    parser.add_argument("--out", default=str(DOC))
    parser.add_argument("--allow-cpu", action="store_true", help="accept a --device cpu run (to test the renderer)")
    args = parser.parse_args(argv)
    earlier = yaml.safe_load(EARLIER.read_text())
    report, source = None, "`benchmarks/performance_earlier.yaml` (no GPU suite run yet)"
    if args.suite_json:
        try:
            report = merge([json.loads(Path(path).read_text()) for path in args.suite_json])
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if report.get("env", {}).get("cuda") is None and not args.allow_cpu:
            print(f"error: {args.suite_json[0]} is a CPU run ({report.get('env', {}).get('card')}); docs/performance.md takes "
                  "GPU runs only (--allow-cpu to render it anyway)", file=sys.stderr)
            return 2
        when = re.sub(r"\.\d+$", "", str(report.get("suite", {}).get("finished", "")))
        source = f"a `benchmarks/gpu_suite.py` run on {card_of(report)}{f' ({when})' if when else ''}"
    Path(args.out).write_text(render(report, earlier, source))
    return 0


if __name__ == "__main__":
    sys.exit(main())
