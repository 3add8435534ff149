"""Peak memory of training, evaluation and generation, estimated before anything is allocated,
and the pre-flight check that refuses a run the machine cannot hold.

The estimate counts the arrays that dominate: parameters, gradients, optimizer state and the
weight average; the activations a window keeps for backward (the output layer's (N·T, V)
scores above all); the corpus's token ids; the scoring window of validation and evaluation.
Measured against the peak RSS of ``rnnlm train``/``eval`` less the interpreter's own (tests/
test_memory_estimate.py), it is within 25% on configurations where arrays dominate.

Available memory: ``$RNNLM_MEMORY_LIMIT`` (bytes; for tests and for those who know better), else
the cgroup's limit less its usage (v2 ``memory.max - memory.current``, v1
``memory.limit_in_bytes - memory.usage_in_bytes``), else ``MemAvailable`` from /proc/meminfo;
on systems without these the check is skipped.
"""

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnlm.config import ModelConfig, TrainConfig, from_dict
from rnnlm.errors import ConfigError
from rnnlm.nn.cells import CELLS
from rnnlm.nn.model import param_shapes

F32, ID, MiB = 4, 4, 2**20
# Bytes per token while a text is read and encoded: the str, a list of token strings (a
# pointer and an object each) and the int64 ids before their int32 copy.
TEXT_BYTES_PER_TOKEN = {"word": 80, "char": 20}
CGROUP = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Estimate:
    """Estimated peak bytes of one command, by part, with the options that shrink it."""

    what: str  # "training", "evaluation", "generation"
    parts: dict[str, int] = field(default_factory=dict)
    lower: str = ""  # what to lower, in words

    @property
    def total(self) -> int:
        return sum(self.parts.values())


def _params(mc: ModelConfig) -> int:
    return sum(math.prod(s) for s in param_shapes(mc).values())


