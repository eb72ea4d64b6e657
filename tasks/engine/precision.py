"""Which arithmetic a job trains in, decided on the worker that runs it.

``precision=auto`` (the default) picks per device, because a cluster may mix cards:

- bf16 autocast on GPUs with native bf16 (compute capability 8.0 and up: A100, H100, H200);
- fp16 autocast with gradient scaling on older GPUs (a V100, 7.0, has no native bf16: it
  would be emulated, slowly) -- the scaler keeps small fp16 gradients from flushing to zero;
- fp32 on the CPU, where autocast gains nothing for these convolutions.

``bf16`` / ``fp16`` / ``fp32`` force one. The resolved precision is recorded with the run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.errors import BenchError

NATIVE_BF16_CAPABILITY = (8, 0)


def resolve_precision(choice: str, device_type: str, capability: tuple[int, int] | None) -> str:
    """The precision a job uses: ``choice`` (auto | bf16 | fp16 | fp32) on a device of ``device_type``.

    ``capability`` is the CUDA compute capability (major, minor), None on the CPU.

    Example:
        >>> [resolve_precision("auto", "cuda", cc) for cc in ((9, 0), (8, 0), (7, 0))]
        ['bf16', 'bf16', 'fp16']
        >>> resolve_precision("auto", "cpu", None), resolve_precision("bf16", "cpu", None)
        ('fp32', 'fp32')
    """
    if choice not in ("auto", "bf16", "fp16", "fp32"):
        raise BenchError(f"runtime.precision={choice!r} is invalid; valid are ['auto', 'bf16', 'fp16', 'fp32']")
    if device_type != "cuda":
        return "fp32"  # CPU autocast is slower than fp32 for these networks; mixed precision is a GPU matter
    if choice != "auto":
        return choice
    return "bf16" if capability is not None and tuple(capability) >= NATIVE_BF16_CAPABILITY else "fp16"


@dataclass(frozen=True)
class Precision:
    """The resolved precision of one rank: its autocast context and its gradient scaler (fp16 only)."""

    name: str
    device_type: str

    @classmethod
    def for_device(cls, choice: str, device: torch.device) -> Precision:
        capability = torch.cuda.get_device_capability(device) if device.type == "cuda" else None
        return cls(resolve_precision(choice, device.type, capability), device.type)

    def autocast(self) -> Callable[[], Any]:
        """A factory of the autocast context (nothing for fp32)."""
        if self.name == "bf16":
            return lambda: torch.autocast(self.device_type, dtype=torch.bfloat16)
        if self.name == "fp16":
            return lambda: torch.autocast(self.device_type, dtype=torch.float16)
        return contextlib.nullcontext

    def scaler(self) -> torch.amp.GradScaler:
        """A gradient scaler, enabled for fp16 only (a no-op pass-through otherwise)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")
