"""The suite's printed summary: one table per section, headed by the card, driver, CUDA and torch versions."""

from __future__ import annotations


def _num(value, fmt: str = ",.0f") -> str:
    return "-" if value is None else format(value, fmt)


def _gib(value) -> str:
    return "-" if not value else f"{value / 2**30:.1f}G"


def _code(section: dict) -> str:
    from benchmarks.gpu.steps import CODES

    return "p10" if section.get("code") in (None, CODES["p10"]) else "small code"


def header(env: dict) -> str:
    return (f"card: {env.get('card')} | driver {env.get('driver') or '-'} | CUDA {env.get('cuda') or '-'} | "
            f"cuDNN {env.get('cudnn') or '-'} | torch {env.get('torch')} | default precision {env.get('default_precision')}")


def summary(report: dict) -> list[str]:
    lines = ["=" * 110, header(report.get("env", {}))]
    st = report.get("steps")
    if st:
        lines += ["", f"training step, cls {st['size']}x{st['size']}, batch {st['batch']} (img/s; side by side, one process)",
                  f"{'code':8}{'GFLOPs':>8}{'default':>10}{'fp32':>10}{'fp16':>10}{'def/fp32':>10}{'fp16/fp32':>10}"
                  f"{'peak':>8}  default is"]
        for name, row in st["rows"].items():
            d, f, h = row["default"], row["fp32_eager"], row.get("fp16", {})
            lines.append(f"{name:8}{row['gflops_128']:>8.2f}{_num(d['images_per_s']):>10}{_num(f['images_per_s']):>10}"
                         f"{_num(h.get('images_per_s')):>10}{row['speedup_default']:>9.2f}x{_num(row.get('speedup_fp16'), '.2f'):>9}x"
                         f"{_gib(d['peak_bytes']):>8}  {d['precision']}{' + channels_last' if d['channels_last'] else ''}")
    pl = report.get("pipeline")
    if pl:
        lines += ["", f"input pipeline alone ({pl['jpeg']} JPEGs, batch {pl['batch']}, {pl['workers']} workers): "
                  f"device decode + augment {_num(pl['device_decode_augment'])} img/s, decode only "
                  f"{_num(pl['decode_only'])}, CPU decode + augment {_num(pl['cpu_decode_augment'])}"]
    jb = report.get("jobs")
    if jb:
        resume = report.get("resume", {})
        lines += ["", f"real jobs (launch/train.py, code {jb['code']}, toy x{jb['toy_scale']})",
                  f"{'job':9}{'batch':>6}{'rate/s':>10}{'e2e/s':>10}  {'unit':13}{'1st step':>9}{'peak':>7}{'prec':>6}"
                  f"{'loss':>16}{'fell':>6}{'resume':>8}"]
        for name, r in jb["runs"].items():
            rate = r.get(f"{r['unit'].replace(' ', '_')}_per_s")
            loss = f"{_num(r.get('loss_first'), '.3f')}->{_num(r.get('loss_last'), '.3f')}"
            res = resume.get(name, {})
            lines.append(f"{name:9}{r['batch']:>6}{_num(rate, ',.1f'):>10}{_num(r.get('end_to_end_per_s'), ',.1f'):>10}  "
                         f"{r['unit']:13}{_num(r.get('time_to_first_step_s'), '.1f'):>8}s{_gib(r.get('peak_allocated_bytes')):>7}"
                         f"{r.get('info', {}).get('precision', '-'):>6}{loss:>16}{r.get('loss_fell')!s:>6}"
                         f"{('ok' if res.get('passed') else 'FAIL') if res else '-':>8}")
    d3 = report.get("det3d_steps")
    if d3:
        parts = [f"{m} {_num(d3[m]['ms_per_step'], '.1f')} ms" for m in ("fp32", "bf16", "fp16") if m in d3]
        lines += ["", f"det3d step, grid {d3['grid']}, batch {d3['batch']} (recipe: {d3['recipe_precision']}): " + ", ".join(parts)]
    pr = report.get("profile", {}).get("median_default")
    if pr:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in sorted(pr["categories_share"].items(), key=lambda kv: -kv[1]) if v >= 0.01)
        lines += ["", f"profile, median default step: {pr['wall_ms_per_step']:.1f} ms wall, {pr['busy_ms_per_step']:.1f} ms busy "
                  f"({pr['busy_fraction']:.0%}), kernels/step {_num(pr.get('kernels_per_step'))}; {pr['time_base']}: {shares}"]
    gr = report.get("graphs")
    if gr and "graph_images_per_s" in gr:
        be = gr.get("break_even", {})
        lines += [f"{_code(gr)} CUDA graph: eager {_num(gr['eager_images_per_s'])} -> graph {_num(gr['graph_images_per_s'])} img/s, "
                  f"start-up {gr['graph_startup_s']:.1f} s, wins over a full cls_a job: {be.get('wins_over_full_job')}"]
    pk = report.get("packing")
    if pk:
        lines += [f"{_code(pk)} packing: {pk['jobs']} job(s) {_num(pk['aggregate_images_per_s'])} img/s = {pk['gain']:.2f}x one job"]
    cp = report.get("compile")
    if cp:
        if "compiled_images_per_s" in cp:
            be = cp.get("break_even", {})
            lines += [f"{_code(cp)} torch.compile ({cp['backend']}): {_num(cp['compiled_images_per_s'])} img/s after "
                      f"{cp['compile_startup_s']:.0f} s start-up, wins over a full cls_a job: {be.get('wins_over_full_job')}"]
        else:
            lines += [f"{_code(cp)} torch.compile: {cp.get('skipped') or 'failed'}"]
    for name, reason in report.get("skipped", {}).items():
        lines.append(f"skipped {name}: {reason}")
    for name in report.get("errors", {}):
        lines.append(f"FAILED section {name} (traceback in the JSON)")
    ck = report.get("checks", {})
    lines += ["", f"all checks passed: {ck.get('all_passed')}; wall {report['suite'].get('wall_s', 0):.0f} s", "=" * 110]
    return lines
