"""Class names as a list (index = class id), from the forms checkpoints and model files store them in."""

from __future__ import annotations

from pathlib import Path

from utils.errors import UserError


def names_list(names: object, source: str | Path) -> list[str]:
    """``['person', ...]`` from a list or tuple, or from a dict keyed ``0..n-1`` (ints, or their text as JSON
    metadata has them: ``{"0": "person"}``), as YOLOv5 v6.x / v7.0 and exported files store names. ``None`` gives
    ``[]``; anything else, or a dict with other keys, raises :class:`UserError` naming ``source``."""
    if names is None:
        return []
    if isinstance(names, (list, tuple)):
        return [str(name) for name in names]
    if not isinstance(names, dict):
        raise UserError(f"{source}: class names must be a list or a dict, found {type(names).__name__}")
    try:
        keyed = {int(key): name for key, name in names.items()}
    except (TypeError, ValueError):
        keyed = {}
    if sorted(keyed) != list(range(len(names))):
        raise UserError(f"{source}: class names must be keyed 0..{len(names) - 1}, got keys {list(names)[:5]}")
    return [str(keyed[index]) for index in range(len(keyed))]
