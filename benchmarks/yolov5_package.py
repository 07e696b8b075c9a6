"""Where the ultralytics ``yolov5`` PyPI package used as a reference lives, and what it needs to run offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THEIR_PYTHON = ROOT / ".venv-yolov5" / "bin" / "python"  # made by tests/reference/install_yolov5.sh


def their_env(folder: Path) -> dict:
    """Environment for the package's processes: a config dir holding the ``Arial.ttf`` it would otherwise
    download (matplotlib's DejaVuSans stands in), a non-GUI matplotlib, and permission for ``torch.load`` to
    read the checkpoints it pickles whole (its own files, written in this run)."""
    import matplotlib

    config = folder / "yolov5-config"
    config.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", config / "Arial.ttf")
    settings = {"YOLOV5_CONFIG_DIR": str(config), "MPLBACKEND": "Agg", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    return {**os.environ, **settings}
