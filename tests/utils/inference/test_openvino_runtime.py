"""OpenVINO runs at the precision we set, whatever the CPU plugin's default is.

On CPUs with AVX512-BF16 or AMX the plugin's default is bf16. ``RecordingCore`` stands in for the process's shared
core and refuses any compile that leaves the precision unset, so a code path relying on the default fails here
whatever the CPU.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import openvino
import pytest
import torch

import utils.inference.openvino_runtime as ov_runtime
from models.yolo import DetectionModel
from tests.helpers import ROOT, randomise_batchnorm
from utils.exporters import ExportOptions, export_model
from utils.inference.backends import DetectMultiBackend, decoded_only
from utils.inference.model_files import single_xml
from utils.inference.openvino_runtime import (
    BF16,
    F32,
    PRECISION_KEY,
    choose_precision,
    compiled_precision,
    cpu_supports_bf16,
)

SIZE = 128
NAMES = ["circle", "rectangle", "triangle"]
HAS_BF16 = cpu_supports_bf16(ov_runtime.shared_core())


class RecordingCore:
    """The shared ``openvino.Core`` seen through a recorder: it keeps each compile's properties and refuses a compile
    that does not name its precision (the plugin's default is bf16 on CPUs that have it)."""

    compiles: list[dict] = []

    def __init__(self, core: openvino.Core) -> None:
        self.core = core

    def __getattr__(self, name: str):  # noqa: ANN204 - everything else is the real core's
        return getattr(self.core, name)

    def compile_model(self, model, device_name="CPU", config=None):  # noqa: ANN001 - openvino's own signature
        config = dict(config or {})
        RecordingCore.compiles.append(config)
        if PRECISION_KEY not in config:
            raise AssertionError("compiled at the plugin's default precision (bf16 on AVX512-BF16 CPUs)")
        return self.core.compile_model(model, device_name, config)


class FakeCore:
    """Only what :func:`choose_precision` asks of a core: the CPU's optimisation capabilities."""

    def __init__(self, capabilities: list[str]) -> None:
        self.capabilities = capabilities

    def get_property(self, device: str, name: str) -> list[str]:
        assert (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES")
        return self.capabilities


@pytest.fixture(scope="module")
def openvino_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[DetectionModel, Path]:
    """An untrained yolov5n (BatchNorm randomised, then fused) and its OpenVINO IR, static at 128 px, written
    without the self-check. With BatchNorm at its initial values OpenVINO's bf16 happens to stay within 1e-4 of f32
    on this graph; randomised statistics, like a trained model's, show the bf16 error."""
    torch.manual_seed(0)
    model = DetectionModel("yolov5n.yaml", nc=len(NAMES), verbose=False)
    randomise_batchnorm(model)
    model = model.fuse().eval()
    folder = tmp_path_factory.mktemp("openvino")
    (result,) = export_model(model, NAMES, folder / "m", ExportOptions(["openvino"], SIZE), check=False)
    return model, result.path


@pytest.fixture
def default_bf16_core(monkeypatch: pytest.MonkeyPatch) -> type[RecordingCore]:
    RecordingCore.compiles = []
    recorder = RecordingCore(ov_runtime.shared_core())
    monkeypatch.setattr(ov_runtime, "shared_core", lambda: recorder)
    return RecordingCore


def _images() -> torch.Tensor:
    return torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))


