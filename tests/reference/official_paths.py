"""Pickle a reference package's model classes under the module paths of the repository it packages.

The PyPI packages move the code: ``yolov5.models.yolo`` (the ``yolov5`` package), ``yolov7_package.models.yolo``
(``yolov7-package``); release checkpoints of ultralytics/yolov5 and WongKinYiu/yolov7 name ``models.yolo`` and
``models.common``. Runs inside the reference venv only.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def official_module_paths(package: str) -> Iterator[None]:
    """While open, ``torch.save`` names ``<package>.models.{yolo,common}`` classes ``models.{yolo,common}``."""
    prefix = f"{package}."
    modules = {name: importlib.import_module(prefix + name) for name in ("models", "models.yolo", "models.common")}
    saved_modules = {name: sys.modules.get(name) for name in modules}
    renamed = []
    for module in (modules["models.yolo"], modules["models.common"]):
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__:
                renamed.append((value, value.__module__))
                value.__module__ = module.__name__.removeprefix(prefix)
    sys.modules.update(modules)
    try:
        yield
    finally:
        for cls, name in renamed:
            cls.__module__ = name
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
