"""Where training stands (``TrainState``, stored in every checkpoint's ``progress``) and what
the trainer reports after each step and each epoch (``StepReport``, ``EpochReport``)."""

from dataclasses import asdict, dataclass, field


@dataclass
class TrainState:
    """Where training stands; stored in every checkpoint's ``progress``."""

    epoch: int = 0  # epochs completed
    window: int = 0  # next window of the current epoch
    step: int = 0  # parameter updates so far
    lr: float = 0.0
    best_valid_ppl: float | None = None  # of best.npz, over every validation
    plateau_ppl: float | None = None  # best at an epoch's end: drives the lr schedule
    epoch_nll: float = 0.0  # summed over the current epoch so far
    epoch_tokens: int = 0
    epoch_seconds: float = 0.0
    tokens_seen: int = 0
    seconds: float = 0.0  # training + evaluation wall time, all epochs
    finished: bool = False  # all epochs done, or stopped early (``patience``)
    stale_epochs: int = 0  # epoch ends in a row not better than plateau_ppl (for --patience)
    rng: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StepReport:
    epoch: int
    window: int
    windows: int
    step: int
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    epoch_seconds: float  # training time so far in this epoch


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    step: int
    train_loss: float
    train_ppl: float
    valid_loss: float
    valid_ppl: float
    lr: float
    tokens_per_s: float
    seconds: float
    best_valid_ppl: float
    improved: bool
    partial: bool
    tokens_seen: int  # training tokens so far, all epochs
    wall_seconds: float  # training and validation time so far, all epochs
    # comparable across units (docs/metrics.md); None when the text's counts are unknown
    valid_bits_per_char: float | None = None
    valid_word_ppl: float | None = None

    def record(self) -> dict:
        return {"kind": "epoch", **asdict(self)}
