"""A full integrity check: every file's bytes against the checksum in its name."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.store import layout
from bench.store.fs import walk_files
from bench.store.store import Store


@dataclass
class VerifyReport:
    """Files checked, files quarantined now, and files already in quarantine."""

    checked: int = 0
    quarantined: list[str] = field(default_factory=list)
    in_quarantine: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.quarantined

    def describe(self) -> str:
        text = f"checked {self.checked} files; {len(self.quarantined)} damaged (quarantined now)"
        for path in self.quarantined:
            text += f"\n  quarantined {path}"
        if self.in_quarantine:
            text += f"\n{len(self.in_quarantine)} files were already in quarantine/ (see their .reason.json)"
        return text


def _sha_of(path: str) -> str | None:
    name = layout.CommitName.parse(path)
    if name is not None:
        return name.sha
    for parse in (layout.parse_import, layout.parse_snapshot):
        parsed = parse(path)
        if parsed is not None:
            return parsed[1]
    if path.startswith(f"{layout.TABLES}/") and "/part-" in path:
        return path.rsplit("part-", 1)[1][:16]
    return None


def verify(store: Store) -> VerifyReport:
    """Read every data file, quarantine those whose bytes or Parquet structure are damaged."""
    report = VerifyReport()
    before = len(store.quarantined)
    for top in (layout.COMMITS, layout.IMPORTS, layout.TABLES, layout.SNAPSHOTS):
        for path in walk_files(store.fs, top):
            sha = _sha_of(path)
            if sha is None:
                continue
            report.checked += 1
            if path.endswith((".parquet", ".arrow")):
                store.read_table(path, sha)
            else:
                store.read_verified(path, sha)
    report.quarantined = store.quarantined[before:]
    report.in_quarantine = [p for p in walk_files(store.fs, layout.QUARANTINE) if not p.endswith(".reason.json")]
    return report
