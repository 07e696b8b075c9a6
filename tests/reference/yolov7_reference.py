"""Reference figures from ``yolov7-package`` (a packaging of WongKinYiu/yolov7's model code), for our parity tests.

Runs inside the reference venv (see ``install_yolov5.sh``), never ours:

    .venv-yolov5/bin/python tests/reference/yolov7_reference.py CONFIG.yaml OUT_DIR

The package ships no YAML files, so ``CONFIG.yaml`` is our config, rewritten into YOLOv7's row format (the
activation as the sixth ``Conv`` argument, string args evaluated by its parser). Writes ``OUT_DIR/counts.json``
(unfused and fused parameter counts at nc=80) and, with randomised BatchNorm statistics and implicit layers,
``state_dict.pt``, ``input.pt`` and ``output.pt`` (the unfused model's decoded eval output and raw maps), and
``release.pt``: that model saved as YOLOv7's train.py leaves a release file (fp16, class names, classes pickled
under WongKinYiu/yolov7's module paths ``models.yolo`` / ``models.common``) with ``release_output.pt``, the eval
output of those fp16 weights in float32; and ``loss.pt``: the package's ``ComputeLossOTA`` (loss, its parts, the
gradient with respect to each raw map) for the model with 3 classes at 320 px on random raw maps and targets, its
gains scaled as YOLOv7's ``train.py`` does.
"""

import json
import sys
from copy import deepcopy
from pathlib import Path

import torch
import yaml
from loss_inputs import loss_record, random_raw_and_targets, scale_gains
from official_paths import official_module_paths


def reference_rows(cfg: dict) -> dict:
    """Our rows in YOLOv7's format: ``Conv`` rows get ``[c2, k, s, None, 1, <activation>]``, ``None`` and the
    activation as the strings YAML gives for their files."""
    activation = "nn." + cfg.pop("activation") if "activation" in cfg else "True"
    for section in ("backbone", "head"):
        rows = []
        for origin, number, module, args in cfg[section]:
            if module == "Conv":
                c2, kernel, stride = (list(args) + [1, 1])[:3]
                args = [c2, kernel, stride, "None", 1, activation]
            rows.append([origin, number, module, args])
        cfg[section] = rows
    return cfg


def randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics and affine weights, and implicit layers away from 0 and 1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(size, generator=generator) - 0.5)
            elif hasattr(module, "implicit"):
                module.implicit.add_(torch.randn(module.implicit.shape, generator=generator) * 0.5)


def main(config: Path, out_dir: Path) -> None:
    from yolov7_package.models.yolo import Model

    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = reference_rows(yaml.safe_load(config.read_text()))
    torch.manual_seed(0)
    model = Model(cfg, ch=3, nc=80)
    counts = {"params": sum(p.numel() for p in model.parameters())}
    randomise(model)
    torch.save(model.state_dict(), out_dir / "state_dict.pt")
    model.eval()
    image = torch.rand(1, 3, 256, 320, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        decoded, raw = model(image)
    torch.save(image, out_dir / "input.pt")
    torch.save({"decoded": decoded, "raw": raw}, out_dir / "output.pt")
    save_release(model, out_dir)
    with torch.no_grad():  # its IDetect folds in place into parameters
        model.fuse()
    counts["fused_params"] = sum(p.numel() for p in model.parameters())
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=1))
    torch.save(loss_case(reference_rows(yaml.safe_load(config.read_text()))), out_dir / "loss.pt")


def save_release(model: torch.nn.Module, out_dir: Path) -> None:
    """``release.pt`` as their train.py strips a finished run, and the float32 eval output of its fp16 weights."""
    model.names = [f"class{i}" for i in range(model.yaml["nc"])]
    released = deepcopy(model).half()
    checkpoint = {"epoch": -1, "best_fitness": None, "training_results": None, "model": released, "ema": None,
                  "updates": None, "optimizer": None, "wandb_id": None}  # fmt: skip
    with official_module_paths("yolov7_package"):
        torch.save(checkpoint, out_dir / "release.pt")
    image = torch.load(out_dir / "input.pt", weights_only=True)
    with torch.no_grad():
        decoded, _ = deepcopy(released).float().eval()(image)
    torch.save(decoded, out_dir / "release_output.pt")


def loss_case(cfg: dict, classes: int = 3, image_size: int = 320, batch: int = 4, boxes: int = 40) -> dict:
    from yolov7_package.models.yolo import Model
    from yolov7_package.utils.loss import ComputeLossOTA

    torch.manual_seed(0)
    model = Model(cfg, ch=3, nc=classes)
    hyp = {"box": 0.05, "cls": 0.5, "cls_pw": 1.0, "obj": 1.0, "obj_pw": 1.0, "anchor_t": 4.0, "fl_gamma": 0.0}
    model.hyp, model.gr = scale_gains(hyp, model.model[-1].nl, classes, image_size), 1.0
    raw, targets = random_raw_and_targets(batch, classes, image_size, boxes, every_image=True)
    leaves = [r.clone().requires_grad_(True) for r in raw]
    loss, parts = ComputeLossOTA(model)(leaves, targets, torch.zeros(batch, 3, image_size, image_size))
    loss.backward()
    head = model.model[-1]
    return loss_record(head, raw, targets, leaves, loss, parts, classes, image_size, strides=head.stride.clone())


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
