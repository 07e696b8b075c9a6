"""An untrained model saved as a checkpoint, for measuring what depends only on the architecture (latency, size,
memory) with the same loaders and exporters a trained best.pt goes through."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import torch

from utils.checkpoints.checkpoint import half_state_dict, save_checkpoint
from utils.hyp import load_hyp
from utils.train.options import TrainOptions


def save_untrained_checkpoint(model: torch.nn.Module, names: list[str], path: Path) -> Path:
    """Save ``model`` (a ``DetectionModel``) in the layout ``Trainer.save_checkpoint`` writes and ``Trainer.finish``
    leaves: fp16 ``model`` and ``ema`` (the same weights, as at the start of a run), optimizer stripped, default
    ``opt`` and ``hyp``; ``epoch`` -1 as no epoch was trained. Returns ``path``."""
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
    return Path(path)
