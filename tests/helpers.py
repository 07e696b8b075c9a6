"""Small helpers shared by several test modules."""

import os
import shutil
from datetime import datetime
from pathlib import Path

import matplotlib
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHAPES_NAMES = ["circle", "rectangle", "triangle"]


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
    """(python, environment) for running the ultralytics ``yolov5`` package in its own venv.

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


def write_checkpoint(model: torch.nn.Module, names: list[str], path: Path) -> Path:
    """Save ``model`` (a ``DetectionModel``) untrained, in the layout ``Trainer.save_checkpoint`` writes and
    ``Trainer.finish`` leaves: fp16 ``model`` and ``ema`` (the same weights, as at the start of a run), optimizer
    stripped, default ``opt`` and ``hyp``; ``epoch`` -1 as no epoch was trained. Returns ``path``."""
    from utils.checkpoints.checkpoint import half_state_dict, save_checkpoint
    from utils.hyp import load_hyp
    from utils.train.options import TrainOptions

    state = half_state_dict(model)
    checkpoint = {
        "epoch": -1,
        "best_fitness": 0.0,
        "best_epoch": -1,
        "model": state,
        "ema": dict(state),
        "updates": 0,
        "optimizer": None,
        "opt": TrainOptions(cfg=model.yaml_file or "", epochs=1).to_dict(),
        "hyp": load_hyp(),
        "names": list(names),
        "model_yaml": model.yaml,
        "date": datetime.now().isoformat(),
    }
    save_checkpoint(checkpoint, path)
    return path
