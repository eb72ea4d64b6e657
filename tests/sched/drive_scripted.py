"""A driver process for the driver-kill test: ``python -m tests.sched.drive_scripted STORE LEDGER N STEPS STEP_S``.

It is the real driver (``bench.sched.sweep.execute``) with its own embedded
Ray, run as a separate process so the test can SIGKILL it mid-sweep.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.sched.sweep import execute
from tests.sched.conftest import scripted_run


def main(argv: list[str]) -> int:
    store, ledger, n, steps, step_s = argv
    run = scripted_run(Path(store), {"steps": int(steps), "step_s": float(step_s), "ledger": ledger}, n=int(n))
    execute(run)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
