"""Run ``launch/train.py`` in this process and record when its optimizer steps finish and its peak CUDA memory.

    python benchmarks/gpu/probe.py PROBE.json task=... data=toy code=... store=...   # launch/train.py's arguments

The GPU suite runs every real job through this wrapper: ``runpy`` executes the users' script
itself (same Hydra composition, store commit and exit codes) in a process that can also see
what only that process can: torch's peak-memory counters are per process, and a step's end is
known only where it runs. A global optimizer step hook (torch's public API) notes the time of
the first step and of every ``GPU_SUITE_PROBE_EVERY``-th one, after a device sync, so a time is
when the GPU finished. (With fp16 a step GradScaler skips for an overflow calls no optimizer
step and is not counted; that happens a few times at the start of a job.)

``GPU_SUITE_KILL_AFTER_CHECKPOINT=K`` (with ``GPU_SUITE_WORK_ROOT``) makes the process SIGKILL
itself K steps after the first checkpoint file appears under the work root: a kill mid-way, at
a reproducible point, with no cleanup, exactly as a preempted worker dies; a parent polling the
log would race a fast job (on a CPU the toy jobs finish in a second).
"""

from __future__ import annotations

import time

STARTED = time.time()  # before torch is imported: the time to first step includes the imports, as a user's job pays them

import json
import os
import runpy
import signal
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "launch" / "train.py"


def main() -> int:
    out, args = Path(sys.argv[1]), sys.argv[2:]
    every = int(os.environ.get("GPU_SUITE_PROBE_EVERY", "10"))
    kill_after = int(os.environ.get("GPU_SUITE_KILL_AFTER_CHECKPOINT", "0"))
    work_root = Path(os.environ.get("GPU_SUITE_WORK_ROOT", "."))

    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    marks: list[tuple[int, float]] = []
    state = {"steps": 0, "checkpoint_seen_at": None}

    def on_step(optimizer, args, kwargs) -> None:
        state["steps"] += 1
        n = state["steps"]
        if n == 1 or n % every == 0:
            if torch.cuda.is_initialized():
                torch.cuda.synchronize()
            marks.append((n, time.time()))
        if kill_after:
            if state["checkpoint_seen_at"] is None and any(work_root.rglob("ckpt-*.pt")):
                state["checkpoint_seen_at"] = n
            if state["checkpoint_seen_at"] is not None and n >= state["checkpoint_seen_at"] + kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    register_optimizer_step_post_hook(on_step)
    sys.argv = [str(SCRIPT), *args]
    code = 0
    try:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        cuda = torch.cuda.is_initialized()
        out.write_text(json.dumps({
            "started": STARTED, "marks": marks, "steps": state["steps"], "exit": code,
            "peak_allocated": torch.cuda.max_memory_allocated() if cuda else None,
            "peak_reserved": torch.cuda.max_memory_reserved() if cuda else None,
        }))
    return code


if __name__ == "__main__":
    sys.exit(main())
