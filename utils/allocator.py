"""Keep freed memory inside the process (Linux, glibc), so a CPU training step does not page-fault its tensors anew.

glibc serves every block above its mmap threshold (32 MB at most) with a fresh ``mmap`` and gives it back with
``munmap`` when freed. A training step at batch 16 frees and re-allocates activations of tens of megabytes, so each
step faults about a million pages in again: on the 2-core AMD EPYC here that was over a third of an
EfficientNet-Lite2 training step (benchmarks/allocator.py). With mmap off and trimming off, freed blocks go back to
malloc's free lists and the next step reuses them. The price: the process keeps its peak heap until it exits.
"""

from __future__ import annotations

import ctypes
import platform
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_MAX = -4
NEVER_TRIM = -1  # glibc stores it as size_t: -1 becomes the largest size, so free heap is never trimmed


def keep_freed_memory() -> bool:
    """Tell glibc malloc to serve large blocks from the heap and never give freed heap back to the OS, for the
    rest of this process and the processes it forks. Returns False where it cannot (not Linux with glibc), and
    changes nothing there. Call it once at the start of a command, never at import."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
