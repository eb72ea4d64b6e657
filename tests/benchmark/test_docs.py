"""Every Python block of docs/query.md runs against a real store, so the documentation cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

from bench.benchmark import Result
from tests.benchmark.helpers import build_store

DOC = Path(__file__).resolve().parents[2] / "docs" / "query.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_every_example_of_docs_query_md_runs(tmp_path, monkeypatch, capsys):
    build_store(tmp_path)  # ./store, as the examples open it
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) == 3, "docs/query.md should hold the overview, random search and regularised evolution"
    spaces = []
    for number, block in enumerate(blocks, start=1):
        namespace: dict = {"__name__": f"docs_query_block_{number}"}
        exec(compile(block, f"docs/query.md python block {number}", "exec"), namespace)
        spaces.append(namespace)
    out = capsys.readouterr().out
    overview, random_search, evolution = spaces
    assert overview["early"].step == overview["info"].steps[0] and overview["one"].n_seeds == 1
    for found, budget_queries in ((random_search, 20), (evolution, 20)):
        assert isinstance(found["best"], Result) and found["bench"].budget.queries_spent == budget_queries
    assert len(evolution["history"]) == 20 and len(evolution["population"]) == evolution["P"]
    assert "random search: top-1" in out and "regularised evolution: top-1" in out
