"""Exceptions raised for bad user input.

Every error names what was wrong, the offending value and what would be
valid, so that a user never has to read a traceback to fix their input.
"""

import math
import numbers
import re


class BenchError(ValueError):
    """Base class of the project's user-facing errors."""


class CodeError(BenchError):
    """An architecture code (list, string or pickle row) is invalid."""


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (booleans are not), else raise naming it.

    Example:
        >>> check_int("epochs", 3, 1)
        3
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BenchError(f"{name}={value!r} is invalid; valid is an integer >= {minimum}")
    return value


class DataError(BenchError):
    """Bad content or layout in a user's data file; retrying cannot help.

    The message names the file and what is wrong with it, in one line. Raised
    in a DataLoader worker process, the error reaches the main process as
    ``type(err)("Caught <Type> in DataLoader worker process N.\\nOriginal
    Traceback ...")`` (torch's ``ExceptionWrapper.reraise``); the constructor
    recognises that form and keeps only the original one-line message, with
    ``worker`` saying where it was raised, so that ``str(err)`` is the one line
    again and ``isinstance`` still tells a scheduler that retrying cannot help.

    Example:
        >>> str(DataError("Caught DataError in DataLoader worker process 0.\\nOriginal Traceback "
        ...     "(most recent call last):\\n  File \\"x.py\\", line 1\\nbench.errors.DataError: a.png is empty\\n"))
        'a.png is empty'
    """

    def __init__(self, *args: object) -> None:
        self.worker: str | None = None
        if len(args) == 1 and isinstance(args[0], str):
            found = _unwrap_worker_message(args[0], f"{type(self).__module__}.{type(self).__qualname__}")
            if found is not None:
                self.worker, message = found
                args = (message,)
        super().__init__(*args)


_WORKER_HEADER = re.compile(r"^Caught \w+ (in .+?)\.\nOriginal Traceback", re.DOTALL)


def _unwrap_worker_message(text: str, qualified_name: str) -> tuple[str, str] | None:
    """(where, original message) of a message torch built around a worker's traceback, else None."""
    header = _WORKER_HEADER.match(text)
    if header is None:
        return None
    # The traceback ends with "<module>.<Type>: <message>"; builtins are printed without a module.
    for name in (qualified_name, qualified_name.rpartition(".")[2]):
        start = text.rfind(f"\n{name}: ")
        if start >= 0:
            return header.group(1), text[start + len(name) + 3 :].strip()
    return None


def one_line(error: BaseException) -> str:
    """The message of ``error`` for a person: torch's re-wrapping of a worker's error is undone.

    A top-level handler prints ``f"error: {one_line(err)}"``. DataError and its
    subclasses already unwrap themselves; this also recovers the original last
    line when torch could not rebuild the exception type and raised a
    ``RuntimeError`` with the whole traceback instead.

    Example:
        >>> one_line(RuntimeError("Caught KeyError in DataLoader worker process 1.\\nOriginal Traceback "
        ...     "(most recent call last):\\n  File \\"x.py\\"\\nKeyError: 'label'\\n"))
        "KeyError in DataLoader worker process 1: 'label'"
        >>> one_line(ValueError("plain"))
        'plain'
    """
    text = str(error)
    header = _WORKER_HEADER.match(text)
    if header is None:
        return text
    last = text.rstrip().rsplit("\n", 1)[-1]
    name, sep, message = last.partition(": ")
    if isinstance(error, DataError) or not sep:
        return last
    return f"{name.rpartition('.')[2]} {header.group(1)}: {message}"


def check_number(name: str, value: object, minimum: float | None = None, maximum: float | None = None) -> float:
    """Return ``value`` as a float if it is a finite number within [minimum, maximum], else raise naming it.

    NaN fails every comparison, so a check written ``value >= minimum`` alone lets
    it through; this one tests finiteness first.

    Example:
        >>> check_number("augment.hflip", 0.5, 0.0, 1.0)
        0.5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise BenchError(f"{name}={value!r} is invalid; valid is a finite number{_range_text(minimum, maximum)}")
    number = float(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise BenchError(f"{name}={value!r} is out of range; valid is a finite number{_range_text(minimum, maximum)}")
    return number


def check_seconds(name: str, value: object, none_means: str | None = None) -> float | None:
    """Return ``value`` as a float if it is a finite number of seconds > 0, else raise naming it.

    ``none_means`` (e.g. "no timeout") allows ``None`` and says what it stands for in the message.

    Example:
        >>> check_seconds("poll_s", 0.5), check_seconds("timeout_s", None, "no timeout")
        (0.5, None)
    """
    if value is None and none_means is not None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        valid = f"null ({none_means}) or seconds > 0" if none_means else "seconds > 0"
        raise BenchError(f"{name}={value!r} is invalid; valid is {valid}")
    return float(value)


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    return f" <= {maximum}" if maximum is not None else ""
