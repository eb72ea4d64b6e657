"""Argument types shared by the benchmark scripts: a bad value is refused by argparse, by name."""

from __future__ import annotations

import argparse


def count(text: str) -> int:
    """An integer >= 1 (repeats, codes, epochs, folds, processes ...), for ``type=`` of an argparse option.

    Example:
        >>> count("3")
        3
        >>> count("0")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: 0 is invalid; valid is an integer >= 1
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; valid is an integer >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is invalid; valid is an integer >= 1")
    return value


def positive(text: str) -> float:
    """A finite number > 0 (seconds, ...), for ``type=`` of an argparse option."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; valid is a finite number > 0") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is invalid; valid is a finite number > 0")
    return value
