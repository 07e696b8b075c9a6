"""keep_freed_memory: a large block freed and allocated again is served without faulting its pages in anew."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from utils import allocator

ROOT = Path(__file__).resolve().parents[2]
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Allocates, fills and frees a 64 MB block through libc twice; prints the page faults of the second round.
REUSE = """
import ctypes, resource, sys
from utils.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
size = 64 << 20
def touch():
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def second_round_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", REUSE, mode], capture_output=True, text=True, check=True, cwd=ROOT)
    return int(out.stdout.strip())


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_a_freed_block_is_reused_without_page_faults_only_when_kept():
    default, kept = second_round_faults("default"), second_round_faults("keep")
    assert default > 0  # glibc unmapped the block: its pages (4 KB, or 2 MB ones with huge pages) fault in again
    assert kept * 10 <= default and kept < (64 << 20) // 4096 // 100


def test_does_nothing_and_says_so_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator.keep_freed_memory() is False
