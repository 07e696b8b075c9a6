"""torch.distributed set-up for runs started by ``torchrun`` (one process per device)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from utils.errors import UserError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run. ``rank`` is -1 when the run is not distributed."""

    rank: int = -1
    local_rank: int = -1
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and logs (rank 0, or the only process)."""
        return self.rank in (-1, 0)

    @property
    def distributed(self) -> bool:
        return self.rank >= 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group that ``torchrun`` describes in RANK / LOCAL_RANK / WORLD_SIZE, if any.

    NCCL on CUDA, gloo on CPU. Each CUDA process takes the GPU of its local rank.
    """
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"torchrun started {world_size} processes but only {torch.cuda.device_count()} GPUs")
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size)


def process_device(device: torch.device, info: DistInfo) -> torch.device:
    """The device this process trains on: its local GPU under DDP on CUDA, else ``device``."""
    return torch.device("cuda", info.local_rank) if info.distributed and device.type == "cuda" else device


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """Rank 0's value of ``flag`` on every rank (used to stop all ranks together)."""
    if not info.distributed:
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor([int(flag)], device=device)
    dist.broadcast(tensor, 0)
    return bool(tensor.item())


def cleanup(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
