"""A training run from a CORPUS argument to checkpoints and results: what ``rnnlm train`` does.

    from rnnlm.training.run import train
    results = train("ptb", "runs/ptb", model={"hidden": 256}, train={"epochs": 10},
                    data={"max_vocab": 10_000})

``prepare`` does everything up to the first step (corpus, vocabulary, configs, model, trainer,
restore when resuming); ``TrainingRun.fit`` trains; ``TrainingRun.results`` scores the best
model on the test split. The CLI adds flags, progress display and signal handling on top.
"""

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnlm import memory
from rnnlm.backend import use_device
from rnnlm.config import (
    DataConfig,
    ModelConfig,
    TrainConfig,
    check_keys,
    check_new_run,
    from_dict,
    to_dict,
    toml_io,
)
from rnnlm.data.corpus import VALID_FRACTION, Corpus, load_corpus, resolve_files, scored
from rnnlm.data.prepared import is_prepared
from rnnlm.data.stats import unigram_counts
from rnnlm.errors import CheckpointError, ConfigError, CorpusError
from rnnlm.eval.metrics import TextCounts, comparable, count_ids, scored_counts
from rnnlm.eval.perplexity import evaluate
from rnnlm.nn.heads.class_softmax import frequency_classes
from rnnlm.nn.model import RNNLM
from rnnlm.training import checkpoint
from rnnlm.training.distributed import Comm
from rnnlm.training.loop import EpochReport, StepReport, Trainer, TrainState
from rnnlm.training.run_folder import RunDir, run_lock

# What a resumed run may change: how long it goes on, how often it saves and logs.
RESUME_OVERRIDES = ("epochs", "max_steps", "patience", "save_every", "log_every")
CONFIG_FILE = "config.toml"  # in the run folder: the configuration the run resolved
CONFIG_HEADER = (
    "The configuration of this run as rnnlm train resolved it (defaults, preset, file, flags).\n"
    "Repeat it: rnnlm train CORPUS --config this-file --out ANOTHER-FOLDER"
)


@dataclass
class TrainingRun:
    corpus: Corpus
    trainer: Trainer
    run: RunDir
    resumed: bool
    files: dict[str, Path] = dataclasses.field(default_factory=dict)  # the corpus's, by split
    smoke: bool = False
    device: str = "cpu"

    def fit(self) -> TrainState:
        return self.trainer.fit()

    def results(self) -> dict[str, Any]:
        """Best validation perplexity, test perplexity of best.npz, steps, speed, paths."""
        st, data = self.trainer.state, self.corpus
        result: dict[str, Any] = {
            "best_valid_ppl": st.best_valid_ppl,
            "test_ppl": None,
            "epochs": st.epoch,
            "stopped_early": self.trainer.stopped_early,
            "steps": st.step,
            "tokens_per_s": st.tokens_seen / st.seconds if st.seconds else 0.0,
            "seconds": round(st.seconds, 3),
            "checkpoint": str(self.run.best),
            "unit": data.unit,
            "vocab_size": len(data.vocab),
        }
        if data.unit == "char" and st.best_valid_ppl:
            result["best_valid_bits_per_token"] = math.log2(st.best_valid_ppl)
        if "test" in data and self.run.best.exists():
            best = checkpoint.load(self.run.best)
            model = RNNLM(
                best.model, np.random.default_rng(0), params=best.params, device=self.device
            )
            tc = self.trainer.cfg
            test_ids = scored(data["test"], data.vocab, data.unit)
            res = evaluate(model, test_ids, tc.eval_batch_size, tc.eval_bptt)
            result.update(test_ppl=res.perplexity, test_tokens=res.tokens)
            scores = comparable(res.nll, split_counts(data, self.files, "test", self.smoke))
            result["test_bits_per_char"] = scores["bits_per_char"]
            result["test_word_ppl"] = scores["word_perplexity"]
            if data.unit == "char":
                result["test_bits_per_token"] = res.bits_per_token
        return result


