"""Where a run came from: code version, package versions, host, GPU model.

Looked up once per process (cached): a job commits with the provenance of the
process that ran it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Sequence
from functools import lru_cache
from importlib import metadata
from pathlib import Path

KEY_PACKAGES = ("torch", "torchvision", "numpy", "pyarrow", "ray", "hydra-core", "av", "nasbench-mr")


@lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The project's git commit (``+dirty`` when tracked files differ), or None outside a checkout."""
    repo = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "diff", "--quiet", "HEAD", "--"], capture_output=True, timeout=10, check=False
        ).returncode
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty == 1 else sha


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a result (those installed)."""
    out = {"python": sys.version.split()[0]}
    for name in KEY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def host_name() -> str:
    return socket.gethostname()


def gpu_model(devices: Sequence[str]) -> str | None:
    """Name of the first CUDA device in ``devices``, when torch is already loaded and sees it."""
    cuda = [d for d in devices if d.startswith("cuda")]
    torch = sys.modules.get("torch")  # never import torch just for a name
    if not cuda or torch is None or not torch.cuda.is_available():
        return None
    index = int(cuda[0].split(":")[1]) if ":" in cuda[0] else 0
    return torch.cuda.get_device_name(index)
