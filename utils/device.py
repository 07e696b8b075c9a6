"""Turning a ``--device`` string into a ``torch.device``."""

from __future__ import annotations

import torch

from utils.errors import UserError


def parse_device_ids(device: str) -> list[int]:
    """``"0,1"`` -> [0, 1]; raises on anything that is not a comma-separated list of GPU indices."""
    try:
        ids = [int(part) for part in device.replace(" ", "").split(",") if part != ""]
    except ValueError:
        raise UserError(f"--device {device!r}: expected 'cpu', 'mps', or GPU indices such as '0' or '0,1'") from None
    if not ids or any(i < 0 for i in ids):
        raise UserError(f"--device {device!r}: expected 'cpu', 'mps', or GPU indices such as '0' or '0,1'")
    return ids


def select_device(device: str | int = "") -> torch.device:
    """The device for ``--device``: '' (first GPU if any, else CPU), 'cpu', 'mps', '0', '0,1', 'cuda:1'.

    For a list of GPUs, returns the first one; multi-GPU runs use one process per GPU (torchrun), each of
    which sets its own device from its local rank.
    """
    text = str(device).strip().lower().replace("cuda:", "")
    if text == "":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UserError("--device mps: Apple MPS is not available on this machine; use --device cpu")
        return torch.device("mps")
    ids = parse_device_ids(text)
    if not torch.cuda.is_available():
        raise UserError(
            f"--device {device}: CUDA is not available on this machine (torch {torch.__version__}); use --device cpu"
        )
    count = torch.cuda.device_count()
    if max(ids) >= count:
        raise UserError(f"--device {device}: GPU {max(ids)} requested but only {count} visible (0..{count - 1})")
    return torch.device(f"cuda:{ids[0]}")


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16 in ``/proc/cpuinfo``'s flags). Elsewhere
    torch would emulate bf16 in float32 arithmetic, slower than float32 itself, so ``--half`` is refused there."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as handle:
                cpuinfo = handle.read()
        except OSError:
            return False
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return "avx512_bf16" in flags or "amx_bf16" in flags
