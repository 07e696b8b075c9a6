"""A restricted unpickler for ``.pt`` files: tensors and plain data, and pickled modules as inert records.

Pickle runs whatever callable a file names; the only place a file can name one is :meth:`Unpickler.find_class`
(``GLOBAL``, ``STACK_GLOBAL``, ``INST``, ``OBJ`` and the extension registry all go through it). Ours answers from
three lists and refuses everything else with :class:`UnsafePickleError` naming the class, before it is imported:

- :data:`SAFE_CALLABLES`: torch's tensor and parameter rebuilders, ``collections.OrderedDict``, numpy's array and
  scalar rebuilders, sets, paths. Each builds data from data and calls nothing it is handed except other objects
  that went through this method.
- torch dtypes (``torch.float16``), which torch pickles as globals.
- module classes (``record_classes``): mapped to :class:`ModuleRecord` subclasses. Unpickling such an object runs no
  code of the original class; its ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, plain attributes) is
  kept as data for :func:`record_state_dict`.

:func:`restricted_torch_load` hands a configured :class:`Unpickler` to ``torch.load`` as its ``pickle_module``; torch
only adds its storage lookup and ``persistent_load`` on top of it.
"""

from __future__ import annotations

import importlib
import pickle
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from pathlib import Path
from typing import IO, Any

import torch

__all__ = ["ModuleRecord", "UnsafePickleError", "Unpickler", "record_state_dict", "restricted_torch_load"]

# (module, name) -> where the real object lives, as "module:attribute". Aliases cover numpy 1.x/2.x and old torch.
SAFE_CALLABLES: dict[tuple[str, str], str] = {
    ("collections", "OrderedDict"): "collections:OrderedDict",
    ("builtins", "set"): "builtins:set",
    ("builtins", "frozenset"): "builtins:frozenset",
    ("builtins", "bytearray"): "builtins:bytearray",
    ("builtins", "complex"): "builtins:complex",
    ("_codecs", "encode"): "_codecs:encode",  # protocol 2 writes bytes as encode(str, 'latin1')
    ("torch._utils", "_rebuild_tensor"): "torch._utils:_rebuild_tensor",
    ("torch._utils", "_rebuild_tensor_v2"): "torch._utils:_rebuild_tensor_v2",
    ("torch._utils", "_rebuild_tensor_v3"): "torch._utils:_rebuild_tensor_v3",
    ("torch._utils", "_rebuild_parameter"): "torch._utils:_rebuild_parameter",
    ("torch._utils", "_rebuild_parameter_with_state"): "torch._utils:_rebuild_parameter_with_state",
    ("torch._tensor", "_rebuild_from_type_v2"): "torch._tensor:_rebuild_from_type_v2",
    ("torch._tensor", "Tensor"): "torch:Tensor",
    ("torch", "Tensor"): "torch:Tensor",
    ("torch.nn.parameter", "Parameter"): "torch.nn.parameter:Parameter",
    ("torch", "Size"): "torch:Size",
    ("torch", "device"): "torch:device",
    ("pathlib", "PosixPath"): "pathlib:PurePosixPath",  # pure paths: no file system access, loadable anywhere
    ("pathlib", "WindowsPath"): "pathlib:PureWindowsPath",
    ("pathlib", "PurePosixPath"): "pathlib:PurePosixPath",
    ("pathlib", "PureWindowsPath"): "pathlib:PureWindowsPath",
    ("argparse", "Namespace"): "argparse:Namespace",
}
for _core in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1.x writes the first, 2.x the second
    SAFE_CALLABLES[(_core, "_reconstruct")] = "numpy._core.multiarray:_reconstruct"
    SAFE_CALLABLES[(_core, "scalar")] = "numpy._core.multiarray:scalar"
SAFE_CALLABLES[("numpy", "ndarray")] = "numpy:ndarray"
SAFE_CALLABLES[("numpy", "dtype")] = "numpy:dtype"


class UnsafePickleError(pickle.UnpicklingError):
    """The file names a global outside the allowed lists; nothing of it was imported or run."""


class ModuleRecord:
    """A pickled ``nn.Module`` as data: ``class_path`` names the original class, ``attributes`` holds its state.

    Subclasses are made per class path by :func:`record_class`; unpickling one only stores its state.
    """

    class_path: str = ""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise UnsafePickleError(f"{self.class_path}: expected a dict of attributes, got {type(state).__name__}")
        self.attributes = dict(state)

    def get(self, name: str, default: Any = None) -> Any:
        """One attribute of the original object (``yaml``, ``names``, ``stride``...), or ``default``."""
        return getattr(self, "attributes", {}).get(name, default)

    def __repr__(self) -> str:
        return f"<record of {self.class_path}>"


