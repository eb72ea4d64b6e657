"""Resume bookkeeping: which runs of a sweep are done, failed or missing."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.store.record import RunKey


@dataclass
class ResumeStatus:
    """What a sweep still needs, keyed by (arch_id, setting, seed).

    ``failed`` maps a key to (failed attempts, last error); ``missing`` keeps
    the sweep's order; ``running`` marks missing keys that some process has
    started and not finished (possibly a crashed one); ``next_attempt`` is the
    attempt number to use for a key's next run (1 for a key never tried).
    """

    done: set[RunKey] = field(default_factory=set)
    failed: dict[RunKey, tuple[int, str]] = field(default_factory=dict)
    missing: list[RunKey] = field(default_factory=list)
    running: set[RunKey] = field(default_factory=set)
    max_attempts: int = 3
    last_attempt: dict[RunKey, int] = field(default_factory=dict)

    @property
    def runnable(self) -> list[RunKey]:
        """Missing keys, then failed keys with attempts left under ``max_attempts``."""
        retry = [key for key, (attempts, _) in self.failed.items() if attempts < self.max_attempts]
        return self.missing + retry

    @property
    def exhausted(self) -> dict[RunKey, tuple[int, str]]:
        """Failed keys that used up their attempts: a person should look at the errors."""
        return {k: v for k, v in self.failed.items() if v[0] >= self.max_attempts}

    def next_attempt(self, key: RunKey) -> int:
        """The attempt number a new run of ``key`` must use."""
        return self.last_attempt.get(key, 0) + 1

    def summary(self) -> str:
        """One line for logs: counts of done, failed, exhausted, missing and running keys."""
        return (
            f"{len(self.done)} done, {len(self.failed)} failed ({len(self.exhausted)} out of attempts), "
            f"{len(self.missing)} missing ({len(self.running)} marked running)"
        )
