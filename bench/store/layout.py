"""File names of the store: the only place the on-disk layout is spelled out.

See docs/store.md for the picture. Commit files are Arrow IPC (one row: reading
or writing one costs ~0.1 ms, against ~2 ms for a one-row Parquet file, which
matters when a compaction folds 25,000 of them); everything compacted or
imported is Parquet. Every data file's name ends in the first
16 hex digits of the sha256 of its bytes, so a reader verifies a file against
its own name and a changed byte is caught (and the file quarantined).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

STORE_FILE = "STORE.json"
COMMITS = "commits"
IMPORTS = "imports"
TABLES = "tables"
SNAPSHOTS = "snapshots"
QUARANTINE = "quarantine"
LOGS = "logs"

_COMMIT = re.compile(
    r"^commits/(?P<setting>[a-z0-9_]+)/(?P<arch_id>[0-9a-f]{16})/"
    r"s(?P<seed>\d+)\.a(?P<attempt>\d+)\.(?:(?P<identity>[0-9a-f]{8})\.)?"
    r"(?P<status>succeeded|failed|running)\.(?P<sha>[0-9a-f]{16})\.arrow$"
)
LEGACY_IDENTITY = "legacy"
"""The identity of commits written before run identities existed (schema 1): never equal to a real tag."""
_IMPORT = re.compile(r"^imports/(?P<setting>[a-z0-9_]+)\.(?P<sha>[0-9a-f]{16})\.parquet$")
_SNAPSHOT = re.compile(r"^snapshots/(?P<version>\d{8})\.(?P<sha>[0-9a-f]{16})\.json$")

KEYED_TABLES = ("runs", "metrics", "curves", "artifacts")
"""Compacted tables whose rows carry the run key (arch_id, setting, seed, attempt); partitioned by setting,
their ``setting`` lives in the partition path only."""

# Of two commits for one attempt, the one that says more wins.
STATUS_RANK = {"succeeded": 2, "failed": 1, "running": 0}


def sha16(data: bytes) -> str:
    """The checksum in file names: the first 16 hex digits of sha256."""
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True, order=True)
class CommitName:
    """A parsed commit file name: which attempt it holds, the run identity's tag, its status and checksum."""

    setting: str
    arch_id: str
    seed: int
    attempt: int
    status: str
    sha: str
    identity: str = LEGACY_IDENTITY

    @property
    def path(self) -> str:
        return commit_path(self.setting, self.arch_id, self.seed, self.attempt, self.identity, self.status, self.sha)

    @property
    def attempt_key(self) -> tuple[str, str, int, int]:
        return (self.arch_id, self.setting, self.seed, self.attempt)

    @classmethod
    def parse(cls, path: str) -> CommitName | None:
        match = _COMMIT.match(path)
        if match is None:
            return None
        g = match.groupdict()
        return cls(g["setting"], g["arch_id"], int(g["seed"]), int(g["attempt"]), g["status"], g["sha"],
                   g["identity"] or LEGACY_IDENTITY)


def commit_dir(setting: str, arch_id: str) -> str:
    return f"{COMMITS}/{setting}/{arch_id}"


def commit_path(setting: str, arch_id: str, seed: int, attempt: int, identity: str, status: str, sha: str) -> str:
    """``commits/<setting>/<arch_id>/s<seed>.a<attempt>.<identity tag>.<status>.<sha16>.arrow``."""
    tag = "" if identity == LEGACY_IDENTITY else f"{identity}."
    return f"{commit_dir(setting, arch_id)}/s{seed}.a{attempt}.{tag}{status}.{sha}.arrow"


def import_path(setting: str, sha: str) -> str:
    return f"{IMPORTS}/{setting}.{sha}.parquet"


def parse_import(path: str) -> tuple[str, str] | None:
    match = _IMPORT.match(path)
    return None if match is None else (match["setting"], match["sha"])


def table_part(table: str, setting: str | None, sha: str) -> str:
    partition = "" if setting is None else f"/setting={setting}"
    return f"{TABLES}/{table}{partition}/part-{sha}.parquet"


def snapshot_path(version: int, sha: str) -> str:
    return f"{SNAPSHOTS}/{version:08d}.{sha}.json"


def snapshot_claim_path(version: int) -> str:
    """The file whose create-if-absent makes one compaction the only publisher of ``version``."""
    return f"{SNAPSHOTS}/{version:08d}.claim"


def parse_snapshot(path: str) -> tuple[int, str] | None:
    match = _SNAPSHOT.match(path)
    return None if match is None else (int(match["version"]), match["sha"])


def log_path(setting: str, arch_id: str, seed: int, attempt: int) -> str:
    return f"{LOGS}/{setting}/{arch_id}/s{seed}.a{attempt}.log"


def best_commits(names: list[CommitName]) -> dict[tuple[str, str, int, int], CommitName]:
    """One commit per attempt: the highest status rank, ties broken by checksum (deterministic)."""
    best: dict[tuple[str, str, int, int], CommitName] = {}
    for name in names:
        current = best.get(name.attempt_key)
        if current is None or (STATUS_RANK[name.status], current.sha) > (STATUS_RANK[current.status], name.sha):
            best[name.attempt_key] = name
    return best
