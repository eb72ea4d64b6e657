"""Exceptions raised for bad user input.

Every error names what was wrong, the offending value and what would be
valid, so that a user never has to read a traceback to fix their input.
"""


class BenchError(ValueError):
    """Base class of the project's user-facing errors."""


class CodeError(BenchError):
    """An architecture code (list, string or pickle row) is invalid."""


class DataError(BenchError):
    """bad content in a user's data file; retrying cannot help"""


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (booleans are not), else raise naming it.

    Example:
        >>> check_int("epochs", 3, 1)
        3
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BenchError(f"{name}={value!r} is invalid; valid is an integer >= {minimum}")
    return value
