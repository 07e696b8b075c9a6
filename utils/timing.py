"""Wall-clock laps that count GPU work where it happens (CUDA runs asynchronously, so each lap synchronises first)."""

from __future__ import annotations

import time


class LapClock:
    """Seconds between successive :meth:`lap` calls (the first lap counts from construction) on ``device`` (a
    ``torch.device`` or its name; torch is imported only for a CUDA device, so the torch-free path can time too)."""

    def __init__(self, device: object) -> None:
        self.cuda = str(device).startswith("cuda")
        self.device = device
        self.last = self._now()

    def _now(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def lap(self) -> float:
        now = self._now()
        elapsed, self.last = now - self.last, now
        return elapsed
