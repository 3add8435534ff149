"""The three configurations of a run: data, model and training, each checked when it is made.

A config that exists is valid: ``__post_init__`` checks every field's type and range, with
messages in library terms that name the field (``dropout must be in [0, 1), got 1.5``) and list
it in ``ConfigError.fields``. The defaults are the PTB recipe that ``rnnlm train ptb`` runs.
Allowed names (cells, output heads, optimizers, losses, units) come from the registries of
their roles, never from a list kept here.
"""

import math
import os
import types
from collections.abc import Iterable
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any

from rnnlm.data.corpus import VALID_FRACTION
from rnnlm.errors import ConfigError

MAX_INIT_SCALE = 10.0  # new runs: uniform ±s beyond this saturates or overflows float32
DERIVED = {"derived": True}  # a field the run computes from the corpus, not an option


def registry(name: str) -> Iterable[str]:
    """The allowed values of the choice field ``name``, from the registry of its role."""
    # imported here rather than at the top: the model and the trainer import this module
    from rnnlm.data.text import UNITS
    from rnnlm.nn.cells import CELLS
    from rnnlm.nn.heads import HEADS
    from rnnlm.training.losses import LOSSES
    from rnnlm.training.optimizers import OPTIMIZERS

    registries = {"unit": UNITS, "cell": CELLS, "softmax": HEADS}
    return {**registries, "optimizer": OPTIMIZERS, "loss": LOSSES}[name]


CHOICES = ("unit", "cell", "softmax", "optimizer", "loss")  # fields whose values are registry keys


@dataclass(frozen=True)
class DataConfig:
    """How a corpus becomes token ids: the unit, held-out files and vocabulary limits."""

    unit: str | None = None  # word | char | bpe; None: the named corpus's unit, else word
    valid: str | None = None  # validation file; None: the corpus's own, else a held-out share
    test: str | None = None  # test file; None: the corpus's own
    valid_fraction: float = VALID_FRACTION  # of a corpus without validation text, off its end
    max_vocab: int = 0  # keep at most this many tokens, <unk> included (0: all)
    min_count: int = 1  # tokens seen fewer times become <unk>
    classes: int = 0  # frequency classes of the class softmax (0: about sqrt(V))
    subword_vocab: int = 0  # bpe: tokens of the byte-level BPE (0: from the corpus's size)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field (done when the config is made; kept for explicit callers)."""
        _typed(self)
        if self.unit is not None:
            _choice(self, "unit")
        if not 0.0 < self.valid_fraction < 1.0:
            _fail(f"valid_fraction must be in (0, 1), got {self.valid_fraction}", "valid_fraction")
        if self.max_vocab == 1 or self.max_vocab < 0:
            _fail(f"max_vocab must be 0 (no limit) or >= 2, got {self.max_vocab}", "max_vocab")
        if self.min_count < 1:
            _fail(f"min_count must be at least 1, got {self.min_count}", "min_count")
        if self.classes < 0:
            _fail(f"classes must be >= 0 (0: about sqrt(V)), got {self.classes}", "classes")
        _check_subwords(self)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's shapes (the vocabulary lives beside it)."""

    vocab_size: int = field(metadata=DERIVED)  # V, including <unk> (and <eos> at word level)
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
    # class softmax: first id of each class, then V (cut from the training split's counts)
    class_bounds: tuple[int, ...] = field(default=(), metadata=DERIVED)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field (done when the config is made; kept for explicit callers)."""
        _typed(self)
        _positive(self, "vocab_size", "embed_dim", "hidden", "layers")
        _choice(self, "cell")
        _fraction(self, "dropout")
        _fraction(self, "weight_drop")
        if not 0.0 <= self.init_scale < math.inf:
            _fail(
                f"init_scale must be a number >= 0 (0: per-layer default), got {self.init_scale}",
                "init_scale",
            )
        _choice(self, "softmax")
        if self.softmax == "class":
            b = list(self.class_bounds)
            if len(b) < 2 or b[0] != 0 or b[-1] != self.vocab_size or b != sorted(set(b)):
                _fail("class softmax needs class_bounds 0 < ... < vocab_size", "class_bounds")
        if self.tie_weights and self.embed_dim != self.hidden:
            _fail(
                f"tie_weights needs embed_dim = hidden (got {self.embed_dim} and {self.hidden})",
                "tie_weights", "embed_dim", "hidden",
            )  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    """How to train: stateful truncated BPTT with SGD and global-norm clipping."""

    batch_size: int = 20  # N parallel streams through the corpus
    bptt: int = 35  # T steps per window; gradients are cut at window edges
    epochs: int = 10  # passes over the training split
    optimizer: str = "adam"  # adam | sgd (a tanh RNN diverges with the SGD lr 20 LSTMs like)
    lr: float = 0.002  # applies to the gradient of the mean loss over the N·T tokens of a window
    clip: float = 0.25  # global gradient-norm clip; 0 disables it
    loss: str = "mean"  # mean over the N·T tokens | time-sum: summed over T, mean over N (Zaremba)
    lr_decay: float = 4.0  # divide lr by this when validation perplexity does not improve ...
    decay_after: int = 0  # ... or, if > 0, after every epoch past this one (Zaremba's schedule)
    ema: float = 0.0  # > 0: validate, test and keep as best an average of the weights, this decay
    seed: int = 1234  # initialisation and dropout
    max_steps: int = 0  # stop after this many updates (0: no limit)
    patience: int = 0  # stop after this many epochs without a better validation (0: never)
    log_every: int = 0  # also log a step record to metrics.jsonl every this many steps (0: off)
    save_every: int = 0  # write a resumable last.npz every this many steps (0: every 5 minutes)
    eval_batch_size: int = 1  # streams at evaluation; 1 scores every token in order
    eval_bptt: int = 128  # window at evaluation (no gradient: any length gives the same result)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field (done when the config is made; kept for explicit callers)."""
        _typed(self)
        _positive(self, "batch_size", "bptt", "epochs", "eval_batch_size", "eval_bptt")
        _choice(self, "optimizer")
        if not (self.lr > 0.0 and self.lr < math.inf):
            _fail(f"lr must be a positive finite number, got {self.lr}", "lr")
        if not (self.clip >= 0.0 and self.clip < math.inf):
            _fail(f"clip must be >= 0 (0 disables clipping), got {self.clip}", "clip")
        if not self.lr_decay >= 1.0:
            _fail(f"lr_decay must be >= 1, got {self.lr_decay}", "lr_decay")
        if not 0.0 <= self.ema < 1.0:
            _fail(f"ema must be in [0, 1) (0: off), got {self.ema}", "ema")
        _choice(self, "loss")
        for name in ("decay_after", "max_steps", "log_every", "save_every", "seed"):
            if getattr(self, name) < 0:
                _fail(f"{name} must be >= 0, got {getattr(self, name)}", name)
        if self.patience < 0:
            _fail(f"patience must be >= 0 (0: never stop early), got {self.patience}", "patience")


SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}


def options(section: str) -> dict[str, Field]:
    """The fields of a section that a user sets (not those computed from the corpus)."""
    return {f.name: f for f in fields(SECTIONS[section]) if not f.metadata.get("derived")}


def default(f: Field) -> Any:
    return f.default if f.default is not MISSING else None


def check_keys(section: str, values: dict[str, Any], where: str = "") -> None:
    """ConfigError naming the first key of ``values`` that is not an option of ``section``."""
    known = options(section)
    for key in values:
        if key not in known:
            raise ConfigError(f"{where}[{section}] {key}: unknown key (known: {', '.join(known)})")


def check_value(section: str, key: str, value: Any, where: str = "") -> Any:
    """``value`` as the field ``key`` holds it (an int for a float field becomes a float), or a
    ConfigError naming the key when its type is wrong."""
    try:
        return _coerce(key, options(section)[key].type, value)
    except ConfigError as exc:
        raise ConfigError(f"{where}[{section}] {exc}") from None  # named as in the file


def check_new_run(data: DataConfig, model: dict[str, Any]) -> None:
    """Rules for a new run's options (a stored run keeps what it was made with)."""
    scale = model.get("init_scale", 0.0)
    if isinstance(scale, (int, float)) and not 0 <= scale <= MAX_INIT_SCALE:
        _fail(
            f"init_scale must be in [0, {MAX_INIT_SCALE:g}] (0: per-layer default), got {scale}",
            "init_scale",
        )
    if data.classes and model.get("softmax") != "class":
        _fail("classes needs softmax class", "classes", "softmax")


def to_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg)


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a config, ignoring unknown keys and keeping defaults for missing ones."""
    names = {f.name for f in fields(cls)}
    # JSON turns tuples into lists
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


def _check_subwords(cfg: DataConfig) -> None:
    """``subword_vocab`` sizes a BPE (unit bpe), which has no ``<unk>`` to cut words into."""
    if cfg.subword_vocab and not (257 <= cfg.subword_vocab <= 1 << 20):
        _fail(
            "subword_vocab must be 0 (from the corpus's size) or in [257, 1048576] (257: "
            f"<unk> and the 256 bytes), got {cfg.subword_vocab}",
            "subword_vocab",
        )
    if cfg.subword_vocab and cfg.unit not in (None, "bpe"):
        _fail(f"subword_vocab needs unit bpe (got unit {cfg.unit})", "subword_vocab", "unit")
    if cfg.unit == "bpe" and (cfg.max_vocab or cfg.min_count != 1):
        _fail(
            "max_vocab and min_count do not apply to unit bpe (every text is made of its "
            "tokens); size it with subword_vocab",
            "max_vocab", "min_count", "unit", "subword_vocab",
        )  # fmt: skip


def _fail(message: str, *names: str) -> None:
    raise ConfigError(message, names)


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}


def _coerce(name: str, tp: Any, value: Any) -> Any:
    """``value`` checked against the field type ``tp`` (int, float, bool, str, ``X | None``,
    ``tuple[int, ...]``); ints become floats for float fields, paths strings, lists tuples."""
    if isinstance(tp, types.UnionType):  # X | None
        if value is None:
            return None
        tp = next(t for t in tp.__args__ if t is not type(None))
    if tp is str and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp in _KINDS:
        ok = isinstance(value, tp) and (tp is bool or not isinstance(value, bool))
        kind = _KINDS[tp]
    else:  # tuple[int, ...]
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        value, kind = tuple(value) if ok else value, "a list of whole numbers"
    if not ok:
        _fail(f"{name} must be {kind}, got {value!r}", name)
    return value


def _typed(cfg: Any) -> None:
    for f in fields(cfg):  # frozen: the coerced value is written past __setattr__
        object.__setattr__(cfg, f.name, _coerce(f.name, f.type, getattr(cfg, f.name)))


def _positive(cfg: Any, *names: str) -> None:
    for name in names:
        if not getattr(cfg, name) > 0:
            _fail(f"{name} must be a positive number, got {getattr(cfg, name)}", name)


def _fraction(cfg: Any, name: str) -> None:
    if not 0.0 <= getattr(cfg, name) < 1.0:
        _fail(f"{name} must be in [0, 1), got {getattr(cfg, name)}", name)


def _choice(cfg: Any, name: str) -> None:
    allowed = list(registry(name))
    if getattr(cfg, name) not in allowed:
        _fail(f"unknown {name} '{getattr(cfg, name)}' (choose from: {', '.join(allowed)})", name)
