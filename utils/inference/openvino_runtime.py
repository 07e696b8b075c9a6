"""Compile OpenVINO models for the CPU at a precision we name, never at the plugin's default.

OpenVINO's CPU plugin computes in bf16 by default on CPUs that have AVX512-BF16 or AMX (AMD Zen 4, Intel Sapphire
Rapids and later) and in f32 elsewhere. bf16 keeps about three significant digits: on a 640 px input it moves
box coordinates by several hundredths of a pixel, so the same file would give other boxes on another machine.
Every compile here therefore sets ``INFERENCE_PRECISION_HINT``: f32 unless lower precision is asked for.

Imports only openvino (inside the functions), so a deploy path without torch can use it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

LOGGER = logging.getLogger(__name__)

F32 = "f32"
BF16 = "bf16"
PRECISION_KEY = "INFERENCE_PRECISION_HINT"
# detect.py / val.py --half
HALF_HELP = "FP16 on CUDA; on the CPU bf16 where the CPU computes it (OpenVINO; PyTorch with AVX512-BF16/AMX)"


@functools.cache
def shared_core() -> Any:
    """The one ``openvino.Core`` of this process; every compile here goes through it.

    Why one: each Core's CPU plugin gives the thread that loads it a signal stack of its own (room for AMX state)
    and, when it unloads, unmaps that stack and puts back the one it found. Cores unloaded out of order leave the
    thread on an unmapped signal stack, and the next signal a handler catches kills the process with SIGSEGV (the
    test suite died so, in a ``git`` call long after the models were gone). One Core kept for the whole process
    loads the plugin once and never unloads it.
    """
    import openvino

    return openvino.Core()


def cpu_supports_bf16(core: Any) -> bool:
    """True when OpenVINO's CPU plugin can compute in bf16 on this CPU (its ``OPTIMIZATION_CAPABILITIES``)."""
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def choose_precision(core: Any, half: bool) -> str:
    """``f32``, or ``bf16`` when ``half`` is asked and the CPU has it; otherwise a one-line note and ``f32``.

    bf16 rather than f16: on the CPU plugin f16 inference is only for CPUs with AVX512-FP16/AMX-FP16, while bf16
    is what AVX512-BF16 (Zen 4, Sapphire Rapids) accelerates.
    """
    if not half:
        return F32
    if cpu_supports_bf16(core):
        return BF16
    LOGGER.info("--half: this CPU has no bf16 support in OpenVINO (no AVX512-BF16/AMX); running OpenVINO in f32")
    return F32


def compile_for_cpu(core: Any, model: Any, precision: str = F32, properties: dict | None = None) -> Any:
    """``core.compile_model(model, "CPU", ...)`` with ``INFERENCE_PRECISION_HINT`` set to ``precision``
    (``"f32"`` or ``"bf16"``); ``properties`` are passed along (threads, performance hint)."""
    if precision not in (F32, BF16):
        raise ValueError(f"OpenVINO precision {precision!r}: expected {F32!r} or {BF16!r}")
    config = {**(properties or {}), PRECISION_KEY: precision}
    return core.compile_model(model, "CPU", config)


def compiled_precision(compiled: Any) -> str:
    """The precision a compiled model really runs in (``"f32"``, ``"bf16"``, ...), as the plugin reports it."""
    return compiled.get_property(PRECISION_KEY).get_type_name()
