"""The one-line banner a run starts with: which code, Python, torch and device produced what follows."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "yolov5-backbones"


def code_version(root: Path = ROOT) -> str:
    """The checkout's short commit (``+dirty`` with uncommitted changes), or ``unknown`` outside a git checkout."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}{'+dirty' if dirty else ''}" if commit else "unknown"


def cpu_name() -> str:
    """The CPU's model name (Linux reads /proc/cpuinfo; elsewhere ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_description(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return f"CUDA:{device.index or 0} ({properties.name}, {properties.total_memory / 2**30:.0f} GiB)"
    if device.type == "mps":
        return "MPS"
    return f"CPU ({cpu_name()}, {torch.get_num_threads()} threads of {os.cpu_count()} CPUs)"


def banner(device: torch.device, run_folder: str | Path | None = None) -> str:
    """``yolov5-backbones 2590dea, Python 3.11.7, torch 2.14.1, CPU (AMD EPYC ..., 2 threads of 2 CPUs) -> runs/x``."""
    import torch

    text = (f"{PROJECT} {code_version()}, Python {platform.python_version()}, torch {torch.__version__}, "
            f"{device_description(device)}")  # fmt: skip
    return f"{text} -> {run_folder}" if run_folder is not None else text


def runtime_banner(runtime: str, version: str) -> str:
    """The banner of the torch-free path: ``yolov5-backbones 2590dea, Python 3.11.7, onnxruntime 1.32.0, CPU (...)``."""
    return (f"{PROJECT} {code_version()}, Python {platform.python_version()}, {runtime} {version}, CPU ({cpu_name()}, "
            f"{os.cpu_count()} CPUs)")  # fmt: skip
