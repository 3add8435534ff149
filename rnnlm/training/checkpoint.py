"""Checkpoints: one ``.npz`` holding everything needed to rebuild, evaluate or resume a model.

Keys (all plain arrays; the file loads with ``allow_pickle=False``):

=================  ==========================  ===============================================
key                dtype                       content
=================  ==========================  ===============================================
``meta``           0-d unicode (JSON)          format, unit, model and train config, progress
``vocab``          (V,) unicode                token of each id
``param/NAME``     float32                     parameters: ``embed.W``, ``rnn.0.Wx`` ... ``out.b``
``optim/NAME``     float64 / float32           optimizer state (resumable checkpoints): ``lr``,
                                              Adam's ``t``, ``m.NAME``, ``v.NAME``; with
                                              ``--ema`` the average ``ema.NAME``, ``ema_t``
``state/I``        float32 (N, H) / (2, N, H)  carried state of recurrent layer I (resumable)
``stats/NAME``      int64                       training-split unigram and bigram counts
``tokenizer``      (B,) uint8                  unit bpe only: the tokenizer's JSON, UTF-8
=================  ==========================  ===============================================

Format 1; a bpe checkpoint is format 2 (so that earlier builds refuse it by its format).

Writes go to a temporary file in the same folder, are fsync'ed, then renamed over the target,
so a crash at any moment leaves either the old checkpoint or the new one, never half of one.

A checkpoint holds host (numpy) arrays whatever the device of the run that wrote it (``save``
copies GPU arrays to the host), and nothing in it names a device: any checkpoint evaluates,
samples and resumes on a CPU or a GPU.
"""

import contextlib
import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from rnnlm import __version__
from rnnlm.backend import to_host
from rnnlm.config import ModelConfig, TrainConfig, from_dict, to_dict
from rnnlm.data.stats import ids_sha1
from rnnlm.data.subword import BPE, SubwordVocabulary
from rnnlm.data.text import UNITS
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import CheckpointError, ConfigError
from rnnlm.nn.cells import CELLS
from rnnlm.nn.model import RNNLM, param_shapes
from rnnlm.training.averaging import ParamEMA, has_average
from rnnlm.training.optimizers import state_problem
from rnnlm.training.progress import TrainState

KIND = "rnnlm-checkpoint"
FORMAT_VERSION = 2  # the newest this build reads; it writes format_of(unit)


def format_of(unit: str) -> int:
    """The format a checkpoint of ``unit`` is written in: 2 for bpe (its tokenizer), else 1."""
    return 2 if unit == BPE else 1


@dataclass
class Checkpoint:
    """What a checkpoint holds, validated."""

    model: ModelConfig
    train: TrainConfig
    unit: str
    vocab: Vocabulary
    params: dict[str, np.ndarray]
    progress: dict[str, Any] = field(default_factory=dict)  # epoch, step, lr, best ...
    optim: dict[str, np.ndarray] = field(default_factory=dict)
    state: list[np.ndarray] = field(default_factory=list)
    stats: dict[str, np.ndarray] = field(default_factory=dict)  # n-gram counts for baselines
    extra: dict[str, Any] = field(default_factory=dict)  # anything else JSON-able


