"""Loading ImageNet weights for a backbone from a local file, and the message for an offline download."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import timm
import torch
from torch import nn

from utils.errors import UserError

LOGGER = logging.getLogger(__name__)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``.pth``/``.pt`` state_dict (read with ``weights_only=True``).

    A ``.pth`` that wraps its tensors in ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pretrained weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(f"{path}: not a readable state_dict file ({type(error).__name__}: {error})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise UserError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def load_local_weights(module: nn.Module, path: str | Path, model_name: str) -> int:
    """Copy every tensor of the file ``path`` whose name and shape match ``module``: :func:`load_state`."""
    return load_state(module, read_state_dict(path), str(path), model_name)


def load_state(module: nn.Module, state: dict[str, torch.Tensor], origin: str, model_name: str) -> int:
    """Copy every tensor of ``state`` (read from ``origin``) whose name and shape match ``module``; return how many
    matched, ``num_batches_tracked`` counters not counted.

    Logs the counts of matched, missing, unexpected and shape-mismatched keys. Nothing matching is an error:
    the file belongs to another architecture.
    """
    target = module.state_dict()
    source = _rename_to_target(state, target)
    matched = {k: v for k, v in source.items() if k in target and v.shape == target[k].shape}
    mismatched = [k for k in source if k in target and source[k].shape != target[k].shape]
    counted = [key for key in matched if not key.endswith("num_batches_tracked")]  # a counter alone proves nothing
    if not counted:
        example = next(iter(target), "?")
        raise UserError(
            f"{origin}: none of its {len(source)} tensors match backbone {model_name} "
            f"(expected names like {example!r}); is it a weights file for {model_name}?"
        )
    module.load_state_dict(matched, strict=False)
    tensors = [k for k in target if not k.endswith("num_batches_tracked")]  # counters are not weights
    missing = [k for k in tensors if k not in matched]
    unexpected = [k for k in source if k not in target]
    LOGGER.info(
        "%s: loaded %d/%d backbone tensors from %s (missing %d%s, unexpected %d%s, shape mismatch %d)",
        model_name,
        len(counted),
        len(tensors),
        origin,
        len(missing),
        _examples(missing),
        len(unexpected),
        _examples(unexpected),
        len(mismatched),
    )
    return len(counted)


def _rename_to_target(source: dict[str, torch.Tensor], target: dict) -> dict[str, torch.Tensor]:
    """Map classifier-model key names onto a features_only model's names.

    timm's ``FeatureListNet`` flattens nested module names (``stem.conv1`` becomes ``stem_conv1``), so keys are
    compared with every dot read as an underscore.
    """
    by_flat_name = {key.replace(".", "_"): key for key in target}
    return {by_flat_name.get(key.replace(".", "_"), key): value for key, value in source.items()}


def _examples(keys: list[str], count: int = 3) -> str:
    return f": {', '.join(keys[:count])}{', ...' if len(keys) > count else ''}" if keys else ""


def offline_hint(model_name: str, error: BaseException) -> str:
    """One line explaining a failed download and how to use a local file instead."""
    try:
        hub_id = timm.models.get_pretrained_cfg(model_name).hf_hub_id or model_name
    except Exception:  # unknown pretrained tag: still give the generic advice
        hub_id = model_name
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return (
        f"could not download pretrained weights for backbone {model_name} ({reason[:160]}). "
        f"On a machine with internet, fetch model.safetensors from the Hugging Face repo {hub_id!r} "
        f"and set `pretrained: /path/to/model.safetensors` in the backbone row of the model YAML"
    )


def check_download_possible(model_name: str) -> None:
    """Fail at once, with :func:`offline_hint`, when timm's weights are neither cached nor reachable.

    Without this check the hub client retries for about 45 s before giving up on a machine without internet.
    """
    try:
        hub_id = timm.models.get_pretrained_cfg(model_name).hf_hub_id
    except Exception:  # no pretrained config: let timm report it
        return
    if not hub_id:
        return
    from huggingface_hub import try_to_load_from_cache

    if any(
        isinstance(try_to_load_from_cache(hub_id, name), str) for name in ("model.safetensors", "pytorch_model.bin")
    ):
        return
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        raise UserError(offline_hint(model_name, RuntimeError("HF_HUB_OFFLINE is set")))
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=5).close()
    except OSError as error:
        raise UserError(offline_hint(model_name, RuntimeError(f"cannot reach {host}: {error}"))) from None
