"""Resume bookkeeping: which jobs of a sweep are done, failed or missing, for one run identity.

A job is done only when a succeeded run with the SAME identity exists (same
recipe hash, dataset and variant: :class:`bench.job.RunIdentity`). Another
identity's success for the same (architecture, setting, seed) is a conflict
when it is in the same group (same variant, same data kind): the caller refuses
to mix the two. Attempt numbers are shared by every identity and never reused.

The scan reads file names and the compacted runs' key columns only; metrics,
curves and configs are never loaded, and error texts only for failed keys, so
a driver's memory grows with the sweep's size, not with what runs hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.errors import BenchError, check_int
from bench.job import RunIdentity
from bench.settings import get_setting
from bench.store import layout
from bench.store.fs import iter_files
from bench.store.layout import CommitName
from bench.store.record import RunKey, StoredIdentity
from bench.store.store import Store

FEW_ARCHS = 64


@dataclass
class ResumeStatus:
    """What a sweep still needs, keyed by (arch_id, setting, seed), for one run identity.

    ``failed`` maps a key to (failed attempts of this identity, last error); ``missing`` keeps
    the sweep's order; ``running`` marks missing keys some process started and did not finish;
    ``conflicts`` maps a key to the other identities (same variant and data kind) that already
    succeeded on it; ``next_attempt`` is the attempt number a new run of a key must use.
    """

    max_attempts: int = 3
    done: set[RunKey] = field(default_factory=set)
    failed: dict[RunKey, tuple[int, str]] = field(default_factory=dict)
    missing: list[RunKey] = field(default_factory=list)
    running: set[RunKey] = field(default_factory=set)
    conflicts: dict[RunKey, list[StoredIdentity]] = field(default_factory=dict)
    last_attempt: dict[RunKey, int] = field(default_factory=dict)

    @property
    def runnable(self) -> list[RunKey]:
        """Missing keys, then failed keys with attempts left under ``max_attempts`` (conflicts excluded)."""
        retry = [key for key, (attempts, _) in self.failed.items() if attempts < self.max_attempts]
        return [k for k in self.missing + retry if k not in self.conflicts]

    @property
    def exhausted(self) -> dict[RunKey, tuple[int, str]]:
        """Failed keys that used up their attempts: a person should look at the errors."""
        return {k: v for k, v in self.failed.items() if v[0] >= self.max_attempts}

    def next_attempt(self, key: RunKey) -> int:
        """The attempt number a new run of ``key`` must use: one past the highest of any identity."""
        return self.last_attempt.get(key, 0) + 1

    def summary(self) -> str:
        """One line for logs: counts of done, failed, exhausted, missing and running keys."""
        return (
            f"{len(self.done)} done, {len(self.failed)} failed ({len(self.exhausted)} out of attempts), "
            f"{len(self.missing)} missing ({len(self.running)} marked running), {len(self.conflicts)} conflicting"
        )


@dataclass
class _Seen:
    last_attempt: int = 0
    mine: dict[int, int] = field(default_factory=dict)  # attempt -> best status rank, this identity
    others: dict[str, tuple[int, int]] = field(default_factory=dict)  # succeeded tag -> (seed, attempt)


def _check_keys(keys: Sequence[RunKey]) -> list[RunKey]:
    out = []
    for key in keys:
        key = tuple(key) if not isinstance(key, tuple) else key
        if not (len(key) == 3 and isinstance(key[0], str) and isinstance(key[1], str) and isinstance(key[2], int)):
            raise BenchError(f"sweep key {key!r} is invalid; valid is a tuple (arch_id: str, setting: str, seed: int)")
        out.append(key)
    return out


def _same_group_identities(store: Store, seen: dict[RunKey, _Seen],
                           identity: RunIdentity | None) -> dict[str, StoredIdentity]:
    """The other identities that succeeded somewhere, in ``identity``'s group: one run read per tag."""
    if identity is None:
        return {}
    examples: dict[str, tuple[str, str, int, int]] = {}
    for key, entry in seen.items():
        for other, (seed, attempt) in entry.others.items():
            examples.setdefault(other, (key[0], key[1], seed, attempt))
    out = {}
    for other, (arch_id, setting, seed, attempt) in examples.items():
        stored = store.stored_identity(arch_id, setting, seed, attempt, other)
        if stored is not None and (stored.variant, stored.data_kind) == (identity.variant, identity.data_kind):
            out[other] = stored
    return out


def resume_status(store: Store, keys: Sequence[RunKey], identity: RunIdentity | None = None,
                  max_attempts: int = 3) -> ResumeStatus:
    """Classify every key of a sweep for runs of ``identity`` (None: any identity counts as the same)."""
    check_int("max_attempts", max_attempts, 1)
    keys = _check_keys(keys)
    tag = identity.tag if identity is not None else None
    seen: dict[RunKey, _Seen] = {key: _Seen() for key in keys}
    snapshot = store.snapshot()

    def note(key: RunKey, attempt: int, status: str, name_tag: str) -> None:
        entry = seen.get(key)
        if entry is None:
            return
        entry.last_attempt = max(entry.last_attempt, attempt)
        rank = layout.STATUS_RANK[status]
        if tag is None or name_tag == tag:
            entry.mine[attempt] = max(rank, entry.mine.get(attempt, -1))
        elif status == "succeeded":
            entry.others.setdefault(name_tag, (key[2], attempt))

    for setting in sorted({k[1] for k in keys}):
        get_setting(setting)
        arch_ids = {k[0] for k in keys if k[1] == setting}
        # A few keys (a driver checking one lost job): list their directories, not the whole setting.
        roots = [layout.commit_dir(setting, a) for a in arch_ids] if len(arch_ids) <= FEW_ARCHS else [
            f"{layout.COMMITS}/{setting}"]
        for path in (p for root in roots for p in iter_files(store.fs, root)):
            name = CommitName.parse(path)
            if name is not None:
                note((name.arch_id, setting, name.seed), name.attempt, name.status, name.identity)
        for batch in store.compacted_runs(snapshot, setting, ["arch_id", "seed", "attempt", "status", "identity"]):
            for arch_id, seed, attempt, status, name_tag in zip(*(c.to_pylist() for c in batch.columns)):
                note((arch_id, setting, seed), attempt, status, name_tag or layout.LEGACY_IDENTITY)

    status = ResumeStatus(max_attempts=max_attempts)
    same_group = _same_group_identities(store, seen, identity)
    failed_last: dict[RunKey, int] = {}
    for key in keys:
        entry = seen[key]
        if entry.last_attempt:
            status.last_attempt[key] = entry.last_attempt
        ranks = entry.mine
        if layout.STATUS_RANK["succeeded"] in ranks.values():
            status.done.add(key)
            continue
        clashing = [same_group[t] for t in entry.others if t in same_group]
        if clashing:
            status.conflicts[key] = clashing
        failures = [a for a, r in ranks.items() if r == layout.STATUS_RANK["failed"]]
        if failures:
            status.failed[key] = (len(failures), "")
            failed_last[key] = max(failures)
        else:
            status.missing.append(key)
            if ranks:
                status.running.add(key)
    for key, error in store.error_texts(snapshot, failed_last).items():
        status.failed[key] = (status.failed[key][0], error)
    return status
