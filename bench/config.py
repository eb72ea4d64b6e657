"""The one typed config boundary: a composed config (plain data) -> frozen dataclasses.

Every launcher resolves its Hydra config once (:func:`resolve`) and builds its
typed objects with :func:`parse`; nothing downstream reads the raw mapping.
Parsing is strict, and every error names the dotted key path:

- an unknown key is an error (a typo added with Hydra's ``+`` must not be ignored);
- a missing required key is an error;
- values are checked against the field's type: ``int``, ``float`` (finite: NaN and
  infinity are refused), ``bool``, ``str`` (a number where a string is expected is
  refused with the quoting hint: Hydra reads ``store=2025_06_01`` as the integer
  20250601), ``Literal[...]`` choices, ``tuple[...]``, ``Mapping[str, ...]``,
  ``X | None`` and nested dataclasses;
- a field's ``metadata={"run_only": True}`` marks a value that changes how a job runs but
  not what it computes (worker counts, log interval): :func:`config_hash` leaves it out.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Retry:
    ...     max_attempts: int = 3
    >>> parse(Retry, {"max_attempts": 5}, "retry")
    Retry(max_attempts=5)
    >>> parse(Retry, {"max_atempts": 5}, "retry")
    Traceback (most recent call last):
    ...
    bench.config.ConfigError: unknown key retry.max_atempts; valid keys of retry are ['max_attempts']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from bench.errors import BenchError

T = TypeVar("T")


class ConfigError(BenchError):
    """A config value is missing, unknown or invalid; the message names its key path."""


def _key(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def parse(cls: type[T], values: Mapping[str, Any] | None, where: str = "") -> T:
    """Build dataclass ``cls`` from ``values`` (recursively), refusing unknown keys and bad values."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'the config'} must be a mapping of keys to values, got {_shown(values)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for name in values:
        if name not in fields:
            raise ConfigError(
                f"unknown key {_key(where, str(name))}; valid keys of {where or 'the config'} are {sorted(fields)}"
            )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"key {_key(where, name)} is required and missing")
            continue
        kwargs[name] = coerce(values[name], hints[name], _key(where, name))
    try:
        return cls(**kwargs)
    except BenchError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or 'the config'} is invalid: {exc}") from None


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked (and converted: list -> tuple, int -> float) against type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return coerce(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}={_shown(value)} is invalid: " + "; ".join(errors))
    if origin is typing.Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            raise ConfigError(f"{where}={_shown(value)} is invalid; valid values are {list(args)}")
        return value
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else parse(hint, value, where)
    if origin is tuple:
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
            raise ConfigError(f"{where}={_shown(value)} must be a list")
        items = list(value)
        if len(args) == 2 and args[1] is Ellipsis or len(args) <= 1:
            item = args[0] if args else Any
            return tuple(coerce(v, item, f"{where}[{i}]") for i, v in enumerate(items))
        if len(items) != len(args):
            raise ConfigError(f"{where}={items!r} must have exactly {len(args)} values")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(items, args)))
    if origin in (Mapping, dict, typing.Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}={_shown(value)} must be a mapping")
        key_type, value_type = args if args else (str, Any)
        return {coerce(k, key_type, where): coerce(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}={_shown(value)} must be a number")
        if not math.isfinite(value):
            raise ConfigError(f"{where}={value!r} must be a finite number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}={_shown(value)} must be an integer")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}={_shown(value)} must be true or false")
        return value
    if hint is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ConfigError(
                f"{where}={value!r} was read as a number, not a string (Hydra reads 2025_06_01 as 20250601); "
                f"quote it on the command line: {where}='\"<value as typed>\"'"
            )
        if not isinstance(value, str):
            raise ConfigError(f"{where}={_shown(value)} must be a string")
        return value
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def to_data(obj: Any, *, without_run_only: bool = False) -> Any:
    """A dataclass (recursively) as plain JSON-able data: dicts, lists, numbers, strings, None.

    ``without_run_only`` leaves out the fields marked ``run_only`` (what :func:`config_hash` hashes).
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name), without_run_only=without_run_only)
                for f in dataclasses.fields(obj) if not (without_run_only and f.metadata.get("run_only"))}
    if isinstance(obj, Mapping):
        return {str(k): to_data(v, without_run_only=without_run_only) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v, without_run_only=without_run_only) for v in obj]
    return obj


def canonical_json(value: Any) -> str:
    """Key-sorted, compact JSON of plain data or a dataclass; values JSON cannot express become ``str``."""
    return json.dumps(to_data(value), sort_keys=True, separators=(",", ":"), default=str)


def config_hash(obj: Any) -> str:
    """16 hex digits of sha256 over ``obj`` without its run-only fields: equal hashes, same experiment.

    The one hash of a recipe: checkpoints, the store's run identity and exports all use it.

    Example:
        >>> from dataclasses import dataclass, field
        >>> @dataclass(frozen=True)
        ... class R:
        ...     lr: float
        ...     workers: int = field(default=4, metadata={"run_only": True})
        >>> config_hash(R(0.1, workers=2)) == config_hash(R(0.1, workers=8)) != config_hash(R(0.2))
        True
    """
    text = json.dumps(to_data(obj, without_run_only=True), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve(cfg: Any) -> dict[str, Any]:
    """A composed OmegaConf config as plain data, interpolations resolved; errors in one line.

    ``${oc.env:VAR}`` with ``VAR`` unset, a ``???`` value never given, or a broken
    interpolation raise :class:`ConfigError` naming the key (and the variable).
    """
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(cfg, DictConfig):
        return dict(cfg)
    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if type(err).__name__ == "MissingMandatoryValue":
            raise ConfigError(f"{key} is required: pass {key}=...") from None
        unset = re.search(r"Environment variable '([^']+)' not found", str(err))
        if unset:
            raise ConfigError(f"{key} uses the environment variable {unset.group(1)}, which is not set; "
                              f"set it or pass {key}=... directly") from None
        raise ConfigError(f"{key}: {message}") from None
    assert isinstance(plain, dict)
    return plain