def _pytorch(model: DetectionModel, images: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return decoded_only(model)(images)


def test_loader_compiles_f32_when_the_default_is_bf16(openvino_export, default_bf16_core, caplog) -> None:
    model, folder = openvino_export
    with caplog.at_level(logging.INFO):
        backend = DetectMultiBackend(folder)
    assert default_bf16_core.compiles == [{PRECISION_KEY: F32}]
    assert backend.precision == F32 and compiled_precision(backend.exported.handle) == F32
    assert "(openvino, f32 on CPU)" in caplog.text
    with torch.no_grad():
        torch.testing.assert_close(backend(_images()), _pytorch(model, _images()), atol=1e-3, rtol=1e-4)


def test_export_self_check_passes_when_the_default_is_bf16(openvino_export, default_bf16_core, tmp_path) -> None:
    model, _ = openvino_export
    (result,) = export_model(model, NAMES, tmp_path / "m", ExportOptions(["openvino"], SIZE))
    assert result.passed and result.max_abs_diff < 1e-3, result.line()
    assert default_bf16_core.compiles and all(c[PRECISION_KEY] == F32 for c in default_bf16_core.compiles)


@pytest.mark.skipif(not HAS_BF16, reason="this CPU has no bf16 in OpenVINO: the plugin's default is f32 here")
def test_the_plugin_default_here_is_bf16_and_moves_the_boxes(openvino_export) -> None:
    """Why the precision is set: on this CPU a compile without it runs bf16, far outside float32's tolerance."""
    model, folder = openvino_export
    core = ov_runtime.shared_core()
    compiled = core.compile_model(core.read_model(str(folder / "m.xml")), "CPU")
    assert compiled_precision(compiled) == BF16
    output = torch.from_numpy(compiled(_images().numpy())[compiled.output(0)])
    assert not torch.allclose(output, _pytorch(model, _images()), atol=1e-3, rtol=1e-4)


@pytest.mark.skipif(not HAS_BF16, reason="this CPU has no bf16 in OpenVINO")
def test_half_runs_bf16_on_a_cpu_that_has_it(openvino_export, default_bf16_core) -> None:
    model, folder = openvino_export
    backend = DetectMultiBackend(folder, fp16=True)
    assert default_bf16_core.compiles == [{PRECISION_KEY: BF16}]
    assert backend.precision == BF16 and compiled_precision(backend.exported.handle) == BF16 and not backend.fp16
    with torch.no_grad():
        output, expected = backend(_images()), _pytorch(model, _images())
    assert output.dtype == torch.float32
    torch.testing.assert_close(output, expected, atol=0.05, rtol=0.02)  # bf16 keeps ~3 significant digits


def test_half_asks_bf16_only_where_the_cpu_has_it(caplog: pytest.LogCaptureFixture) -> None:
    assert choose_precision(FakeCore(["FP32", "BF16", "INT8"]), half=True) == BF16
    assert choose_precision(FakeCore(["FP32", "BF16"]), half=False) == F32
    with caplog.at_level(logging.INFO):
        assert choose_precision(FakeCore(["FP32", "INT8"]), half=True) == F32
    assert "no bf16 support" in caplog.text and "running OpenVINO in f32" in caplog.text


def test_half_without_bf16_loads_f32_with_a_note(openvino_export, default_bf16_core, monkeypatch, caplog) -> None:
    monkeypatch.setattr(ov_runtime, "cpu_supports_bf16", lambda core: False)
    with caplog.at_level(logging.INFO):
        backend = DetectMultiBackend(openvino_export[1], fp16=True)
    assert default_bf16_core.compiles == [{PRECISION_KEY: F32}] and backend.precision == F32
    assert "running OpenVINO in f32" in caplog.text and "(openvino, f32 on CPU)" in caplog.text


def test_compile_rejects_an_unknown_precision() -> None:
    with pytest.raises(ValueError, match="expected 'f32' or 'bf16'"):
        ov_runtime.compile_for_cpu(ov_runtime.shared_core(), None, "f16")


def test_export_error_states_the_tolerance_the_check_uses(monkeypatch, capsys, tmp_path) -> None:
    import export
    import utils.exporters
    from utils.exporters.check import ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE
    from utils.exporters.pipeline import ExportResult

    failed = ExportResult("openvino", tmp_path / "best_openvino_model", 1.0, max_abs_diff=0.05, passed=False)
    monkeypatch.setattr(utils.exporters, "export", lambda weights, options: [failed])
    assert export.main(["--weights", str(tmp_path / "best.pt"), "--include", "openvino"]) == 1
    assert (ABSOLUTE_TOLERANCE, RELATIVE_TOLERANCE) == (1e-3, 1e-4)
    assert "openvino differ from PyTorch by more than 0.001 + 0.0001 x |value|" in capsys.readouterr().err


OUT_OF_ORDER = """
import gc, os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from utils.inference.model_files import open_exported
first = open_exported(Path({xml!r}), "openvino")
second = open_exported(Path({xml!r}), "openvino", threads=1)
del first; gc.collect()
third = open_exported(Path({xml!r}), "openvino", threads=2)
del second; gc.collect()
del third; gc.collect()
signal.signal(signal.SIGUSR1, lambda *_: print("handled", flush=True))
os.kill(os.getpid(), signal.SIGUSR1)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
def test_models_freed_out_of_order_leave_a_usable_signal_stack(openvino_export) -> None:
    """Each CPU plugin gives the thread that loads it a signal stack of its own and, when it unloads, puts back the
    one it found. With a Core per model, three models freed out of order left the main thread on an unmapped signal
    stack, and the next signal a handler caught killed the process (SIGSEGV). Run in a fresh interpreter, so a
    failure kills only that one."""
    xml = str(single_xml(openvino_export[1]))
    code = OUT_OF_ORDER.format(root=str(ROOT), xml=xml)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["handled"], (done.returncode, done.stderr[-2000:])
