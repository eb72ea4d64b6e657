"""A tiny name -> object registry (after fvcore's), used for heads, tasks and datasets."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from bench.errors import BenchError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects. A duplicate name is an error; so is an unknown one.

    Example:
        >>> HEADS = Registry("head")
        >>> @HEADS.register("cls")
        ... def build_cls(): return "a head"
        >>> HEADS.get("cls")()
        'a head'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise BenchError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise BenchError(f"unknown {self.kind} {name!r}; registered {self.kind}s are {sorted(self._entries)}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
