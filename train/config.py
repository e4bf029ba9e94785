"""The training configuration: one frozen dataclass whose fields map 1:1 to `catdog-train` flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

# From random weights; train/init.py has the fine-tuning defaults used with --init.
SCRATCH_EPOCHS = 80
SCRATCH_LEARNING_RATE = 2e-3
MIN_PATIENCE = 5


@dataclass(frozen=True)
class TrainConfig:
    """How one training run is made; written into the model card so it can be repeated."""

    data: Path
    out: Optional[Path] = None  # None: runs/<the --data folder's name>, so each dataset gets its own run
    epochs: Optional[int] = None  # None: 80, or INIT_EPOCHS with --init (fine-tuning needs fewer)
    batch_size: int = 64  # the global batch; with several replicas each gets batch_size // replicas
    seed: int = 42
    val_split: float = 0.1
    val: Optional[Path] = None
    resume: bool = False
    force: bool = False  # replace an earlier run in `out` instead of refusing
    learning_rate: Optional[float] = None  # None: 2e-3, or INIT_LEARNING_RATE with --init
    weight_decay: float = 0.02
    warmup_epochs: int = 3
    label_smoothing: float = 0.05
    patience: Optional[int] = None  # None: half of --epochs (at least 5), so a short run is not cut at its start
    augment: bool = True
    strategy: str = "default"
    cache: str = "memory"
    cache_dir: Optional[Path] = None
    image_size: tuple[int, int] = (64, 64)  # (height, width); the shipped default's size
    # Quality levers (issue 14). Training photos are decoded once at cache_scale x image_size;
    # crop_area > 0 draws random-resized crops of [crop_area, 1] of each cached photo's area
    # instead of the zoom-and-shift warp; mixup > 0 blends each batch with itself reversed; ema
    # validates and keeps an exponential moving average of the weights (Keras's optimizer `use_ema`).
    cache_scale: float = 1.0
    crop_area: float = 0.0
    # antialias samples each crop at the cache's resolution, then shrinks it with an antialiasing
    # filter, as the runtime's Pillow resize shrinks a photo (benchmarks/sharpness_mismatch.py).
    antialias: bool = False
    mixup: float = 0.0  # mixup's Beta(alpha, alpha) parameter; 0 is off (see train/augment.py)
    ema: bool = False
    ema_momentum: float = 0.995  # per step: an average over about 200 steps, ~2 epochs of the default data
    # Knowledge distillation: model.keras files of the same classes; their mean probability for
    # the same crops makes up distill_weight of the training targets (see train/distill.py).
    teacher: tuple[Path, ...] = ()
    distill_weight: float = 0.5
    # Stochastic weight averaging over the last swa_epochs epochs, at a constant swa_learning_rate
    # (see train/swa.py); 0 is off.
    swa_epochs: int = 0
    swa_learning_rate: float = 2e-4  # a tenth of the default peak rate
    # Transfer learning (issue 28): an earlier catdog model whose backbone (and head, for the same
    # labels) starts this run; see train/init.py.
    init: Optional[Path] = None

    @property
    def cache_size(self) -> tuple[int, int]:
        """(height, width) at which the training photos are decoded and cached."""
        return tuple(max(side, round(side * self.cache_scale)) for side in self.image_size)

    def __post_init__(self) -> None:
        # Any iterable of paths (click's `multiple` gives a tuple; one path is one teacher).
        teachers = (self.teacher,) if isinstance(self.teacher, (str, Path)) else (self.teacher or ())
        object.__setattr__(self, "teacher", tuple(Path(path) for path in teachers))
        from catdog.train.init import INIT_EPOCHS, INIT_LEARNING_RATE

        if self.init is not None:
            object.__setattr__(self, "init", Path(self.init))
        if self.epochs is None:
            object.__setattr__(self, "epochs", INIT_EPOCHS if self.init else SCRATCH_EPOCHS)
        if self.patience is None:
            object.__setattr__(self, "patience", max(MIN_PATIENCE, self.epochs // 2))
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", INIT_LEARNING_RATE if self.init else SCRATCH_LEARNING_RATE)
        if self.out is None:
            object.__setattr__(self, "out", Path("runs") / (Path(self.data).resolve().name or "run"))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with paths as strings."""
        from catdog.provenance import describe_path

        def plain(value):
            if isinstance(value, Path):  # never the machine's layout: cards travel (catdog.provenance)
                return describe_path(value)
            return tuple(plain(item) for item in value) if isinstance(value, tuple) else value

        return {key: plain(value) for key, value in dataclasses.asdict(self).items()}
