"""The checks every launcher makes against the store before anything trains.

A store's benchmark numbers must never silently mix with others: a job whose run identity
(recipe, dataset, variant) differs from runs that already succeeded in the same group is
refused, saying what differs; generated (toy) data is refused in a store that holds real or
published results unless the user asks for it (it is kept apart from them either way).
"""

from __future__ import annotations

from bench.config import canonical_json
from bench.errors import BenchError
from bench.experiment import Experiment
from bench.store import ResumeStatus, Store


def refuse_mixing(store: Store, experiment: Experiment, status: ResumeStatus, allow_synthetic: bool) -> None:
    """The store checks every launcher makes before training (see the module docstring)."""
    if experiment.data.synthetic and not allow_synthetic:
        kinds = store.data_kinds() & {"real", "imported"}
        if kinds:
            raise BenchError(
                f"store {store.uri} holds {' and '.join(sorted(kinds))} results; refusing to add results of "
                "GENERATED data (data=toy) to it. Use a separate store for smoke runs, or pass allow_synthetic=true "
                "(synthetic runs are kept apart from the benchmark either way)"
            )
    if status.conflicts:
        key, others = next(iter(status.conflicts.items()))
        what = others[0].differences(canonical_json(experiment.recipe), experiment.identity)
        raise BenchError(
            f"{len(status.conflicts)} job(s) of {experiment.setting} already succeeded in store {store.uri} under "
            f"another recipe or dataset (e.g. {key[0]} seed {key[2]}: {what}); refusing to mix the two. Pass "
            "variant=<name> to record this one as a separate variant, or use another store"
        )
