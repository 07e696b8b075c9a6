"""Reference figures from the ultralytics ``yolov5`` PyPI package (7.0.14), for our parity tests.

Runs inside the package's own venv (see ``install_yolov5.sh``), never ours:

    .venv-yolov5/bin/python tests/reference/yolov5_reference.py OUT_DIR

Writes ``OUT_DIR/counts.json`` (unfused and fused parameter counts of yolov5n/s/m/l/x at nc=80) and, for
yolov5s with randomised BatchNorm statistics, ``state_dict.pt``, ``input.pt`` and ``output.pt`` (the fused
model's decoded eval output and per-level raw maps on that input), and ``loss.pt``: the package's ``ComputeLoss``
(loss, its three parts, the gradient of the loss with respect to each raw map) for yolov5n with 3 classes at
320 px on random raw maps and targets, its gains scaled from ``hyp.scratch-low.yaml`` as its ``train.py`` does.
"""

import json
import sys
from pathlib import Path

import torch
from loss_inputs import loss_record, random_raw_and_targets, scale_gains


def randomise_batchnorm(model: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for norm in model.modules():
        if isinstance(norm, torch.nn.BatchNorm2d):
            size = norm.num_features
            norm.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
            norm.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            norm.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            norm.bias.data.copy_(torch.rand(size, generator=generator) - 0.5)


def main(out_dir: Path) -> None:
    import yolov5
    from yolov5.models.yolo import Model

    out_dir.mkdir(parents=True, exist_ok=True)
    config_dir = Path(yolov5.__file__).parent / "models"
    counts = {"version": yolov5.__version__}
    for size in "nsmlx":
        torch.manual_seed(0)
        model = Model(str(config_dir / f"yolov5{size}.yaml"), ch=3, nc=80)
        params = sum(p.numel() for p in model.parameters())
        if size == "s":
            randomise_batchnorm(model)
            torch.save(model.state_dict(), out_dir / "state_dict.pt")
        model.eval().fuse()
        counts[size] = {"params": params, "fused_params": sum(p.numel() for p in model.parameters())}
        if size == "s":
            image = torch.rand(1, 3, 256, 320, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                decoded, raw = model(image)
            torch.save(image, out_dir / "input.pt")
            torch.save({"decoded": decoded, "raw": raw}, out_dir / "output.pt")
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=1))
    torch.save(loss_case(config_dir), out_dir / "loss.pt")


def loss_case(config_dir: Path, classes: int = 3, image_size: int = 320, batch: int = 4, boxes: int = 60) -> dict:
    import yaml
    from yolov5.models.yolo import Model
    from yolov5.utils.loss import ComputeLoss

    torch.manual_seed(0)
    model = Model(str(config_dir / "yolov5n.yaml"), ch=3, nc=classes)
    hyp = yaml.safe_load((config_dir.parent / "data" / "hyps" / "hyp.scratch-low.yaml").read_text())
    scale_gains(hyp, model.model[-1].nl, classes, image_size)
    model.hyp = hyp
    raw, targets = random_raw_and_targets(batch, classes, image_size, boxes)
    leaves = [r.clone().requires_grad_(True) for r in raw]
    loss, parts = ComputeLoss(model)(leaves, targets)
    loss.backward()
    return loss_record(model.model[-1], raw, targets, leaves, loss, parts, classes, image_size)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
