"""The ``Backbone`` rows of a model YAML dict: finding them, swapping the backbone's name, turning off pretraining.

A Backbone row is ``[from, number, "Backbone", [name]]`` or ``[from, number, "Backbone", [name, {options}]]`` in the
``backbone`` list. These functions read and return plain dicts (the YAML as loaded); none builds a model.
"""

from __future__ import annotations

import copy

from utils.errors import UserError


def backbone_rows(model_yaml: dict) -> list[list]:
    """The Backbone rows of ``model_yaml["backbone"]``, as the same list objects (editing one edits the dict)."""
    return [
        row
        for row in model_yaml.get("backbone", [])
        if isinstance(row, list) and len(row) == 4 and row[2] == "Backbone" and isinstance(row[3], list) and row[3]
    ]


def with_backbone(model_yaml: dict, name: str, source: str) -> dict:
    """A copy of ``model_yaml`` whose Backbone row names ``name`` (``train.py --backbone``); ``source`` names the
    YAML in the error raised when it has no Backbone row."""
    cfg = copy.deepcopy(model_yaml)
    rows = backbone_rows(cfg)
    if not rows:
        raise UserError(
            f"--backbone {name}: {source} has no Backbone row; use a pluggable config such as "
            "configs/models/yolov5s-efficientnet-b0.yaml"
        )
    for row in rows:
        row[3][0] = name
    return cfg


def without_pretrained(model_yaml: dict) -> dict:
    """A copy of ``model_yaml`` whose Backbone rows have ``pretrained: false`` (the weights come from a checkpoint)."""
    cfg = copy.deepcopy(model_yaml)
    for row in backbone_rows(cfg):
        if len(row[3]) == 2 and isinstance(row[3][1], dict):
            row[3][1] = {**row[3][1], "pretrained": False}
    return cfg
