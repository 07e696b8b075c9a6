"""``torch.hub`` entry points, named as YOLOv5's: ``custom`` for your weights, one function per shipped model config.

    model = torch.hub.load("path/to/this/repo", "custom", path="best.pt", source="local")
    model = torch.hub.load("path/to/this/repo", "yolov5s", pretrained=False, classes=3, source="local")  # untrained

Each is a thin call into :mod:`utils.inference.api` (``from utils.inference.api import load`` does the same without
torch.hub). Importing this file runs nothing and imports nothing from the repository; ``torch.hub`` puts the repository
on ``sys.path`` while an entry point runs, and the entry point imports the library then.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: every public callable here is listed by torch.hub.list as an entry point
    from collections.abc import Callable
    from pathlib import Path

    from torch import nn

dependencies = ["torch", "numpy", "cv2", "PIL", "yaml"]  # checked by torch.hub before an entry point runs

ROOT = os.path.dirname(os.path.realpath(__file__))


def custom(
    path: str | Path = "best.pt", autoshape: bool = True, _verbose: bool = True, device: str | int | None = None
) -> nn.Module:
    """Your weights, in any format detect.py runs (``.pt``, ``.torchscript``, ``.onnx``, OpenVINO folder).

    ``autoshape=False`` gives the bare ``DetectMultiBackend`` (tensor in, decoded tensor out); ``device`` as
    ``--device`` (None: the first GPU if any, else the CPU).
    """
    return _api().load(path, device=device, autoshape=autoshape, verbose=_verbose)


def _config_entry(name: str, description: str) -> Callable[..., nn.Module]:
    """The entry point for configs/models/<name>.yaml, named ``name`` with ``-`` as ``_`` (``yolov5s_darknet53``)."""

    def entry(
        pretrained: bool = True,
        channels: int = 3,
        classes: int = 80,
        autoshape: bool = True,
        _verbose: bool = True,
        device: str | int | None = None,
    ) -> nn.Module:
        return _api().create(name, pretrained, channels, classes, autoshape, device, _verbose)

    entry.__name__ = entry.__qualname__ = name.replace("-", "_")
    entry.__doc__ = (
        f"{description} (configs/models/{name}.yaml) with ``classes`` classes. ``pretrained=False``: untrained; "
        "``pretrained=True`` (YOLOv5's default) raises, as there are no hub weights offline: load trained weights "
        "with ``custom(path=...)``."
    )
    return entry


def _api():
    """``utils.inference.api``, after checking that ``utils`` and ``models`` are not another project's packages
    already imported under the same names (a one-line error instead of a puzzling ImportError)."""
    for package in ("utils", "models"):
        module = sys.modules.get(package)
        location = os.path.realpath(getattr(module, "__file__", None) or os.path.join(ROOT, package))
        if module is not None and not location.startswith(os.path.join(ROOT, "")):
            raise ImportError(f"a different '{package}' package ({location}) is already imported; load this hub "
                              f"model in a fresh process, or before importing that package")  # fmt: skip
    from utils.inference import api

    return api


yolov5n = _config_entry("yolov5n", "YOLOv5n")
yolov5s = _config_entry("yolov5s", "YOLOv5s")
yolov5m = _config_entry("yolov5m", "YOLOv5m")
yolov5l = _config_entry("yolov5l", "YOLOv5l")
yolov5x = _config_entry("yolov5x", "YOLOv5x")
yolov5s_darknet53 = _config_entry("yolov5s-darknet53", "YOLOv5s head on a Darknet53 backbone")
yolov5s_cspdarknet53 = _config_entry("yolov5s-cspdarknet53", "YOLOv5s head on a CSPDarknet53 backbone")
yolov5s_efficientnet_b0 = _config_entry("yolov5s-efficientnet-b0", "YOLOv5s head on EfficientNet-B0")
yolov5s_efficientnet_b1 = _config_entry("yolov5s-efficientnet-b1", "YOLOv5s head on EfficientNet-B1")
yolov5s_efficientnet_b2 = _config_entry("yolov5s-efficientnet-b2", "YOLOv5s head on EfficientNet-B2")
yolov5s_efficientnet_b3 = _config_entry("yolov5s-efficientnet-b3", "YOLOv5s head on EfficientNet-B3")
yolov5s_efficientnet_b4 = _config_entry("yolov5s-efficientnet-b4", "YOLOv5s head on EfficientNet-B4")
yolov5s_efficientnet_b5 = _config_entry("yolov5s-efficientnet-b5", "YOLOv5s head on EfficientNet-B5")
yolov5s_efficientnet_b6 = _config_entry("yolov5s-efficientnet-b6", "YOLOv5s head on EfficientNet-B6")
yolov5s_efficientnet_b7 = _config_entry("yolov5s-efficientnet-b7", "YOLOv5s head on EfficientNet-B7")
yolov5s_efficientnet_lite0 = _config_entry("yolov5s-efficientnet-lite0", "YOLOv5s head on EfficientNet-Lite0")
yolov5s_efficientnet_lite1 = _config_entry("yolov5s-efficientnet-lite1", "YOLOv5s head on EfficientNet-Lite1")
yolov5s_efficientnet_lite2 = _config_entry("yolov5s-efficientnet-lite2", "YOLOv5s head on EfficientNet-Lite2")
yolov5s_efficientnet_lite3 = _config_entry("yolov5s-efficientnet-lite3", "YOLOv5s head on EfficientNet-Lite3")
yolov5s_efficientnet_lite4 = _config_entry("yolov5s-efficientnet-lite4", "YOLOv5s head on EfficientNet-Lite4")
yolov7_tiny = _config_entry("yolov7-tiny", "YOLOv7-tiny (LeakyReLU, IDetect head)")
yolov7 = _config_entry("yolov7", "YOLOv7 (SiLU, RepConv outputs, IDetect head)")
yolov7x = _config_entry("yolov7x", "YOLOv7x")
yolov7_tiny_efficientnet_lite0 = _config_entry(
    "yolov7-tiny-efficientnet-lite0", "YOLOv7-tiny head on EfficientNet-Lite0"
)
