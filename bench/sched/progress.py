"""Live progress and the closing summary of a sweep, as plain lines (they read well in logs and tmux).

Counts only: the display keeps no per-job history, so it costs the same at
job 10 and job 25,000. Failures are kept as (label, error) only for the jobs
that end failed, which the summary lists.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


def format_duration(seconds: float | None) -> str:
    """``3725`` -> ``'1h02m'``; None -> ``'?'``."""
    if seconds is None:
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds % 60:02d}s"


@dataclass
class Progress:
    """Counters of one sweep; ``line()`` is the live display, ``summary()`` the final report."""

    setting: str
    total: int  # jobs in the selection
    already_done: int  # done before this run started
    to_run: int  # runnable at the start
    out: TextIO = sys.stdout
    interval_s: float = 10.0
    succeeded: int = 0
    failed: int = 0  # ended failed (budget spent or not retryable)
    retried: int = 0  # attempts re-queued after a failure
    attempts: int = 0  # attempts finished (either way)
    running: int = 0
    waiting: int = 0  # blocked on a dependency
    gpu_seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _last_print: float = 0.0

    def finished_attempt(self, wall_seconds: float, num_gpus: float) -> None:
        self.attempts += 1
        self.gpu_seconds += wall_seconds * num_gpus

    def eta_seconds(self) -> float | None:
        """Remaining jobs at the completion rate seen so far in this run."""
        finished = self.succeeded + self.failed
        remaining = self.to_run - finished
        elapsed = time.monotonic() - self.started
        if remaining <= 0:
            return 0.0
        if finished == 0 or elapsed <= 0:
            return None
        return remaining * elapsed / finished

    def line(self) -> str:
        done = self.already_done + self.succeeded
        return (
            f"[{self.setting}] done {done}/{self.total} (+{self.succeeded} now) | running {self.running}"
            f" | queued {max(self.to_run - self.succeeded - self.failed - self.running - self.waiting, 0)}"
            + (f" | waiting {self.waiting}" if self.waiting else "")
            + f" | failed {self.failed} | retried {self.retried}"
            f" | ETA {format_duration(self.eta_seconds())} | GPU-h {self.gpu_seconds / 3600:.2f}"
            f" | elapsed {format_duration(time.monotonic() - self.started)}"
        )

    def tick(self, force: bool = False) -> None:
        """Print the live line at most every ``interval_s`` seconds (always when forced)."""
        now = time.monotonic()
        if force or now - self._last_print >= self.interval_s:
            self._last_print = now
            print(self.line(), file=self.out, flush=True)

    def summary(self, max_failures: int = 20) -> str:
        elapsed = time.monotonic() - self.started
        lines = [
            (
                f"[{self.setting}] sweep finished in {format_duration(elapsed)}: "
                f"{self.already_done + self.succeeded}/{self.total} done ({self.already_done} before this run, "
                f"{self.succeeded} now), {self.failed} failed, {self.retried} retried, {self.attempts} attempts, "
                f"{self.gpu_seconds / 3600:.2f} GPU-hours"
            ),
        ]
        for label, error in self.failures[:max_failures]:
            first = error.strip().splitlines()[0] if error.strip() else ""
            last = error.strip().splitlines()[-1] if error.strip() else ""
            lines.append(f"  FAILED {label}: {first}" + (f" ... {last}" if last != first else ""))
        if len(self.failures) > max_failures:
            lines.append(f"  ... and {len(self.failures) - max_failures} more (sweep=retry_failed lists them all)")
        return "\n".join(lines)
