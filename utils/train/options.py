"""The options of a training run, as ``train.py`` flags and as stored in checkpoints (``opt``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from utils.bounds import check_image_size, check_number


@dataclass
class TrainOptions:
    """Every ``train.py`` flag. Stored in checkpoints as a plain dict, so ``--resume`` can rebuild the run."""

    weights: str = ""
    cfg: str = ""
    data: str = "data/shapes.yaml"
    hyp: str = "configs/hyps/hyp.scratch-low.yaml"
    epochs: int = 100
    batch_size: int = 16
    imgsz: int = 640
    rect: bool = False
    resume: str = ""
    nosave: bool = False
    noval: bool = False
    noautoanchor: bool = False
    noplots: bool = False
    cache: str | None = None
    device: str = ""
    multi_scale: bool = False
    single_cls: bool = False
    optimizer: str = "SGD"
    sync_bn: bool = False
    workers: int = 8
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False
    cos_lr: bool = False
    label_smoothing: float = 0.0
    patience: int = 100
    freeze: list[str] = field(default_factory=list)
    save_period: int = -1
    seed: int = 0
    backbone: str = ""
    nbs: int = 64
    evolve: int | None = None  # generations of hyperparameter evolution (utils/train/evolve.py); None: one run
    save_dir: str = ""

    def __post_init__(self) -> None:
        """Bounds, checked before any file is read or written (a resumed run's stored options too)."""
        check_number("--epochs", self.epochs, 1, integer=True)
        check_number("--batch-size", self.batch_size, 1, integer=True)
        check_image_size("--imgsz", self.imgsz)
        check_number("--workers", self.workers, 0, integer=True)
        check_number("--label-smoothing", self.label_smoothing, 0, 1)
        check_number("--patience", self.patience, 0, integer=True)
        check_number("--nbs", self.nbs, 1, integer=True)
        if self.evolve is not None:
            check_number("--evolve", self.evolve, 1, integer=True)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainOptions:
        """Options from a checkpoint's ``opt``; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
