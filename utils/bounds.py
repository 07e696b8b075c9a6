"""Range checks for the numbers users give (flags, YAML keys), made before any work starts.

Each failure is one :class:`UserError` line naming the flag or key, the value given and what is allowed. The image
size bound also says what such an input would need and what memory the machine has, since a size past it is not a
typo the machine survives (the kernel kills the process mid-allocation).
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

from utils.errors import UserError

MAX_IMGSZ = 8192  # pixels a side; a float32 8192x8192 RGB input alone is 0.8 GB, activations ~100x that
MIN_IMGSZ = 32  # the largest stride of the shipped models


def check_number(
    name: str, value: object, low: float | None = None, high: float | None = None, *, integer: bool = False,
    low_inclusive: bool = True,
) -> None:  # fmt: skip
    """``value`` is a finite number (an int when ``integer``) in ``[low, high]`` (``(low, high]`` when not
    ``low_inclusive``); else a UserError naming ``name``."""
    kind = "an integer" if integer else "a number"
    valid = isinstance(value, numbers.Integral if integer else numbers.Real) and not isinstance(value, bool)
    if not valid or not math.isfinite(value):
        raise UserError(f"{name} {value!r}: expected {kind}{_range_text(low, high, low_inclusive)}")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    if too_low or (high is not None and value > high):
        raise UserError(f"{name} {value}: expected {kind}{_range_text(low, high, low_inclusive)}")


def check_image_size(name: str, sizes: int | list[int] | tuple[int, ...]) -> None:
    """Each side within ``MIN_IMGSZ..MAX_IMGSZ``; past the top, the message gives the input's size and the memory
    available."""
    for size in [sizes] if isinstance(sizes, numbers.Integral) else list(sizes):
        check_number(name, size, MIN_IMGSZ, None, integer=True)
        if size > MAX_IMGSZ:
            gigabytes = 3 * 4 * size * size / 1e9
            raise UserError(
                f"{name} {size}: at most {MAX_IMGSZ} (a {size}x{size} float32 input alone is {gigabytes:,.1f} GB, "
                f"and the network needs many times that; {available_memory_gb():.1f} GB is available)"
            )


def available_memory_gb() -> float:
    """``MemAvailable`` from /proc/meminfo in GB (NaN where there is no /proc)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return float("nan")


def _range_text(low: float | None, high: float | None, low_inclusive: bool) -> str:
    if low is not None and high is not None:
        return f" from {low} to {high}" if low_inclusive else f" above {low} and at most {high}"
    if low is not None:
        return f" of at least {low}" if low_inclusive else f" above {low}"
    return f" of at most {high}" if high is not None else ""