_RECORD_CLASSES: dict[str, type[ModuleRecord]] = {}


def record_class(class_path: str) -> type[ModuleRecord]:
    """The :class:`ModuleRecord` subclass standing in for ``class_path`` (one per path, so records compare)."""
    if class_path not in _RECORD_CLASSES:
        name = class_path.rsplit(".", 1)[-1]
        _RECORD_CLASSES[class_path] = type(name, (ModuleRecord,), {"class_path": class_path, "__module__": __name__})
    return _RECORD_CLASSES[class_path]


def _resolve(target: str) -> Any:
    module_name, attribute = target.split(":")
    if module_name == "numpy._core.multiarray":
        try:
            importlib.import_module(module_name)
        except ImportError:  # numpy 1.x
            module_name = "numpy.core.multiarray"
    return getattr(importlib.import_module(module_name), attribute)


class Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only allowed globals (see the module docstring).

    ``record_classes``: the module class paths (``"models.common.Conv"``) to load as :class:`ModuleRecord` s; the
    default is none. ``refusal_hint`` is appended to the refusal message.
    """

    def __init__(self, file: IO[bytes], *args, record_classes: frozenset[str] = frozenset(), refusal_hint: str = "",
                 **kwargs) -> None:  # fmt: skip
        super().__init__(file, *args, **kwargs)
        self.record_classes = record_classes
        self.refusal_hint = refusal_hint

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in NAME_MAPPING:  # Python 2 names in protocol 2 pickles ("__builtin__ set")
            module, name = NAME_MAPPING[(module, name)]
        module = IMPORT_MAPPING.get(module, module)
        path = f"{module}.{name}"
        if (module, name) in SAFE_CALLABLES:
            return _resolve(SAFE_CALLABLES[(module, name)])
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if path in self.record_classes:
            return record_class(path)
        hint = f" ({self.refusal_hint})" if self.refusal_hint else ""
        raise UnsafePickleError(f"refused to load {path}: not a class or function this loader allows{hint}")


def restricted_torch_load(
    path: str | Path, map_location: str | torch.device = "cpu", record_classes: frozenset[str] = frozenset(),
    refusal_hint: str = "",
) -> Any:  # fmt: skip
    """``torch.load`` of ``path`` with every global checked by :class:`Unpickler`.

    torch's own ``weights_only`` unpickler cannot turn module classes into records, so this passes a pickle module
    instead; torch then uses it as given (its ``weights_only`` check applies only to its own unpickler), and safety
    rests on :meth:`Unpickler.find_class` alone. TorchScript archives are refused: ``torch.load`` would hand them
    to ``torch.jit.load``.
    """
    if _is_torchscript(path):
        raise UnsafePickleError("a TorchScript archive, not a checkpoint (pass it to detect.py as .torchscript)")

    class _Configured(Unpickler):
        def __init__(self, file, *args, **kwargs):
            super().__init__(file, *args, record_classes=record_classes, refusal_hint=refusal_hint, **kwargs)

    module = _PickleModule(_Configured)
    return torch.load(path, map_location=map_location, pickle_module=module)


class _PickleModule:
    """The two names ``torch.load`` reads from a ``pickle_module``, bound to one configured unpickler."""

    __name__ = __name__  # torch compares it with "dill"

    def __init__(self, unpickler: type[Unpickler]) -> None:
        self.Unpickler = unpickler

    def load(self, file: IO[bytes], **kwargs) -> Any:  # torch reads legacy-format headers with it
        return self.Unpickler(file, **kwargs).load()


def _is_torchscript(path: str | Path) -> bool:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/constants.pkl") or name == "constants.pkl" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def record_state_dict(record: ModuleRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors ``nn.Module.state_dict()`` would give for the pickled module ``record``, with the same names:
    parameters, then persistent buffers, then each child's under ``name.``; ``None`` entries skipped."""
    state: dict[str, torch.Tensor] = {}
    non_persistent = record.get("_non_persistent_buffers_set") or set()
    for name, value in (record.get("_parameters") or {}).items():
        if value is not None:
            state[prefix + name] = value.detach()
    for name, value in (record.get("_buffers") or {}).items():
        if value is not None and name not in non_persistent:
            state[prefix + name] = value.detach()
    for name, child in (record.get("_modules") or {}).items():
        if isinstance(child, ModuleRecord):
            state.update(record_state_dict(child, f"{prefix}{name}."))
        elif child is not None:
            raise UnsafePickleError(f"{record.class_path}: child {name!r} is {type(child).__name__}, not a module")
    return state