def _head(mc: ModelConfig, M: int) -> int:
    """Float32 elements the output layer keeps for M = N·T positions (forward and backward)."""
    V, H = mc.vocab_size, mc.hidden
    if mc.softmax == "class":
        C = len(mc.class_bounds) - 1
        return M * (3 * C + 4 * V // max(C, 1) + 2 * H)  # class and within-class scores
    return M * (V + 3 * H)  # the (M, V) exponentials; [x, 1], its scaled copy, dx


def _body(mc: ModelConfig, M: int, train: bool) -> int:
    """Float32 elements of the embedding, cells and dropout for M positions."""
    D, H = mc.embed_dim, mc.hidden
    cell = CELLS[mc.cell]
    per_cell = cell.window_arrays if train else 2
    n = 3 * M * D + mc.layers * M * (per_cell * H + (D + H) // 2)
    n += mc.layers * cell.weight_copies * (D + H) * cell.gates * H
    if train and mc.dropout > 0:
        n += 3 * M * (D + mc.layers * H)  # each dropout's uniform draws, output and gradient
    return n


def _saving(mc: ModelConfig) -> int:
    """numpy writes an array into a checkpoint through a buffered copy of up to 16 MiB and the
    bytes of that copy: twice the largest array, at most 32 MiB."""
    return 2 * min(16 * MiB, F32 * max(math.prod(s) for s in param_shapes(mc).values()))


def _loading(mc: ModelConfig) -> int:
    """Beyond a loaded checkpoint's parameters: the model's own copy of the output matrix (made
    once, when it is built) and the vocabulary with its n-gram counts (measured: ~600 bytes a
    token type)."""
    return F32 * mc.hidden * mc.vocab_size + 600 * mc.vocab_size


def _window(mc: ModelConfig, N: int, T: int, train: bool) -> int:
    return F32 * (_head(mc, N * T) + _body(mc, N * T, train))


def training(mc: ModelConfig, tc: TrainConfig, tokens: int) -> Estimate:
    """Training ``mc`` with ``tc`` on a corpus of ``tokens`` ids (all splits)."""
    P = F32 * _params(mc)
    state = {"adam": 3, "sgd": 1}.get(tc.optimizer, 3) * P  # Adam's m, v and its scratch
    if tc.ema:
        state += 2 * P  # the average and its scratch
    parts = {
        "parameters": P,
        "gradients": P,
        "optimizer": state,
        "activations": _window(mc, tc.batch_size, tc.bptt, True),
        "validation": _window(mc, tc.eval_batch_size, tc.eval_bptt, False),
        "corpus": 3 * ID * tokens,  # ids, and the training split's inputs and targets
        "saving": _saving(mc),
    }
    return Estimate("training", parts, _LOWER_TRAIN)


def evaluation(
    mc: ModelConfig, tc: TrainConfig, tokens: int, unit: str, dynamic_window: int = 0
) -> Estimate:
    """``rnnlm eval`` of texts of ``tokens`` tokens in all; with dynamic evaluation, windows of
    ``dynamic_window`` tokens trained on (gradients and a copy of the trained weights)."""
    P = F32 * _params(mc)
    parts = {
        "parameters": P,
        "loading": _loading(mc),
        "window": _window(mc, tc.eval_batch_size, tc.eval_bptt, False),
        "text": TEXT_BYTES_PER_TOKEN.get(unit, 80) * tokens,
    }
    if dynamic_window:
        parts["dynamic"] = 2 * P + _window(mc, 1, dynamic_window, True)
    return Estimate("evaluation", parts, "evaluate a smaller checkpoint or split the text")


def generation(mc: ModelConfig) -> Estimate:
    """``rnnlm generate``: the parameters and one token's scores."""
    parts = {
        "parameters": F32 * _params(mc),
        "loading": _loading(mc),
        "window": _window(mc, 1, 1, False),
    }
    return Estimate("generation", parts, "generate from a smaller checkpoint")


_LOWER_TRAIN = (
    "lower --batch-size, --bptt, --hidden or the vocabulary (--max-vocab), or use --softmax class"
)


def checkpoint_configs(path: Path | str) -> tuple[ModelConfig, TrainConfig, str] | None:
    """A checkpoint's model and training configs and unit, read from its metadata alone (no
    arrays); None when it cannot be read (loading it then names the problem)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
        mc = from_dict(ModelConfig, meta["model"])
        return mc, from_dict(TrainConfig, meta.get("train", {})), str(meta.get("unit", "word"))
    except Exception:  # any unreadable file: not this check's to report
        return None


def text_tokens(paths: list[Path], unit: str) -> int:
    """About how many tokens these files hold (stdin and missing files count 0)."""
    total = 0
    for p in paths:
        try:
            size = os.stat(p).st_size if str(p) != "-" else 0
        except OSError:
            size = 0
        # a word of ~4 letters and a space; a subword of ~3 bytes
        total += size if unit == "char" else size // (3 if unit == "bpe" else 5) + 1
    return total


def available() -> tuple[int, str] | None:
    """Bytes this process may still allocate, and where that figure comes from; None if
    unknown (not Linux)."""
    if env := os.environ.get("RNNLM_MEMORY_LIMIT"):
        try:
            return int(float(env)), "RNNLM_MEMORY_LIMIT"
        except ValueError:
            raise ConfigError(
                f"RNNLM_MEMORY_LIMIT must be a number of bytes, got {env!r}"
            ) from None
    return machine_available()


def machine_available() -> tuple[int, str] | None:
    """``available`` without the RNNLM_MEMORY_LIMIT override: the cgroup's limit, else
    MemAvailable (also what bounds reading a corpus into memory, rnnlm/data/limits.py)."""
    v1 = ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")
    for limit, usage in (("memory.max", "memory.current"), v1):
        cap, used = _read_int(CGROUP / limit), _read_int(CGROUP / usage)
        if cap is not None and cap < 2**60:  # v1 writes "no limit" as a huge number
            return max(cap - (used or 0), 0), "the cgroup's memory limit"
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024, "MemAvailable"
    except (OSError, ValueError, IndexError):
        pass
    return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):  # missing, or "max"
        return None


def check(estimate: Estimate, force: bool = False) -> None:
    """Raise ConfigError (one line: the estimate, the memory available, what to lower) when the
    estimate exceeds the available memory, unless ``force``."""
    room = None if force else available()
    if room is None or estimate.total <= room[0]:
        return
    biggest = sorted(estimate.parts.items(), key=lambda kv: -kv[1])[:3]
    shown = ", ".join(f"{k} {v / MiB:,.0f}" for k, v in biggest)
    raise ConfigError(
        f"{estimate.what} needs about {estimate.total / MiB:,.0f} MiB ({shown} MiB) but "
        f"{room[0] / MiB:,.0f} MiB is available ({room[1]}); {estimate.lower} "
        "(--force runs it anyway)"
    )


def check_eval(path: Path, files: list[Path], dynamic: object | None, force: bool) -> None:
    """``check`` for ``rnnlm eval`` of ``files`` with checkpoint ``path`` (``dynamic``: the
    DynamicEval, if any); an unreadable checkpoint is left to the loader to report."""
    if force or (configs := checkpoint_configs(path)) is None:
        return
    mc, tc, unit = configs
    window = getattr(dynamic, "window", 0) if dynamic is not None else 0
    check(evaluation(mc, tc, text_tokens(files, unit), unit, window))


def check_generate(path: Path, force: bool) -> None:
    """``check`` for ``rnnlm generate`` from checkpoint ``path``."""
    if not force and (configs := checkpoint_configs(path)) is not None:
        check(generation(configs[0]))
