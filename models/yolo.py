"""YOLO detection model: ``DetectionModel(cfg)`` builds backbone, neck and head from a model YAML.

Run as a script to print a model's layer table and size::

    python -m models.yolo --cfg configs/models/yolov5s.yaml --imgsz 640
    python models/yolo.py --cfg configs/models/yolov5s.yaml          # YOLOv5's spelling
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path

if not __package__:  # run by path: import from the repository root, not from models/
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch
from torch import nn

from models.fuse import fuse_conv_bn
from models.head import Detect
from models.parser import parse_model
from models.summary import count_flops, model_summary
from utils.errors import UserError, run_reporting_user_errors
from utils.yaml_io import read_yaml_mapping

LOGGER = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs" / "models"
STRIDE_PROBE_SIZE = 256

__all__ = ["DetectionModel", "Detect", "parse_model", "load_model_yaml"]


def load_model_yaml(cfg: str | Path | dict) -> tuple[dict, str]:
    """Read a model YAML (a path, a bare name found in ``configs/models/``, or a dict) -> (dict copy, name).

    ``name`` is the file stem (``yolov5s``) or ``model`` for a dict.
    """
    if isinstance(cfg, dict):
        return copy.deepcopy(cfg), "model"
    path = Path(cfg)
    if not path.is_file() and (CONFIG_DIR / path.name).is_file():
        path = CONFIG_DIR / path.name
    if not path.is_file():
        raise UserError(f"model config not found: {cfg} (shipped configs are in {CONFIG_DIR})")
    return read_yaml_mapping(path, "model YAML"), path.stem


class DetectionModel(nn.Module):
    """YOLO detector built from a model YAML.

    Args:
        cfg: a model YAML path (or bare name from ``configs/models/``) or an already-loaded dict.
        ch: input channels.
        nc: number of classes; overrides the YAML's ``nc`` when given.
        verbose: log the layer table (at INFO level).
        source: the name error messages give the YAML (e.g. the file a dict was read from).

    ``forward(x)`` takes (B, ch, H, W) RGB images in 0..1 with H, W multiples of the largest stride. Training
    mode returns the head's raw per-level tensors; eval mode returns ``(decoded (B, N, 5 + nc), raw)``.

    The head's strides come from the parser, which carries each layer's stride as it carries channels; only a model
    with a layer that cannot tell its stride (an ``nn.Upsample`` to a fixed size, a conv whose padding shrinks the
    map) measures them with one forward pass (``_probe_strides``).
    """

    def __init__(
        self,
        cfg: str | Path | dict = "yolov5s.yaml",
        ch: int = 3,
        nc: int | None = None,
        verbose: bool = True,
        source: str | None = None,
    ) -> None:
        super().__init__()
        self.yaml, self.name = load_model_yaml(cfg)
        self.yaml_file = str(cfg) if not isinstance(cfg, dict) else None
        source = source or self.yaml_file or "<model dict>"  # what error messages name: a dict's file, if known
        ch = self.yaml.setdefault("ch", ch)
        if nc is not None and nc != self.yaml.get("nc"):
            LOGGER.info("Overriding nc=%s in %s with nc=%d", self.yaml.get("nc"), source, nc)
            self.yaml["nc"] = nc
        self.model, self.save = parse_model(copy.deepcopy(self.yaml), ch, source, verbose)
        if not isinstance(self.model[-1], Detect):
            raise UserError(f"{source}: the last row must be a Detect layer")
        self.names = [str(i) for i in range(self.yaml["nc"])]
        head = self.model[-1]
        known = head.out_strides is not None
        head.set_strides(torch.tensor(head.out_strides, dtype=torch.float32) if known else self._probe_strides(ch))
        head.initialize_biases()
        self.stride = head.stride

    @property
    def head(self) -> Detect:
        """The detection head (the last layer): anchors, strides, the per-level output convolutions."""
        return self.model[-1]

    def forward(self, x: torch.Tensor):
        return self.head(self._features(x))

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Run every layer but the head; return the head's inputs."""
        outputs: list = []
        for layer in self.model[:-1]:
            if layer.f != -1:
                x = outputs[layer.f] if isinstance(layer.f, int) else [x if j == -1 else outputs[j] for j in layer.f]
            x = layer(x)
            outputs.append(x if layer.i in self.save else None)
        head = self.model[-1]
        return [x if j == -1 else outputs[j] for j in head.f]

    def _probe_strides(self, ch: int) -> torch.Tensor:
        """Strides of the head's inputs from one forward pass in eval mode without gradients, for models where some
        layer cannot tell its output stride without seeing an input (``parse_model`` gives the others).

        Eval mode matters: a probe in training mode would update every BatchNorm's running statistics and
        so damage pretrained backbone weights.
        """
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                features = self._features(torch.zeros(1, ch, STRIDE_PROBE_SIZE, STRIDE_PROBE_SIZE))
        finally:
            self.train(was_training)
        return torch.tensor([STRIDE_PROBE_SIZE / f.shape[-2] for f in features])

    def fuse(self) -> DetectionModel:
        """Fold BatchNorm layers into convolutions (YOLOv5 and timm blocks) and YOLOv7's implicit layers into the
        head's, for faster inference; sets eval mode."""
        self.eval()
        for module in list(self.modules()):
            if hasattr(module, "reparameterize"):  # YOLOv7's RepConv: three branches to one convolution
                module.reparameterize()
        folded = fuse_conv_bn(self)
        if hasattr(self.head, "fold_implicit"):
            self.head.fold_implicit()
        LOGGER.info("Fused %d Conv+BatchNorm pairs", folded)
        return self

    def for_inference(self, device: torch.device | str = "cpu") -> DetectionModel:
        """Fused, in eval mode, on ``device``, its convolution weights in channels-last (NHWC) layout, which made
        yolov5s CPU inference ~30 % faster here (README, vs_yolov5); not measured on CUDA yet."""
        self.fuse().eval().to(device)
        return self.to(memory_format=torch.channels_last)

    def for_training(self, device: torch.device | str = "cpu") -> DetectionModel:
        """In training mode, on ``device``, its convolution weights in channels-last (NHWC) layout: a CPU training
        step at batch 16, 320 px took 16-28 % less time than in NCHW here (yolov5s, EfficientNet-B0, CSPDarknet53);
        not measured on CUDA yet. Checkpoints still store NCHW tensors (``half_state_dict``)."""
        self.train().to(device)
        return self.to(memory_format=torch.channels_last)

    def info(self, image_size: int | None = 640) -> str:
        """Log and return the one-line summary (layers, parameters, gradients, GFLOPs at ``image_size``)."""
        text = model_summary(self, self.name.replace("yolov5", "YOLOv5"), image_size)
        LOGGER.info(text)
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print a model's layer table and summary line.")
    parser.add_argument("--cfg", nargs="+", default=["yolov5s.yaml"], help="model YAML(s)")
    parser.add_argument("--imgsz", type=int, default=640, help="image size for GFLOPs")
    parser.add_argument("--nc", type=int, default=None, help="override the number of classes")
    parser.add_argument("--fuse", action="store_true", help="also print the fused model's summary")
    parser.add_argument("--markdown", action="store_true", help="print one markdown table row per config instead")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.markdown else logging.INFO, format="%(message)s")
    return run_reporting_user_errors(lambda: print_models(args))


def print_models(args: argparse.Namespace) -> None:
    """The layer table and summary line of each config, or one markdown row each with ``--markdown``."""
    if args.markdown:
        print(f"| config | parameters | GFLOPs at {args.imgsz} |\n|---|---:|---:|")
    for cfg in args.cfg:
        model = DetectionModel(cfg, nc=args.nc)
        if args.markdown:
            parameters = sum(p.numel() for p in model.parameters())
            print(f"| {model.name} | {parameters:,} | {count_flops(model, args.imgsz) / 1e9:.1f} |", flush=True)
            continue
        model.info(args.imgsz)
        if args.fuse:
            model.fuse().info(args.imgsz)


if __name__ == "__main__":
    sys.exit(main())