def prepare(
    corpus: str,
    out: Path | str,
    *,
    data: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    data_dir: Path | None = None,
    resume: bool = False,
    smoke: bool = False,
    force: bool = False,
    comm: Comm | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    device: str = "cpu",
) -> TrainingRun:
    """Load the corpus and build everything a run needs; nothing is trained yet.

    ``data``, ``model`` and ``train`` hold DataConfig/ModelConfig/TrainConfig fields (defaults
    for the rest). When resuming, the run keeps its stored configs: data options given here
    replace the stored ones, model and train options must agree with them, except those in
    ``RESUME_OVERRIDES``. ``data_dir``: where named corpora are kept. ``smoke`` trains one step
    and validates on a slice. The resolved configuration is written to the run folder's
    ``config.toml`` (``rnnlm train CORPUS --config`` that file repeats the run). ``force``
    skips the memory check (rnnlm/memory.py). The caller holds ``run_lock(out)`` around this
    and the training, as ``train`` below does. ``comm``: the ranks of a data-parallel job
    (rnnlm/training/distributed.py); only rank 0 writes into the run folder. ``device``: "cpu"
    or "cuda" (rnnlm/backend.py), a choice of this process, stored nowhere: a run resumes on
    either device.
    """
    device = use_device(device)  # no CuPy or no GPU: one ConfigError, before any file is read
    comm = comm or Comm()
    given = {"data": dict(data or {}), "model": dict(model or {}), "train": dict(train or {})}
    for section, values in given.items():
        check_keys(section, values)
    if not resume:  # a bad option is named before any file is read
        dcfg, tcfg = DataConfig(**given["data"]), TrainConfig(**given["train"])
        check_new_run(dcfg, given["model"])
    run = RunDir(out, resume=resume, clean=comm.is_root)  # rank 0 holds the lock
    ckpt = checkpoint.load(run.last) if resume else None
    if ckpt is not None:  # the run's own data options, unless given again
        dcfg = dataclasses.replace(stored_data(ckpt, run.last), **given["data"])
        tcfg = _resumed_train_config(ckpt, given["model"], given["train"])
    files, named_unit = resolve_files(corpus, data_dir)
    files.update({k: Path(getattr(dcfg, k)) for k in ("valid", "test") if getattr(dcfg, k)})
    if "valid" in files and given["data"].get("valid_fraction", VALID_FRACTION) != VALID_FRACTION:
        raise ConfigError(  # as given, never a stored value
            "valid_fraction splits validation text off a corpus that has none; this one "
            f"has {files['valid']}",
            ("valid_fraction",),
        )
    dcfg = dataclasses.replace(dcfg, unit=dcfg.unit or named_unit or "word")
    loaded = load_corpus(files, dcfg.unit, dcfg.max_vocab, dcfg.min_count, dcfg.valid_fraction,
                         subword_vocab=dcfg.subword_vocab)  # fmt: skip
    if ckpt is not None:
        _check_vocabulary(ckpt, loaded, dcfg.unit, run.last)
        mcfg = ckpt.model
    else:
        mcfg = _model_config(loaded, given["model"], dcfg.classes)
    configs = toml_io.sections(dcfg, mcfg, tcfg)
    if smoke:
        tcfg = dataclasses.replace(tcfg, epochs=1, max_steps=1)
        _smoke_slices(loaded, tcfg.eval_bptt)
    _check_scorable(loaded, files, tcfg.eval_batch_size)
    memory.check(memory.training(mcfg, tcfg, sum(map(len, loaded.splits.values()))), force)
    rng = np.random.default_rng(tcfg.seed)
    trainer = Trainer(
        RNNLM(mcfg, rng, device=device), tcfg, loaded["train"],
        scored(loaded["valid"], loaded.vocab, dcfg.unit), loaded.vocab, dcfg.unit, rng,
        run=run if comm.is_root else None, on_step=on_step, on_epoch=on_epoch, comm=comm,
    )  # fmt: skip
    trainer.extra["data"] = to_dict(dcfg)
    trainer.valid_counts = split_counts(loaded, files, "valid", smoke)
    if ckpt is not None:
        try:
            trainer.restore(ckpt)
        except CheckpointError as exc:
            raise CheckpointError(f"{run.last}: {exc}") from None
        if comm.is_root:  # only rank 0 writes into the run folder
            run.truncate_metrics(trainer.state.step, trainer.state.epoch)
    if comm.is_root:
        _write_config(run.path, configs)
    return TrainingRun(corpus=loaded, trainer=trainer, run=run, resumed=ckpt is not None,
                       files=files, smoke=smoke, device=device)  # fmt: skip


