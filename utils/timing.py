"""Wall-clock laps that count GPU work where it happens (CUDA runs asynchronously, so each lap synchronises first)."""

from __future__ import annotations

import time

import torch


class LapClock:
    """Seconds between successive :meth:`lap` calls (the first lap counts from construction) on ``device``."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.last = self._now()

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def lap(self) -> float:
        now = self._now()
        elapsed, self.last = now - self.last, now
        return elapsed
