"""The ``backbone_recipe`` key of a model YAML: how the trainer treats the backbone's parameters.

A pretrained backbone and a freshly initialised neck and head want different treatment: the head's first gradients
are large and random, and at the full learning rate they wash out the ImageNet features the backbone came with.
Two knobs cover the usual fine-tuning practice::

    backbone_recipe:
      lr_multiplier: 0.1   # the backbone trains at lr0 x 0.1 (warmup and schedule scale with it)
      frozen_epochs: 3     # the backbone is frozen (no gradients, BatchNorm statistics kept) for epochs 0-2

Both are optional; without the key every parameter trains alike, as in YOLOv5. The recipe lives in the model YAML
(not hyp.yaml) because it belongs to the backbone: swapping the backbone swaps its recipe with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from utils.bounds import check_number
from utils.errors import UserError
from utils.suggest import did_you_mean

RECIPE_KEY = "backbone_recipe"
MAX_FROZEN_EPOCHS = 10_000


@dataclass(frozen=True)
class BackboneRecipe:
    """``lr_multiplier`` scales the backbone's learning rate (0 < m <= 10); ``frozen_epochs`` is how many epochs,
    counted from 0, the backbone stays frozen."""

    lr_multiplier: float = 1.0
    frozen_epochs: int = 0

    @property
    def is_default(self) -> bool:
        """True when the recipe changes nothing (all parameters train alike from the first epoch)."""
        return self.lr_multiplier == 1.0 and self.frozen_epochs == 0

    def frozen_at(self, epoch: int) -> bool:
        """Whether the backbone is frozen during ``epoch`` (0-based)."""
        return epoch < self.frozen_epochs

    def describe(self, layers: int) -> str:
        """The log line: what the recipe does to the backbone's ``layers`` layers."""
        frozen = f", frozen for epochs 0-{self.frozen_epochs - 1}" if self.frozen_epochs else ""
        return f"{RECIPE_KEY}: the backbone ({layers} layers) trains at lr0 x {self.lr_multiplier:g}{frozen}"

    def to_dict(self) -> dict:
        return asdict(self)


def read_backbone_recipe(cfg: dict, source: str = "<model dict>") -> BackboneRecipe:
    """The recipe in ``cfg[RECIPE_KEY]`` (the default recipe when absent); a bad value is a UserError naming
    ``source`` and the key."""
    raw = cfg.get(RECIPE_KEY)
    if raw is None:
        return BackboneRecipe()
    where = f"{source}: {RECIPE_KEY}"
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a mapping with keys lr_multiplier and/or frozen_epochs, got {raw!r}")
    known = ("lr_multiplier", "frozen_epochs")
    for key in raw:
        if key not in known:
            hint = did_you_mean(str(key), known)
            raise UserError(f"{where}: unknown key {key!r}{hint} (valid keys: {', '.join(known)})")
    recipe = BackboneRecipe(**raw)
    check_number(f"{where}.lr_multiplier", recipe.lr_multiplier, 0, 10, low_inclusive=False)
    check_number(f"{where}.frozen_epochs", recipe.frozen_epochs, 0, MAX_FROZEN_EPOCHS, integer=True)
    return BackboneRecipe(float(recipe.lr_multiplier), int(recipe.frozen_epochs))
