"""A budget of simulated cost, so that search algorithms are compared at equal cost.

Every query is charged one query and the training time it reports
(``Result.train_seconds``): what it would have cost to train that
architecture on that setting up to that point. ``reuse=True`` (the default)
charges training once per (architecture, setting, seed): asking again, or
asking an earlier point, is free in time, and asking a later point charges
only the difference, as if training had been resumed from where it stopped
(a freeze-thaw or multi-fidelity method's real cost). ``reuse=False``
charges every query in full, as NAS-Bench-101's counters do.

A query that would go past either limit raises :class:`BudgetExceeded`
before anything is charged or returned, so the totals never pass a limit.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from bench.errors import BenchError

ChargeKey = Hashable  # (arch_id, setting, seed or None)


class BudgetExceeded(RuntimeError):
    """A query would spend more than the budget has left; nothing was charged."""


class Budget:
    """Simulated training seconds and queries spent, with optional limits.

    Example:
        >>> budget = Budget(seconds=100.0, queries=3)
        >>> budget.charge([(("a", "cls_a", None), 60.0)])
        60.0
        >>> budget.charge([(("a", "cls_a", None), 80.0)])  # resumed: only 20 s more
        20.0
        >>> budget.seconds_spent, budget.queries_spent
        (80.0, 2)
        >>> budget.reset(); budget.queries_spent
        0
    """

    def __init__(self, seconds: float | None = None, queries: int | None = None, *, reuse: bool = True) -> None:
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0):
            raise BenchError(f"seconds={seconds!r} is invalid; valid is a number >= 0 or None (no limit)")
        if queries is not None and (isinstance(queries, bool) or not isinstance(queries, int) or queries < 0):
            raise BenchError(f"queries={queries!r} is invalid; valid is an integer >= 0 or None (no limit)")
        self.seconds_limit = None if seconds is None else float(seconds)
        self.queries_limit = queries
        self.reuse = reuse
        self.reset()

    def reset(self) -> None:
        """Forget everything spent (the limits stay)."""
        self.seconds_spent = 0.0
        self.queries_spent = 0
        self._paid: dict[ChargeKey, float] = {}

    @property
    def seconds_left(self) -> float | None:
        return None if self.seconds_limit is None else self.seconds_limit - self.seconds_spent

    @property
    def queries_left(self) -> int | None:
        return None if self.queries_limit is None else self.queries_limit - self.queries_spent

    def charge(self, items: Sequence[tuple[ChargeKey, float | None]]) -> float:
        """Charge one query per item and its training seconds, all or none; returns the seconds charged.

        ``None`` seconds (data without training time) cost no time, which a
        budget with a time limit refuses: its comparison would be meaningless.
        """
        if self.seconds_limit is not None and any(seconds is None for _, seconds in items):
            raise BenchError("this data has no training time (published values), so a budget in seconds cannot "
                             "count it; use Budget(queries=...) or query settings measured in this store")
        updates: dict[ChargeKey, float] = {}
        cost = 0.0
        for key, seconds in items:
            seconds = seconds or 0.0
            already = updates.get(key, self._paid.get(key, 0.0)) if self.reuse else 0.0
            cost += max(seconds - already, 0.0)
            updates[key] = max(seconds, already)
        queries = len(items)
        if self.queries_limit is not None and self.queries_spent + queries > self.queries_limit:
            raise BudgetExceeded(f"budget exhausted: {self.queries_spent} of {self.queries_limit} queries spent, "
                                 f"this call needs {queries} more")
        if self.seconds_limit is not None and self.seconds_spent + cost > self.seconds_limit:
            raise BudgetExceeded(f"budget exhausted: this query needs {cost:.1f} s of simulated training, "
                                 f"{self.seconds_left:.1f} s of {self.seconds_limit:.1f} s left")
        if self.reuse:
            self._paid.update(updates)
        self.seconds_spent += cost
        self.queries_spent += queries
        return cost

    def __repr__(self) -> str:
        limit = lambda value: "no limit" if value is None else value
        return (f"Budget(seconds {self.seconds_spent:.1f} of {limit(self.seconds_limit)}, "
                f"queries {self.queries_spent} of {limit(self.queries_limit)}, reuse={self.reuse})")
