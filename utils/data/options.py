"""``LoaderOptions``: how one split is loaded, built once by the caller and handed whole to the dataset and loader."""

from __future__ import annotations

from dataclasses import dataclass

from utils.bounds import check_image_size, check_number


@dataclass(frozen=True)
class LoaderOptions:
    """Everything :class:`~utils.data.dataset.YoloDataset` and :func:`~utils.data.dataloader.create_dataloader`
    need besides the split's path. Field names are ``train.py`` / ``val.py``'s flags where one exists.

    - ``imgsz``: the long side in pixels; ``stride``: the model's largest stride (rect batch shapes are multiples).
    - ``augment``: mosaic, mixup, perspective, HSV and flips with the probabilities in ``hyp`` (None: the default
      hyp file); ``rect``: each batch at its own aspect-sorted rectangle, ``pad`` stride fractions around it.
    - ``cache``: None, ``"ram"`` or ``"disk"``; ``workers``: loader processes and scan threads (at most).
    - ``shuffle``, ``seed``: sample order and augmentation stream; ``rank`` >= 0 under DDP (its own sampler and seed).
    - ``single_cls``: every label becomes class 0; ``num_classes``: a class id >= it is an error in the label scan.
    - ``prefix``: put before log lines (``"train: "``); ``continuous``: workers that run from one epoch into the next.
    """

    imgsz: int = 640
    batch_size: int = 16
    stride: int = 32
    hyp: dict | None = None
    augment: bool = False
    rect: bool = False
    pad: float = 0.0
    cache: str | None = None
    workers: int = 8
    shuffle: bool = False
    seed: int = 0
    rank: int = -1
    single_cls: bool = False
    num_classes: int | None = None
    prefix: str = ""
    continuous: bool = False

    def __post_init__(self) -> None:
        check_image_size("--imgsz", self.imgsz)
        check_number("--batch-size", self.batch_size, 1, integer=True)
        check_number("--workers", self.workers, 0, integer=True)

    @property
    def rank_seed(self) -> int:
        """The seed of this process's augmentation stream: one per DDP rank, so ranks do not augment alike."""
        return self.seed + max(self.rank, 0)
