"""A tiny name -> object registry (after fvcore's), used for settings, task types, heads and test jobs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from bench.errors import BenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects, in registration order. A duplicate name is an error; so is an unknown one.

    Example:
        >>> HEADS = Registry("head")
        >>> @HEADS.register("cls")
        ... def build_cls(): return "a head"
        >>> HEADS.get("cls")()
        'a head'
        >>> HEADS.get("sge")
        Traceback (most recent call last):
        ...
        bench.errors.BenchError: unknown head 'sge'; registered heads are ['cls']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator (or call ``register(name)(obj)``) adding ``obj`` under ``name``."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise BenchError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return add

    @contextlib.contextmanager
    def registered(self, name: str, obj: T) -> Iterator[T]:
        """Register ``obj`` for the duration of a ``with`` block (plugins tried out, tests)."""
        self.register(name)(obj)
        try:
            yield obj
        finally:
            del self._entries[name]

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise BenchError(f"unknown {self.kind} {name!r}; registered {self.kind}s are {self.names()}") from None

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def values(self) -> list[T]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
