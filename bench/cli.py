"""The exit-code contract every launcher keeps, around Hydra.

    0    success
    2    bad input or a bad request: nothing was committed; one line names the value and what is valid
         (Hydra's own composition errors included: an unknown task=, a malformed override)
    1    a job failed for another reason (it is recorded in the store with its error and log)
    130  interrupted (Ctrl-C): everything finished is kept; rerunning the command resumes

Hydra prints its composition errors over several lines and exits 1, before the launcher's
code runs. :func:`hydra_main` therefore composes the command line once itself first (with
Hydra's public compose API, every combination of a ``-m`` sweep) and turns a failure into
the one-line, exit-2 answer; then it hands over to ``hydra.main`` unchanged.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.errors import BenchError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
BAD_INPUT, FAILED, INTERRUPTED = 2, 1, 130


def fail(message: str, code: int = BAD_INPUT) -> None:
    """Print ``error: <message>`` (one line) on stderr and exit with ``code``."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def _hydra_message(err: BaseException) -> str:
    """Hydra's multi-line composition error as one line, with the valid choices kept."""
    lines = [line.strip() for line in str(err).splitlines()]
    head = next((line for line in lines if line), type(err).__name__)
    head = re.sub(r"^In '[a-z_]+': ", "", head)
    if "Available options" in str(err):
        start = next(i for i, line in enumerate(lines) if line.startswith("Available options"))
        options = []
        for line in lines[start + 1:]:
            if not line or line.endswith(":"):
                break
            options.append(line)
        return f"{head}; valid choices are {', '.join(options)}"
    return head


def _overrides(argv: list[str]) -> list[list[str]] | None:
    """Every combination of the command line's overrides (one for a plain run); None if Hydra flags
    we do not pre-check are present (``--cfg``, ``--help``, ...)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in argv if a not in ("-m", "--multirun")]
    if any(a.startswith("-") for a in args):
        return None
    parsed = OverridesParser.create().parse_overrides(args)
    choices = []
    for override in parsed:
        if override.is_sweep_override():
            values = [f"{override.get_key_element()}={v}" for v in override.sweep_string_iterator()]
        else:
            values = [override.input_line]
        choices.append(values)
    return [list(combo) for combo in itertools.product(*choices)] if choices else [[]]


RecipeTypeOf = Callable[[str], Any]
"""setting name -> its recipe dataclass (the launcher's task registry knows; the core does not import tasks)."""


def precheck(config_name: str, argv: list[str], recipe_type_of: RecipeTypeOf | None = None) -> None:
    """Compose ``config_name`` with the command line's overrides; a failure exits 2 with one line."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        combos = _overrides(argv)
    except HydraException as err:
        fail(f"cannot parse the command line: {_hydra_message(err)}")
    if combos is None:
        return
    for overrides in combos:
        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                compose(config_name, overrides=overrides)
        except (HydraException, OmegaConfBaseException) as err:
            fail(_unknown_key(config_name, overrides, str(err), recipe_type_of) or _hydra_message(err))


def _unknown_key(config_name: str, overrides: list[str], message: str,
                 recipe_type_of: RecipeTypeOf | None) -> str | None:
    """Hydra's "Could not override 'a.b'" as our own unknown-key message, with the valid keys of ``a``."""
    from hydra import compose, initialize_config_dir
    from omegaconf import DictConfig, OmegaConf

    found = re.search(r"Could not override '([^']+)'", message)
    if not found:
        return None
    key = found.group(1)
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    others = [o for o in overrides if not o.lstrip("+~").startswith(f"{key}=")]
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            node = compose(config_name, overrides=others)
        composed, node = node, OmegaConf.select(node, parent) if parent else node
    except Exception:  # noqa: BLE001 - the plain message is still right
        return None
    if parent and not isinstance(node, DictConfig):  # plan.gpus=8 where plan is a flag: point at plan_gpus
        above, _, name = parent.rpartition(".")
        siblings = OmegaConf.select(composed, above) if above else composed
        similar = [f"{above + '.' if above else ''}{k}" for k in siblings if str(k).startswith(f"{name}_")]
        hint = f"; did you mean {' or '.join(f'{k}=...' for k in similar)}?" if similar else ""
        return f"unknown key {key}: {parent} is a single value ({node!r}), not a group of keys{hint}"
    valid = sorted(node.keys()) if isinstance(node, DictConfig) else []
    schema = _recipe_fields(key, others, config_name, recipe_type_of)
    if schema is not None and key.rsplit(".", 1)[-1] in schema:
        return (f"recipe key {key} is not in this setting's YAML; add it with +{key}=... "
                f"(valid keys of {parent} are {schema})")
    return f"unknown key {key}; valid keys of {parent or 'the config'} are {schema or valid}"


def _recipe_fields(key: str, overrides: list[str], config_name: str, recipe_type_of: RecipeTypeOf | None) -> list | None:
    """The recipe dataclass's field names at ``key``'s parent (``task.optim.x`` -> OptimConfig's fields)."""
    import dataclasses
    import typing

    from hydra import compose, initialize_config_dir

    parts = key.split(".")
    if recipe_type_of is None or parts[0] != "task" or len(parts) < 2:
        return None
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            setting = compose(config_name, overrides=overrides).task.setting
        cls = recipe_type_of(str(setting))
        for part in parts[1:-1]:
            cls = typing.get_type_hints(cls)[part]
        return sorted(f.name for f in dataclasses.fields(cls))
    except Exception:  # noqa: BLE001 - no schema: the YAML's keys are the answer
        return None


def hydra_main(config_name: str, body: Callable[[Any], int | None],
               recipe_type_of: RecipeTypeOf | None = None) -> Callable[[], None]:
    """The launcher's ``main``: pre-check, then ``hydra.main`` calling ``body(cfg)`` under the contract."""
    import hydra

    def task(cfg: Any) -> None:
        try:
            code = body(cfg)
        except BenchError as err:
            fail(str(err))
        except KeyboardInterrupt:
            fail("interrupted: everything finished is in the store; rerun the same command to resume", INTERRUPTED)
        if code:
            raise SystemExit(code)

    wrapped = hydra.main(config_path=str(CONF_DIR), config_name=config_name, version_base="1.3")(task)

    def main() -> None:
        precheck(config_name, sys.argv[1:], recipe_type_of)
        wrapped()

    return main