def split_counts(data: Corpus, files: dict[str, Path], split: str, smoke: bool) -> TextCounts:
    """Characters and words of a split's text (docs/metrics.md): from its own file, else from
    its ids (a part cut off the training text, a prepared or smoke-sliced split)."""
    path = files.get(split)
    if path is not None and not smoke and not is_prepared(path) and Path(path).is_file():
        return scored_counts(
            path, scored(data[split], data.vocab, data.unit), data.vocab, data.unit
        )
    return count_ids(scored(data[split], data.vocab, data.unit), data.vocab, data.unit)


def stored_data(ckpt: checkpoint.Checkpoint, path: Path | str) -> DataConfig:
    """The data options a run was made with. Earlier builds stored neither the unit (it is the
    checkpoint's own) nor the classes (the class softmax's bounds tell them)."""
    stored = ckpt.extra.get("data")
    values = {**(stored if isinstance(stored, dict) else {}), "unit": ckpt.unit}
    if ckpt.model.softmax == "class":
        values.setdefault("classes", len(ckpt.model.class_bounds) - 1)
    try:
        return from_dict(DataConfig, values)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: invalid data options ({exc})") from None


def _model_config(data: Corpus, model: dict[str, Any], classes: int) -> ModelConfig:
    """A new run's model: the options given, the corpus's vocabulary size and, for the class
    softmax, ``classes`` frequency classes (0: about sqrt(V)) cut from the training counts."""
    V = len(data.vocab)
    derived: dict[str, Any] = {}
    if model.get("softmax") == "class":
        counts = unigram_counts(data["train"], V)
        bounds = frequency_classes(counts, classes or round(math.sqrt(V)))
        derived["class_bounds"] = tuple(int(b) for b in bounds)
    return ModelConfig(vocab_size=V, **model, **derived)


def _check_vocabulary(ckpt: checkpoint.Checkpoint, data: Corpus, unit: str, path: Path) -> None:
    if ckpt.vocab.tokens != data.vocab.tokens or ckpt.unit != unit:
        bom = any("\ufeff" in t for t in ckpt.vocab.tokens)  # kept by earlier builds
        raise CheckpointError(
            f"{path}: vocabulary or unit differs from this corpus's; "
            + (
                "its vocabulary has the corpus's byte-order mark (U+FEFF), which rnnlm now "
                "drops: remove it from the corpus file's start too, or start a new run"
                if bom
                else "resume with the same corpus and options"
            )
        )


def _smoke_slices(data: Corpus, eval_bptt: int) -> None:
    """Cut valid and test to two evaluation windows, for a one-step smoke run."""
    for split in ("valid", "test"):
        if split in data:
            whole = len(data.splits[split])
            data.splits[split] = data.splits[split][: 2 * eval_bptt + 1]
            if split in data.oov:  # the same rate on the slice, for the OOV warnings
                data.oov[split] = round(data.oov[split] * len(data[split]) / whole)


def _check_scorable(data: Corpus, files: dict[str, Path], eval_batch_size: int) -> None:
    for split in ("valid", "test"):  # checked now, not after training
        if split in data and (len(data[split]) - 1) // eval_batch_size < 1:
            where = f" ({files[split]})" if files.get(split) else ""
            raise CorpusError(
                f"the {split} text{where} has {len(data[split])} token(s): too few to score"
            )


def _write_config(folder: Path, configs: toml_io.Sections) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create {folder} ({exc.strerror or exc})") from None
    toml_io.write(folder / CONFIG_FILE, configs, CONFIG_HEADER)


def _resumed_train_config(
    ckpt: checkpoint.Checkpoint, model: dict[str, Any], train: dict[str, Any]
) -> TrainConfig:
    stored = {**vars(ckpt.model), **vars(ckpt.train)}
    changed = {
        k: f"{k} {v} (the run has {stored[k]})"
        for k, v in sorted({**model, **train}.items())
        if k not in RESUME_OVERRIDES and v != stored[k]
    }
    if changed:
        raise ConfigError(
            f"cannot change {', '.join(changed.values())} when resuming; "
            f"only {', '.join(RESUME_OVERRIDES)} may change",
            (*changed, *RESUME_OVERRIDES),
        )
    return dataclasses.replace(ckpt.train, **{k: train[k] for k in RESUME_OVERRIDES if k in train})


def train(corpus: str, out: Path | str, **kwargs: Any) -> dict[str, Any]:
    """Prepare, train to the end and return ``results()`` (see ``prepare`` for the options)."""
    with run_lock(out):  # one process per run folder
        run = prepare(corpus, out, **kwargs)
        run.fit()
        return run.results()
