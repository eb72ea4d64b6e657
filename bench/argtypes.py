"""argparse option types shared by every command-line tool (benchmark scripts, data tools).

A bad value is refused by argparse, naming the option and what is valid, before any work starts.
"""

from __future__ import annotations

import argparse


def _integer_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; valid is an integer >= {minimum}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is invalid; valid is an integer >= {minimum}")
    return value


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
    return _integer_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (seeds, as ``predictor.seed`` accepts them), for ``type=`` of an argparse option.

    Example:
        >>> nonnegative_int("0")
        0
        >>> nonnegative_int("-1")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: -1 is invalid; valid is an integer >= 0
    """
    return _integer_at_least(text, 0)


def _number_in(text: str, low: float, strict: bool, valid: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; valid is {valid}") from None
    if not (value > low if strict else value >= low) or value == float("inf"):  # NaN fails both comparisons
        raise argparse.ArgumentTypeError(f"{value} is invalid; valid is {valid}")
    return value


def positive(text: str) -> float:
    """A finite number > 0 (seconds, ...), for ``type=`` of an argparse option."""
    return _number_in(text, 0.0, True, "a finite number > 0")


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (a FLOPs weight lambda, a budget where 0 means none), for ``type=`` of an argparse option.

    Example:
        >>> nonnegative_float("0")
        0.0
        >>> nonnegative_float("nan")
        Traceback (most recent call last):
        ...
        argparse.ArgumentTypeError: nan is invalid; valid is a finite number >= 0
    """
    return _number_in(text, 0.0, False, "a finite number >= 0")
