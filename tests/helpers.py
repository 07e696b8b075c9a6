"""Small helpers shared by several test modules."""

import copy
import os
import shutil
from pathlib import Path

import matplotlib
import pytest
import torch

from utils.train.untrained import save_untrained_checkpoint as write_checkpoint  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[1]
SHAPES_NAMES = ["circle", "rectangle", "triangle"]
EXPORT_SIZE = 64  # the size the export tests build, calibrate and export their random models at
_FUSED_MODELS: dict[str, torch.nn.Module] = {}


def randomise_batchnorm(module: torch.nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm2d non-trivial statistics and affine weights, so Conv+BN folding is really tested."""
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            size = norm.num_features
            with torch.no_grad():
                norm.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                norm.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                norm.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                norm.bias.copy_(torch.rand(size, generator=generator) - 0.5)


def yolov5_reference(folder: Path, purpose: str) -> tuple[Path, dict[str, str]]:
    """(python, environment) for running the reference packages (ultralytics ``yolov5``, ``yolov7-package``) in
    their own venv.

    The venv is ``.venv-yolov5`` (or ``$YOLOV5_PYTHON``), made by ``tests/reference/install_yolov5.sh``. When it is
    missing the calling test is skipped, except in CI (``$CI`` set), where ``purpose`` must run and the test fails.
    ``folder`` receives the config dir with the ``Arial.ttf`` the package would otherwise download.
    """
    python = Path(os.environ.get("YOLOV5_PYTHON", ROOT / ".venv-yolov5" / "bin" / "python"))
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run {purpose}: run tests/reference/install_yolov5.sh first")
        pytest.skip("yolov5 reference venv missing (tests/reference/install_yolov5.sh creates it)")
    config_dir = folder / "yolov5_config"
    config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", config_dir / "Arial.ttf")
    env = {**os.environ, "YOLOV5_CONFIG_DIR": str(config_dir), "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    return python, env


def fused_model(cfg: str) -> torch.nn.Module:
    """A fused eval-mode ``DetectionModel`` (nc=3, shapes names), random weights, calibrated BatchNorm statistics;
    built once per ``cfg``: a shipped config's stem, or ``timm:<name>`` for yolov5s-efficientnet-b0 with that backbone
    swapped in (the README's one-word swap)."""
    if cfg not in _FUSED_MODELS:
        import yaml

        from models.yolo import CONFIG_DIR, DetectionModel

        torch.manual_seed(0)
        if cfg.startswith("timm:"):
            text = (CONFIG_DIR / "yolov5s-efficientnet-b0.yaml").read_text().replace("efficientnet_b0", cfg)
            model = DetectionModel(yaml.safe_load(text), nc=len(SHAPES_NAMES), verbose=False)
        else:
            model = DetectionModel(f"{cfg}.yaml", nc=len(SHAPES_NAMES), verbose=False)
        calibrate_batchnorm(model)
        model.names = list(SHAPES_NAMES)
        _FUSED_MODELS[cfg] = model.fuse().eval()
    return _FUSED_MODELS[cfg]


def calibrate_batchnorm(model: torch.nn.Module, seed: int = 0) -> None:
    """Random BatchNorm affine weights, then running statistics averaged over one batch of random images in training
    mode (non-trivial folding, activations of a trained model's scale); head weights scaled down."""
    generator = torch.Generator().manual_seed(seed)
    for norm in model.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            norm.reset_running_stats()
            norm.momentum = None  # cumulative average: after one batch, exactly that batch's statistics
            with torch.no_grad():
                norm.weight.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
                norm.bias.copy_(torch.rand(norm.num_features, generator=generator) - 0.5)
    model.train()
    with torch.no_grad():
        model(torch.rand(4, 3, EXPORT_SIZE, EXPORT_SIZE, generator=generator))
        for conv in model.head.m:  # keep predictions near the anchor priors, as a trained head's are: random
            conv.weight.mul_(0.1)  # logits put boxes at up to 4x the largest anchor (1,400 px on a 64 px image)
    model.eval()


def assert_as_exact_as_pytorch(path: Path, model: torch.nn.Module, images: torch.Tensor) -> None:
    """The exported model's output is within 10x PyTorch float32's own distance from a float64 PyTorch run (+ 1e-3).

    A random-weight network is ill-conditioned (logits in the hundreds; float32 PyTorch itself is up to 3 px off
    float64 on EfficientNet-B0 at 64x96), so a fixed tolerance would test float32 rounding, not the export; runtimes
    that order sums differently land 1-6x PyTorch's distance. A wrong export (padding, grid, metadata) is off by
    far more. The strict 1e-3 self-check is tested on a trained model in tests/test_export.py."""
    from utils.inference.backends import DetectMultiBackend

    with torch.inference_mode():
        float32 = model(images)[0].double()
        float64 = copy.deepcopy(model).double()(images.double())[0]
        exported = DetectMultiBackend(path)(images).double()
    budget = 10 * float((float32 - float64).abs().max()) + 1e-3
    assert float((exported - float64).abs().max()) <= budget, (path, float((exported - float64).abs().max()), budget)


def require_module(module: str, package: str, purpose: str) -> None:
    """Skip the calling test when ``module`` cannot be imported, except in CI (``$CI`` set), where ``purpose`` must
    run: CI installs ``requirements-export.txt``, so there a missing converter fails the test."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run {purpose}: pip install -r requirements-export.txt ({package} is missing)")
        pytest.skip(f"{package} not installed (pip install -r requirements-export.txt)")
