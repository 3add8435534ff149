"""A training run from a CORPUS argument to checkpoints and results: what ``rnnlm train`` does.

    from rnnlm.training.run import train
    results = train("ptb", "runs/ptb", model={"hidden": 256}, train={"epochs": 10})

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
from rnnlm.config import MAX_INIT_SCALE, ModelConfig, TrainConfig
from rnnlm.data.corpus import VALID_FRACTION, Corpus, load_corpus, resolve_files, scored
from rnnlm.errors import CheckpointError, ConfigError, CorpusError
from rnnlm.eval.perplexity import evaluate
from rnnlm.nn.heads.class_softmax import frequency_classes
from rnnlm.nn.model import RNNLM
from rnnlm.training import checkpoint
from rnnlm.training.loop import EpochReport, StepReport, Trainer, TrainState
from rnnlm.training.run_folder import RunDir, run_lock

# What a resumed run may change: how long it goes on, how often it saves and logs.
RESUME_OVERRIDES = ("epochs", "max_steps", "patience", "save_every", "log_every")


@dataclass
class TrainingRun:
    corpus: Corpus
    trainer: Trainer
    run: RunDir
    resumed: bool

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
            model = RNNLM(best.model, np.random.default_rng(0), params=best.params)
            tc = self.trainer.cfg
            test_ids = scored(data["test"], data.vocab, data.unit)
            res = evaluate(model, test_ids, tc.eval_batch_size, tc.eval_bptt)
            result.update(test_ppl=res.perplexity, test_tokens=res.tokens)
            if data.unit == "char":
                result["test_bits_per_token"] = res.bits_per_token
        return result


def prepare(
    corpus: str,
    out: Path | str,
    *,
    model: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    unit: str | None = None,
    valid: Path | None = None,
    test: Path | None = None,
    valid_fraction: float = VALID_FRACTION,
    data_dir: Path | None = None,
    max_vocab: int = 0,
    min_count: int = 1,
    resume: bool = False,
    smoke: bool = False,
    classes: int = 0,
    force: bool = False,
    on_step: Callable[[StepReport], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainingRun:
    """Load the corpus and build everything a run needs; nothing is trained yet.

    ``model`` and ``train`` hold ModelConfig/TrainConfig fields (defaults for the rest). When
    resuming, the run keeps its stored configs; options given here must agree with them, except
    those in ``RESUME_OVERRIDES``. ``smoke`` trains one step and validates on a slice.
    ``classes``: with ``model["softmax"] == "class"``, the number of frequency classes
    (0: about sqrt(V)), cut from the training split's counts. ``force`` skips the memory check
    (rnnlm/memory.py). The caller holds ``run_lock(out)`` around this and the training, as
    ``train`` below does.
    """
    model, train = dict(model or {}), dict(train or {})
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 0:
        raise ConfigError(
            f"--classes must be a whole number >= 0 (0: about sqrt(V)), got {classes}"
        )
    if classes and not resume and model.get("softmax") != "class":
        raise ConfigError("--classes needs --softmax class")
    if not resume:
        TrainConfig(**train).validate()  # a bad option is named before any file is read
        if not 0 <= model.get("init_scale", 0.0) <= MAX_INIT_SCALE:  # new runs only
            raise ConfigError(
                f"--init-scale must be in [0, {MAX_INIT_SCALE:g}] (0: per-layer default), "
                f"got {model['init_scale']}"
            )
    run = RunDir(out, resume=resume)
    ckpt = checkpoint.load(run.last) if resume else None
    data_opts = {"valid": valid, "test": test, "valid_fraction": valid_fraction,
                 "max_vocab": max_vocab, "min_count": min_count}  # fmt: skip
    if ckpt is not None:  # the run's own data options, unless given again
        stored = ckpt.extra.get("data", {})
        for k, default in (("valid_fraction", VALID_FRACTION), ("max_vocab", 0), ("min_count", 1)):
            if data_opts[k] == default and k in stored:
                data_opts[k] = stored[k]
        for k in ("valid", "test"):
            if data_opts[k] is None and stored.get(k):
                data_opts[k] = Path(stored[k])
    files, named_unit = resolve_files(corpus, data_dir)
    files.update({k: data_opts[k] for k in ("valid", "test") if data_opts[k] is not None})
    if "valid" in files and valid_fraction != VALID_FRACTION:  # as given, never a stored value
        raise ConfigError(
            "--valid-fraction splits validation text off a corpus that has none; this one "
            f"has {files['valid']}"
        )
    unit = unit or (ckpt.unit if ckpt else None) or named_unit or "word"
    data = load_corpus(
        files, unit, data_opts["max_vocab"], data_opts["min_count"], data_opts["valid_fraction"]
    )
    if ckpt is not None:
        if ckpt.vocab.tokens != data.vocab.tokens or ckpt.unit != unit:
            bom = any("\ufeff" in t for t in ckpt.vocab.tokens)  # kept by earlier builds
            raise CheckpointError(
                f"{run.last}: vocabulary or unit differs from this corpus's; "
                + (
                    "its vocabulary has the corpus's byte-order mark (U+FEFF), which rnnlm now "
                    "drops: remove it from the corpus file's start too, or start a new run"
                    if bom
                    else "resume with the same corpus and options"
                )
            )
        mcfg, tcfg = ckpt.model, _resumed_train_config(ckpt, model, train)
    else:
        V = len(data.vocab)
        if model.get("softmax") == "class":
            counts = np.bincount(data["train"], minlength=V)
            bounds = frequency_classes(counts, classes or round(math.sqrt(V)))
            model["class_bounds"] = tuple(int(b) for b in bounds)
        mcfg = ModelConfig(vocab_size=V, **model)
        tcfg = TrainConfig(**train)
    if smoke:
        tcfg = dataclasses.replace(tcfg, epochs=1, max_steps=1)
        for split in ("valid", "test"):
            if split in data:
                whole = len(data.splits[split])
                data.splits[split] = data.splits[split][: 2 * tcfg.eval_bptt + 1]
                if split in data.oov:  # the same rate on the slice, for the OOV warnings
                    data.oov[split] = round(data.oov[split] * len(data[split]) / whole)
    mcfg.validate()
    tcfg.validate()
    for split in ("valid", "test"):  # checked now, not after training
        if split in data and (len(data[split]) - 1) // tcfg.eval_batch_size < 1:
            where = f" ({files[split]})" if files.get(split) else ""
            raise CorpusError(
                f"the {split} text{where} has {len(data[split])} token(s): too few to score"
            )
    memory.check(memory.training(mcfg, tcfg, sum(map(len, data.splits.values()))), force)
    rng = np.random.default_rng(tcfg.seed)
    trainer = Trainer(
        RNNLM(mcfg, rng), tcfg, data["train"], scored(data["valid"], data.vocab, unit), data.vocab,
        unit, rng,
        run=run, on_step=on_step, on_epoch=on_epoch,
    )  # fmt: skip
    trainer.extra["data"] = {k: str(v) if isinstance(v, Path) else v for k, v in data_opts.items()}
    if ckpt is not None:
        try:
            trainer.restore(ckpt)
        except CheckpointError as exc:
            raise CheckpointError(f"{run.last}: {exc}") from None
        run.truncate_metrics(trainer.state.step, trainer.state.epoch)
    return TrainingRun(corpus=data, trainer=trainer, run=run, resumed=ckpt is not None)


def _resumed_train_config(
    ckpt: checkpoint.Checkpoint, model: dict[str, Any], train: dict[str, Any]
) -> TrainConfig:
    stored = {**dataclasses.asdict(ckpt.model), **dataclasses.asdict(ckpt.train)}
    changed = [
        f"--{k.replace('_', '-')} {v} (the run has {stored[k]})"
        for k, v in sorted({**model, **train}.items())
        if k not in RESUME_OVERRIDES and k in stored and v != stored[k]
    ]
    if changed:
        raise ConfigError(
            f"cannot change {', '.join(changed)} when resuming; "
            f"only {', '.join('--' + k.replace('_', '-') for k in RESUME_OVERRIDES)} may change"
        )
    return dataclasses.replace(ckpt.train, **{k: train[k] for k in RESUME_OVERRIDES if k in train})


def train(corpus: str, out: Path | str, **kwargs: Any) -> dict[str, Any]:
    """Prepare, train to the end and return ``results()`` (see ``prepare`` for the options)."""
    with run_lock(out):  # one process per run folder
        run = prepare(corpus, out, **kwargs)
        run.fit()
        return run.results()
