import pytest
import yaml

from models.backbones.rows import backbone_rows, with_backbone, without_pretrained
from models.yolo import CONFIG_DIR
from utils.errors import UserError


def test_with_backbone_replaces_only_the_name():
    cfg = yaml.safe_load((CONFIG_DIR / "yolov5s-efficientnet-b0.yaml").read_text())
    swapped = with_backbone(cfg, "timm:resnet18", "b0.yaml")
    assert swapped["backbone"][0][3][0] == "timm:resnet18"
    assert swapped["backbone"][0][3][1] == cfg["backbone"][0][3][1]
    assert cfg["backbone"][0][3][0] == "efficientnet_b0"  # the input is not modified
    with pytest.raises(UserError, match="no Backbone row"):
        with_backbone(yaml.safe_load((CONFIG_DIR / "yolov5n.yaml").read_text()), "darknet53", "yolov5n.yaml")


def test_without_pretrained_turns_off_only_the_flag():
    cfg = {"backbone": [[-1, 1, "Backbone", ["efficientnet_b0", {"pretrained": True, "freeze": True}]],
                        [0, 1, "Index", [0]]]}  # fmt: skip
    stripped = without_pretrained(cfg)
    assert stripped["backbone"][0][3][1] == {"pretrained": False, "freeze": True}
    assert cfg["backbone"][0][3][1]["pretrained"] is True  # the input is not modified
    assert len(backbone_rows(stripped)) == 1
    assert backbone_rows(yaml.safe_load((CONFIG_DIR / "yolov5n.yaml").read_text())) == []
