"""Model YAML -> layers.

A model YAML holds ``nc``, ``depth_multiple``, ``width_multiple``, ``anchors`` and two lists of rows,
``backbone`` and ``head``, each row ``[from, number, module, args]`` as in YOLOv5. ``from`` is -1 (previous
layer), a layer index, or a list of them. Strings in ``args`` that name a top-level key (``nc``, ``anchors``)
are replaced by its value and ``None`` by None; nothing is evaluated.
"""

from __future__ import annotations

import logging

from torch import nn

from models.activations import ACTIVATION_KEY, activation_factory, replace_conv_activations
from models.backbones import Backbone, Index
from models.common import C3, SPPF, Bottleneck, Concat, Conv, ModelScale, Upsample
from models.head import Detect
from models.recipe import RECIPE_KEY, read_backbone_recipe
from models.yolov7_blocks import MP, SP, SPPCSPC, IDetect, RepConv
from utils.bounds import check_number
from utils.errors import UserError
from utils.suggest import did_you_mean

LOGGER = logging.getLogger(__name__)

MODULES: dict[str, type[nn.Module]] = {
    "Conv": Conv,
    "Bottleneck": Bottleneck,
    "C3": C3,
    "SPPF": SPPF,
    "Concat": Concat,
    "nn.Upsample": Upsample,
    "Upsample": Upsample,
    "Backbone": Backbone,
    "Index": Index,
    "Detect": Detect,
    "MP": MP,
    "SP": SP,
    "SPPCSPC": SPPCSPC,
    "RepConv": RepConv,
    "IDetect": IDetect,
}
REQUIRED_KEYS = ("nc", "depth_multiple", "width_multiple", "anchors", "backbone", "head")
OPTIONAL_KEYS = ("ch", ACTIVATION_KEY, RECIPE_KEY)
MAX_CLASSES = 100_000
MAX_MULTIPLE = 8.0  # yolov5x uses depth 1.33 and width 1.25; 8 already means ~60x yolov5s's parameters


