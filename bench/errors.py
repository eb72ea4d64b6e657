"""Exceptions raised for bad user input.

Every error names what was wrong, the offending value and what would be
valid, so that a user never has to read a traceback to fix their input.
"""


class BenchError(ValueError):
    """Base class of the project's user-facing errors."""


class CodeError(BenchError):
    """An architecture code (list, string or pickle row) is invalid."""
