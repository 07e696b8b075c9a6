"""Reading the project's YAML files (models, datasets, hyperparameters) with one-line errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from utils.errors import UserError


def read_yaml_mapping(path: str | Path, what: str) -> dict:
    """The mapping in the YAML file ``path``; ``what`` ("dataset YAML", ...) names the file in errors.

    Raises :class:`UserError` for a missing file, invalid YAML, or a document that is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path}: invalid YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping in this {what}, found {type(data).__name__}")
    return data