def save(path: Path | str, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` to ``path`` atomically (temp file + fsync + rename); its arrays may live
    on either device (they are written from the host)."""
    path = Path(path)
    meta = {
        "kind": KIND,
        "format": format_of(ckpt.unit),
        "rnnlm_version": __version__,
        "unit": ckpt.unit,
        "model": to_dict(ckpt.model),
        "train": to_dict(ckpt.train),
        "progress": ckpt.progress,
        "extra": ckpt.extra,
    }
    arrays: dict[str, np.ndarray] = {
        "meta": np.array(json.dumps(meta)),
        "vocab": np.array(ckpt.vocab.tokens),
    }
    if isinstance(ckpt.vocab, SubwordVocabulary):
        arrays["tokenizer"] = np.frombuffer(ckpt.vocab.json.encode("utf-8"), dtype=np.uint8)
    arrays.update({f"param/{k}": to_host(v) for k, v in ckpt.params.items()})
    arrays.update({f"optim/{k}": to_host(v) for k, v in ckpt.optim.items()})
    arrays.update({f"state/{i}": to_host(h) for i, h in enumerate(ckpt.state)})
    arrays.update({f"stats/{k}": to_host(v) for k, v in ckpt.stats.items()})
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        kept = " (the previous checkpoint is intact)" if path.exists() else ""
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}{kept}") from None


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load(path: Path | str) -> Checkpoint:
    """Read and validate a checkpoint; any problem is one CheckpointError naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; give a checkpoint file such as best.npz")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"{path}: not a readable checkpoint (not an .npz file)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise CheckpointError(f"{path}: contains pickled objects; refused") from None
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    except Exception as exc:  # zipfile and numpy's format parser raise many kinds on bad bytes
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or corrupt: {type(exc).__name__})"
        ) from None
    if not all(isinstance(a, np.ndarray) for a in arrays.values()):
        raise CheckpointError(f"{path}: not a readable checkpoint (unexpected members)")
    try:
        return _validate(arrays)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        # a well-formed zip whose metadata or arrays were edited into nonsense
        raise CheckpointError(f"{path}: invalid contents ({type(exc).__name__}: {exc})") from None


def _validate(arrays: dict[str, np.ndarray]) -> Checkpoint:
    if "meta" not in arrays or arrays["meta"].dtype.kind != "U" or arrays["meta"].shape != ():
        raise CheckpointError("not an rnnlm checkpoint (no metadata)")
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError:
        raise CheckpointError("corrupt metadata") from None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise CheckpointError("not an rnnlm checkpoint")
    fmt = meta.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION or fmt < 1:
        raise CheckpointError(
            f"checkpoint format {fmt!r} is not supported by rnnlm {__version__} "
            f"(reads format {FORMAT_VERSION}); upgrade rnnlm"
        )
    if not all(isinstance(meta.get(k, {}), dict) for k in ("model", "train", "progress", "extra")):
        raise CheckpointError("invalid metadata (model, train, progress must be objects)")
    if (why := progress_problem(meta.get("progress") or {})) is not None:
        raise CheckpointError(f"training progress is malformed ({why})")
    try:
        model = from_dict(ModelConfig, meta["model"])  # configs check themselves when made
        train = from_dict(TrainConfig, meta.get("train", {}))
        unit = meta["unit"]
        if unit not in UNITS:
            raise CheckpointError(f"unknown unit {unit!r}")
        vocab_arr = arrays.get("vocab")
        if vocab_arr is None or vocab_arr.dtype.kind != "U" or vocab_arr.ndim != 1:
            raise CheckpointError("missing or malformed vocabulary")
        vocab = Vocabulary([str(t) for t in vocab_arr])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"invalid metadata ({exc})") from None
    vocab = _tokenizer(arrays, unit, vocab)
    if len(vocab) != model.vocab_size:
        raise CheckpointError(
            f"vocabulary has {len(vocab)} tokens but the model expects {model.vocab_size}"
        )
    expected = param_shapes(model)
    params = {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
    if set(params) != set(expected):
        missing = sorted(set(expected) - set(params))
        unexpected = sorted(set(params) - set(expected))
        raise CheckpointError(
            f"parameters do not match the model (missing {missing}, unexpected {unexpected})"
        )
    for name, shape in expected.items():
        arr = params[name]
        if arr.shape != shape or arr.dtype != np.float32:
            raise CheckpointError(
                f"parameter {name} is {arr.dtype}{list(arr.shape)}, expected float32{list(shape)}"
            )
        if not np.isfinite(arr).all():
            raise CheckpointError(f"parameter {name} holds NaN or infinite values")
    optim = {k[len("optim/") :]: v for k, v in arrays.items() if k.startswith("optim/")}
    state_keys = [f"state/{i}" for i in range(len(arrays)) if f"state/{i}" in arrays]
    state = [arrays[k] for k in state_keys]
    if state and not _state_fits(state, model):
        raise CheckpointError("hidden state does not match the model")
    for k, v in optim.items():
        if v.dtype.kind not in "fi" or not np.isfinite(v).all():
            raise CheckpointError(f"optimizer state {k} is not finite numbers")
    stats = {k[len("stats/") :]: v for k, v in arrays.items() if k.startswith("stats/")}
    if stats and not _valid_stats(stats, model.vocab_size):
        raise CheckpointError("n-gram statistics are malformed")
    return Checkpoint(
        model=model,
        train=train,
        unit=unit,
        vocab=vocab,
        params=params,
        progress=meta.get("progress") or {},
        optim=optim,
        state=state,
        stats=stats,
        extra=meta.get("extra") or {},
    )


def _tokenizer(arrays: dict[str, np.ndarray], unit: str, vocab: Vocabulary) -> Vocabulary:
    """A bpe checkpoint's vocabulary with its tokenizer, which must define exactly its tokens;
    other units have none."""
    raw = arrays.get("tokenizer")
    if unit != BPE:
        if raw is not None:
            raise CheckpointError(f"holds a tokenizer, which a {unit} model does not use")
        return vocab
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError("bpe model without its tokenizer (or a malformed one)")
    try:
        subwords = SubwordVocabulary(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else exc
        raise CheckpointError(f"tokenizer is not valid ({why})") from None
    if subwords.tokens != vocab.tokens:
        raise CheckpointError("tokenizer's vocabulary differs from the checkpoint's")
    return subwords


def _state_fits(state: list[np.ndarray], model: ModelConfig) -> bool:
    """One finite float32 array per layer, of the rank and last dimension (H) of the cell's
    ``state_shape`` (the batch size is the run's, checked on resume)."""
    like = CELLS[model.cell].state_shape(1, model.hidden)
    return (
        len(state) == model.layers
        and all(h.ndim == len(like) and h.shape[-1] == like[-1] for h in state)
        and all(h.dtype == np.float32 and np.isfinite(h).all() for h in state)
    )


PROGRESS_COUNTS = ("epoch", "window", "step", "epoch_tokens", "tokens_seen", "stale_epochs")
PROGRESS_AMOUNTS = ("lr", "best_valid_ppl", "plateau_ppl", "epoch_nll", "epoch_seconds", "seconds")


def progress_problem(progress: dict) -> str | None:
    """What is wrong with a checkpoint's training progress, or None: counts must be integers
    >= 0, amounts finite numbers >= 0 (or null), ``finished`` a boolean, ``rng`` an object."""
    for k in PROGRESS_COUNTS:
        v = progress.get(k, 0)
        if type(v) is not int or v < 0:
            return f"{k} = {v!r}"
    for k in PROGRESS_AMOUNTS:
        v = progress.get(k)
        if v is not None and not (type(v) in (int, float) and math.isfinite(v) and v >= 0):
            return f"{k} = {v!r}"
    if type(progress.get("finished", False)) is not bool:
        return f"finished = {progress['finished']!r}"
    if not isinstance(progress.get("rng", {}), dict):
        return "rng is not an object"
    return None


def _valid_stats(stats: dict[str, np.ndarray], V: int) -> bool:
    try:
        uni, codes, counts = stats["unigram"], stats["bigram_codes"], stats["bigram_counts"]
    except KeyError:
        return False
    return (
        all(a.dtype == np.int64 and a.ndim == 1 for a in (uni, codes, counts))
        and uni.shape == (V,)
        and codes.shape == counts.shape
        and (codes.size == 0 or (codes.min() >= 0 and codes.max() < V * V))
        and bool(np.all(np.diff(codes) > 0))
    )


def data_fingerprint(train_ids: np.ndarray) -> dict[str, Any]:
    """What the training split looked like (for ``extra``), so a resume can check it is the
    same corpus: its length and SHA-1."""
    return {
        "train_tokens": len(train_ids),
        "train_sha1": ids_sha1(train_ids),  # piece by piece (or as prepared): no copy
    }


def check_resumable(
    ckpt: Checkpoint,
    model: RNNLM,
    ema: ParamEMA | None,
    batch_size: int,
    windows: int,
    train_sha1: str,
) -> None:
    """Everything a resume restores has the names and shapes this run expects (``model``, its
    weight average ``ema``, N = ``batch_size`` streams, ``windows`` per epoch, a training split
    with SHA-1 ``train_sha1``); else a CheckpointError saying what does not."""
    sha = ckpt.extra.get("train_sha1")
    if sha is not None and sha != train_sha1:
        raise CheckpointError(
            "the training split differs from the one this run started on; resume with the "
            "same corpus and data options"
        )
    names = {f.name for f in fields(TrainState)}
    progress = ckpt.progress
    if not progress or set(progress) - names or "step" not in progress or not ckpt.optim:
        raise CheckpointError("not a resumable checkpoint (no training progress)")
    if (why := progress_problem(progress)) is not None:
        raise CheckpointError(f"training progress is malformed ({why})")
    if not 0 <= progress.get("window", 0) <= windows:
        raise CheckpointError("training position does not fit this corpus and batch size")
    if "lr" not in ckpt.optim:
        raise CheckpointError("optimizer state has no learning rate")
    if (ema is not None) != has_average(ckpt.optim):
        raise CheckpointError("checkpoint's weight average (--ema) does not match the run")
    if ema is not None and (why := ema.check_state_dict(ckpt.optim)) is not None:
        raise CheckpointError(f"checkpoint's weight average (--ema) is malformed: {why}")
    if (key := state_problem(ckpt.optim, model.params)) is not None:
        raise CheckpointError(f"optimizer state '{key}' does not match the model")
    expected = CELLS[model.cfg.cell].state_shape(batch_size, model.cfg.hidden)
    for h in ckpt.state:
        if h.shape != expected or h.dtype != model.dtype:
            raise CheckpointError("hidden state does not match the batch size and model")
