"""Configuration: what defines a model and how it is trained; both are stored in checkpoints.

The defaults are the PTB recipe that ``rnnlm train ptb`` runs (see the README for what it reaches).
"""

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from rnnlm.errors import ConfigError

CELLS = ("rnn", "lstm", "gru")
UNITS = ("word", "char")
OPTIMIZER_NAMES = ("sgd", "adam")
LOSSES = ("mean", "time-sum")
SOFTMAXES = ("full", "class")
MAX_INIT_SCALE = 10.0  # new runs: uniform ±s beyond this saturates or overflows float32


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's shapes (the vocabulary lives beside it)."""

    vocab_size: int  # V, including <unk> (and <eos> at word level)
    embed_dim: int = 256  # D
    hidden: int = 256  # H
    cell: str = "rnn"  # rnn (the seed's tanh RNN) | lstm | gru
    layers: int = 1  # stacked recurrent layers
    dropout: float = 0.3  # before every recurrent layer and after the last (non-recurrent)
    variational_dropout: bool = False  # one dropout mask per sequence, shared by all T steps
    weight_drop: float = 0.0  # DropConnect on each recurrent matrix Wh, one mask per window
    tie_weights: bool = False  # output matrix = embedding matrix transposed (needs D = H)
    init_scale: float = 0.0  # > 0: every parameter uniform in ±init_scale; 0: per-layer default
    softmax: str = "full"  # full | class (factored by word frequency classes, exact probabilities)
    class_bounds: tuple[int, ...] = ()  # class softmax: first id of each class, then V

    def validate(self) -> None:
        _positive(self, "vocab_size", "embed_dim", "hidden", "layers")
        from rnnlm.nn.cells import CELLS  # the registry, read at call time (cells may be added)

        if self.cell not in CELLS:
            raise ConfigError(f"unknown cell '{self.cell}' (choose from: {', '.join(CELLS)})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.weight_drop < 1.0:
            raise ConfigError(f"--weight-drop must be in [0, 1), got {self.weight_drop}")
        if not 0.0 <= self.init_scale < math.inf:
            raise ConfigError(
                f"--init-scale must be a number >= 0 (0: per-layer default), got {self.init_scale}"
            )
        if self.softmax not in SOFTMAXES:
            raise ConfigError(
                f"unknown --softmax '{self.softmax}' (choose from: {', '.join(SOFTMAXES)})"
            )
        if self.softmax == "class":
            b = list(self.class_bounds)
            ints = all(isinstance(x, int) and not isinstance(x, bool) for x in b)
            if (
                not ints
                or len(b) < 2
                or b[0] != 0
                or b[-1] != self.vocab_size
                or b != sorted(set(b))
            ):
                raise ConfigError("class softmax needs class bounds 0 < ... < vocab size")
        if self.tie_weights and self.embed_dim != self.hidden:
            raise ConfigError(
                "--tie-weights needs --embed-dim = --hidden "
                f"(got {self.embed_dim} and {self.hidden})"
            )


@dataclass(frozen=True)
class TrainConfig:
    """How to train: stateful truncated BPTT with SGD and global-norm clipping."""

    batch_size: int = 20  # N parallel streams through the corpus
    bptt: int = 35  # T steps per window; gradients are cut at window edges
    epochs: int = 10
    optimizer: str = "adam"  # adam | sgd (a tanh RNN diverges with the SGD lr 20 LSTMs like)
    lr: float = 0.002  # applies to the gradient of the mean loss over the N·T tokens of a window
    clip: float = 0.25  # global gradient-norm clip; 0 disables it
    loss: str = "mean"  # mean over the N·T tokens | time-sum: summed over T, mean over N (Zaremba)
    lr_decay: float = 4.0  # divide lr by this when validation perplexity does not improve ...
    decay_after: int = 0  # ... or, if > 0, after every epoch past this one (Zaremba's schedule)
    ema: float = 0.0  # > 0: validate, test and keep as best an average of the weights, this decay
    seed: int = 1234
    max_steps: int = 0  # stop after this many updates (0: no limit)
    patience: int = 0  # stop after this many epochs without a better validation (0: never)
    log_every: int = 0  # also log a step record to metrics.jsonl every this many steps (0: off)
    save_every: int = 0  # write a resumable last.npz every this many steps (0: every 5 minutes)
    eval_batch_size: int = 1  # streams at evaluation; 1 scores every token in order
    eval_bptt: int = 128  # window at evaluation (no gradient: any length gives the same result)

    def validate(self) -> None:
        _positive(self, "batch_size", "bptt", "epochs", "eval_batch_size", "eval_bptt")
        if self.optimizer not in OPTIMIZER_NAMES:
            raise ConfigError(
                f"unknown optimizer '{self.optimizer}' (choose from: {', '.join(OPTIMIZER_NAMES)})"
            )
        if not (self.lr > 0.0 and self.lr < float("inf")):
            raise ConfigError(f"--lr must be a positive finite number, got {self.lr}")
        if not (self.clip >= 0.0 and self.clip < float("inf")):
            raise ConfigError(f"--clip must be >= 0 (0 disables clipping), got {self.clip}")
        if not self.lr_decay >= 1.0:
            raise ConfigError(f"--lr-decay must be >= 1, got {self.lr_decay}")
        if not 0.0 <= self.ema < 1.0:
            raise ConfigError(f"--ema must be in [0, 1) (0: off), got {self.ema}")
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown --loss '{self.loss}' (choose from: {', '.join(LOSSES)})")
        if self.decay_after < 0:
            raise ConfigError(f"--decay-after must be >= 0, got {self.decay_after}")
        for name in ("max_steps", "decay_after", "log_every", "save_every", "seed", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be a whole number, got {value!r}"
                )
        if self.max_steps < 0:
            raise ConfigError(f"--max-steps must be >= 0, got {self.max_steps}")
        if self.log_every < 0:
            raise ConfigError(f"--log-every must be >= 0, got {self.log_every}")
        if self.save_every < 0:
            raise ConfigError(f"--save-every must be >= 0, got {self.save_every}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        if self.patience < 0:
            raise ConfigError(f"--patience must be >= 0 (0: never stop early), got {self.patience}")


def _positive(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"--{name.replace('_', '-')} must be a whole number, got {value!r}")
        if not value > 0:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} must be a positive number, got {value}")


def to_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config, ignoring unknown keys and keeping defaults for missing ones."""
    names = {f.name for f in fields(cls)}
    # JSON turns tuples into lists
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})