def check_model_yaml(cfg: dict, source: str) -> None:
    """Reject missing or unknown top-level keys with a message naming ``source``."""
    if not isinstance(cfg, dict):
        raise UserError(f"{source}: expected a mapping with keys {', '.join(REQUIRED_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in cfg]
    if missing:
        raise UserError(f"{source}: missing key {missing[0]!r} (a model YAML needs {', '.join(REQUIRED_KEYS)})")
    unknown = [key for key in cfg if key not in REQUIRED_KEYS + OPTIONAL_KEYS]
    if unknown:
        valid = REQUIRED_KEYS + OPTIONAL_KEYS
        hint = did_you_mean(str(unknown[0]), valid)
        raise UserError(f"{source}: unknown key {unknown[0]!r}{hint} (valid keys: {', '.join(valid)})")
    check_number(f"{source}: nc", cfg["nc"], 1, MAX_CLASSES, integer=True)
    read_backbone_recipe(cfg, source)
    if cfg.get(ACTIVATION_KEY) is not None:
        activation_factory(cfg[ACTIVATION_KEY], source)
    for key in ("depth_multiple", "width_multiple"):  # 0 or less builds nothing; far above 1 exhausts memory
        check_number(f"{source}: {key}", cfg[key], 0, MAX_MULTIPLE, low_inclusive=False)


def parse_model(
    cfg: dict, in_channels: int = 3, source: str = "<model dict>", verbose: bool = True
) -> tuple[nn.Sequential, list[int]]:
    """Build the layers of ``cfg``.

    Returns ``(layers, save)``: an ``nn.Sequential`` whose layers carry ``i`` (index), ``f`` (from), ``type``
    (YAML module name), ``np`` (parameter count) and ``out_strides`` (output stride in input pixels, a list for
    list outputs, None where some layer cannot tell), and the sorted indices of layers whose outputs later
    layers read. Errors name ``source``, the section, the row and the problem. ``verbose`` logs the layer table.

    Channels and strides flow the same way: each layer gets its inputs' values and computes its own (``out_channels``
    at construction, ``output_stride(in_strides)`` after); a layer whose input stride is unknown has none either.
    """
    check_model_yaml(cfg, source)
    scale = ModelScale(cfg["depth_multiple"], cfg["width_multiple"])
    symbols = {"nc": cfg["nc"], "anchors": cfg["anchors"], "None": None}
    rows = _rows(cfg, source)
    channels: list = [in_channels]  # channels[i + 1] is the output of layer i; channels[0] the image
    strides: list = [1]  # the same for output strides in input pixels
    layers, save = [], set()
    log = LOGGER.info if verbose else LOGGER.debug
    log("%3s %18s %3s %10s  %-28s %-30s", "", "from", "n", "params", "module", "arguments")
    for index, (section, row_number, row) in enumerate(rows):
        where = f"{source}: {section} row {row_number} (layer {index})"
        origin, number, name, args = _check_row(row, index, where)
        args = [symbols.get(a, a) if isinstance(a, str) else a for a in args]
        inputs = _inputs(channels, origin), _inputs(strides, origin)
        layer = _build(MODULES[name], *inputs, args, scale.depth(number), scale, where)
        layer.i, layer.f, layer.type = index, origin, name
        layer.np = sum(p.numel() for p in layer.parameters())
        log("%3s %18s %3s %10s  %-28s %-30s", index, origin, scale.depth(number), f"{layer.np:,}", name, args)
        save.update(j for j in ([origin] if isinstance(origin, int) else origin) if j != -1)
        layers.append(layer)
        channels.append(layer.out_channels)
        strides.append(layer.out_strides)
    model = nn.Sequential(*layers)
    if cfg.get(ACTIVATION_KEY) is not None:  # this model's Conv blocks only: nothing process-wide changes
        replace_conv_activations(model, activation_factory(cfg[ACTIVATION_KEY], source), (Conv, RepConv))
    return model, sorted(save)


def _rows(cfg: dict, source: str) -> list[tuple[str, int, list]]:
    rows = []
    for section in ("backbone", "head"):
        if not isinstance(cfg[section], list):
            raise UserError(f"{source}: {section!r} must be a list of [from, number, module, args] rows")
        rows += [(section, n, row) for n, row in enumerate(cfg[section])]
    return rows


def _check_row(row: object, index: int, where: str) -> tuple[int | list[int], int, str, list]:
    if not isinstance(row, list) or len(row) != 4:
        raise UserError(f"{where}: expected [from, number, module, args], got {row!r}")
    origin, number, name, args = row
    sources = [origin] if isinstance(origin, int) and not isinstance(origin, bool) else origin
    if not isinstance(sources, list) or not sources or not all(isinstance(j, int) for j in sources):
        raise UserError(f"{where}: 'from' must be an int or a list of ints, got {origin!r}")
    for j in sources:
        if j != -1 and not (0 <= j < index or -index <= j < -1):
            raise UserError(f"{where}: 'from' index {j} must name an earlier layer: 0..{index - 1}, or -1..-{index} "
                            "counting back from this row")  # fmt: skip
    # -2, -3, ... count back from this row (YOLOv7's YAMLs); stored as layer indices, -1 kept for "previous"
    absolute = [j if j >= -1 else index + j for j in sources]
    origin = absolute[0] if isinstance(origin, int) else absolute
    if not isinstance(number, int) or number < 1:
        raise UserError(f"{where}: 'number' must be a positive int, got {number!r}")
    if name not in MODULES:
        raise UserError(f"{where}: unknown module {name!r}{did_you_mean(name, MODULES)} (known: {', '.join(MODULES)})")
    if not isinstance(args, list):
        raise UserError(f"{where}: 'args' must be a list, got {args!r}")
    return origin, number, name, args


def _inputs(outputs: list, origin: int | list[int]):
    """The entries of ``outputs`` (the image's, then one per layer) that a row's ``from`` names."""
    output_of = lambda j: outputs[-1] if j == -1 else outputs[j + 1]  # noqa: E731
    return output_of(origin) if isinstance(origin, int) else [output_of(j) for j in origin]


def _build(
    module: type[nn.Module], in_channels, in_strides, args: list, number: int, scale: ModelScale, where: str
) -> nn.Module:
    """The row's layer, with ``out_strides`` set: None if an input's stride is unknown or the layer cannot tell."""
    try:
        layer = module.from_config(in_channels, args, number, scale)
        known = None not in (in_strides if isinstance(in_strides, list) else [in_strides])
        layer.out_strides = layer.output_stride(in_strides) if known and hasattr(layer, "output_stride") else None
        return layer
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    except (TypeError, IndexError, ValueError) as error:
        raise UserError(f"{where}: wrong args {args!r} for {module.__name__}: {error}") from None
