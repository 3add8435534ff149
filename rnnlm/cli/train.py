"""``rnnlm train``: train a language model on a corpus and report its perplexity."""

import dataclasses
import json
import os
import signal
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnlm import memory
from rnnlm.api import LanguageModel
from rnnlm.cli.console import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    echo,
    err,
    stop_signals,
    user_errors,
    warn,
)
from rnnlm.cli.evaluate import OOV_WARN
from rnnlm.cli.progress import TrainDisplay
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.data.corpus import VALID_FRACTION
from rnnlm.errors import ConfigError
from rnnlm.plot import sparkline
from rnnlm.presets import PRESETS, preset
from rnnlm.training import checkpoint
from rnnlm.training.run import TrainingRun, prepare
from rnnlm.training.run_folder import run_lock

M, TR = ModelConfig(vocab_size=1), TrainConfig()
MODEL_FIELDS = {f.name for f in dataclasses.fields(ModelConfig)} - {"vocab_size"}
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
Unit = Enum("Unit", {"word": "word", "char": "char"}, type=str)
Cell = Enum("Cell", {"rnn": "rnn", "lstm": "lstm", "gru": "gru"}, type=str)
Optim = Enum("Optim", {"adam": "adam", "sgd": "sgd"}, type=str)
Loss = Enum("Loss", {"mean": "mean", "time-sum": "time-sum"}, type=str)
Softmax = Enum("Softmax", {"full": "full", "class": "class"}, type=str)
Preset = Enum("Preset", {name: name for name in PRESETS}, type=str)

# Rich help panels, so `rnnlm train --help` reads in groups.
DATA, MODEL, OPTIM, RUN = "Data", "Model", "Optimisation", "Run"


def train(
    ctx: typer.Context,
    corpus: Annotated[
        str,
        typer.Argument(
            help="A text file, a folder with train/valid/test files (train.txt or NAME.train.txt), "
            "or a named corpus: ptb, wikitext-2, tinyshakespeare (downloaded if missing).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run folder for best.npz, last.npz and metrics.jsonl "
            "(default: runs/<corpus name>).",
            rich_help_panel=RUN,
        ),
    ] = None,
    unit: Annotated[
        Unit | None,
        typer.Option(
            help="Tokens: words (plus <eos> per line) or characters "
            "(default: the named corpus's unit, else word).",
            rich_help_panel=DATA,
        ),
    ] = None,
    valid: Annotated[
        Path | None,
        typer.Option(
            help="Validation file (default: the corpus's own, else the last --valid-fraction "
            "of CORPUS).",
            rich_help_panel=DATA,
        ),
    ] = None,
    test: Annotated[
        Path | None,
        typer.Option(
            help="Test file, scored with the best model at the end (default: the corpus's own).",
            rich_help_panel=DATA,
        ),
    ] = None,
    valid_fraction: Annotated[
        float,
        typer.Option(
            help="Share of a single-file corpus held out for validation.", rich_help_panel=DATA
        ),
    ] = VALID_FRACTION,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where named corpora are kept and downloaded (default: $RNNLM_DATA, "
            "else ~/.cache/rnnlm).",
            rich_help_panel=DATA,
        ),
    ] = None,
    max_vocab: Annotated[
        int,
        typer.Option(
            help="Keep at most this many tokens, <unk> included (0: all).", rich_help_panel=DATA
        ),
    ] = 0,
    min_count: Annotated[
        int,
        typer.Option(help="Map tokens seen fewer times than this to <unk>.", rich_help_panel=DATA),
    ] = 1,
    preset_name: Annotated[
        Preset | None,
        typer.Option(
            "--preset",
            help="A published recipe (see README); explicit flags override it (default: none, i.e. "
            "ptb-rnn's values).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    cell: Annotated[
        Cell,
        typer.Option(
            help="Recurrent cell: the seed's tanh RNN, LSTM or GRU.", rich_help_panel=MODEL
        ),
    ] = Cell(M.cell),
    layers: Annotated[
        int, typer.Option(help="Stacked recurrent layers.", rich_help_panel=MODEL)
    ] = M.layers,
    embed_dim: Annotated[
        int, typer.Option(help="Embedding size D.", rich_help_panel=MODEL)
    ] = M.embed_dim,
    hidden: Annotated[int, typer.Option(help="Hidden size H.", rich_help_panel=MODEL)] = M.hidden,
    dropout: Annotated[
        float,
        typer.Option(
            help="Dropout before each recurrent layer and after the last (0: off).",
            rich_help_panel=MODEL,
        ),
    ] = M.dropout,
    variational_dropout: Annotated[
        bool,
        typer.Option(
            "--variational-dropout",
            help="One dropout mask per sequence, shared by all T steps.",
            rich_help_panel=MODEL,
        ),
    ] = M.variational_dropout,
    weight_drop: Annotated[
        float,
        typer.Option(
            help="DropConnect on each recurrent matrix Wh: drop each weight with this "
            "probability, one mask per window (Merity et al. 2017; 0: off).",
            rich_help_panel=MODEL,
        ),
    ] = M.weight_drop,
    tie_weights: Annotated[
        bool,
        typer.Option(
            "--tie-weights",
            help="Output matrix = embedding matrix (needs --embed-dim = --hidden).",
            rich_help_panel=MODEL,
        ),
    ] = M.tie_weights,
    init_scale: Annotated[
        float,
        typer.Option(
            help="Every weight uniform in ±this (at most 10); 0: embedding/output ±0.1, "
            "recurrent ±1/sqrt(H).",
            rich_help_panel=MODEL,
        ),
    ] = M.init_scale,
    softmax: Annotated[
        Softmax,
        typer.Option(
            help="Output layer: full softmax over V, or factored by frequency classes (much "
            "faster for large vocabularies; exact probabilities).",
            rich_help_panel=MODEL,
        ),
    ] = Softmax(M.softmax),
    classes: Annotated[
        int,
        typer.Option(
            help="Classes of the class softmax (0: about sqrt(V)).", rich_help_panel=MODEL
        ),
    ] = 0,
    batch_size: Annotated[
        int, typer.Option(help="N parallel streams.", rich_help_panel=OPTIM)
    ] = TR.batch_size,
    bptt: Annotated[
        int, typer.Option(help="T steps per window (truncated BPTT).", rich_help_panel=OPTIM)
    ] = TR.bptt,
    epochs: Annotated[
        int, typer.Option(help="Passes over the training split.", rich_help_panel=OPTIM)
    ] = TR.epochs,
    optimizer: Annotated[Optim, typer.Option(help="Update rule.", rich_help_panel=OPTIM)] = Optim(
        TR.optimizer
    ),
    lr: Annotated[float, typer.Option(help="Learning rate.", rich_help_panel=OPTIM)] = TR.lr,
    clip: Annotated[
        float,
        typer.Option(help="Clip the global gradient norm to this (0: off).", rich_help_panel=OPTIM),
    ] = TR.clip,
    loss: Annotated[
        Loss,
        typer.Option(
            help="What lr and clip apply to: the mean over the N·T tokens of a window, or the sum "
            "over its T steps (mean over N), as in Zaremba et al.",
            rich_help_panel=OPTIM,
        ),
    ] = Loss(TR.loss),
    lr_decay: Annotated[
        float,
        typer.Option(
            help="Divide lr by this when validation perplexity does not improve (or, with "
            "--decay-after, after every epoch past that one).",
            rich_help_panel=OPTIM,
        ),
    ] = TR.lr_decay,
    decay_after: Annotated[
        int,
        typer.Option(
            help="Fixed schedule: decay lr after each epoch past this one (0: on plateau).",
            rich_help_panel=OPTIM,
        ),
    ] = TR.decay_after,
    ema: Annotated[
        float,
        typer.Option(
            help="Validate, test and save as best.npz an exponential moving average of the "
            "weights with this decay, e.g. 0.999; its validation perplexity also drives the lr "
            "schedule (0: off; the updates use the raw weights, kept in last.npz).",
            rich_help_panel=OPTIM,
        ),
    ] = TR.ema,
    seed: Annotated[
        int,
        typer.Option(help="Seed (>= 0) for initialisation and dropout.", rich_help_panel=OPTIM),
    ] = TR.seed,
    patience: Annotated[
        int,
        typer.Option(
            help="Stop early after this many epochs in a row without a better validation "
            "perplexity (0: never; train all --epochs).",
            rich_help_panel=OPTIM,
        ),
    ] = TR.patience,
    max_steps: Annotated[
        int,
        typer.Option(
            help="Stop after this many updates (0: no limit); for smoke tests and benchmarks. "
            "Stored with the run: --resume keeps it unless given again.",
            rich_help_panel=RUN,
        ),
    ] = TR.max_steps,
    log_every: Annotated[
        int,
        typer.Option(
            help="Also log a step record to metrics.jsonl every this many steps (0: off).",
            rich_help_panel=RUN,
        ),
    ] = TR.log_every,
    save_every: Annotated[
        int,
        typer.Option(
            help="Write a resumable last.npz every this many steps (0: every 5 minutes).",
            rich_help_panel=RUN,
        ),
    ] = TR.save_every,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in --out exactly where its last.npz stopped.",
            rich_help_panel=RUN,
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="End stdout with one JSON object of the results.", rich_help_panel=RUN
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Skip the check that the estimated peak memory fits the memory free.",
            rich_help_panel=RUN,
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Run one step of everything (train, validate, save, reload, sample) in a "
            "temporary folder and exit: a smoke test.",
            rich_help_panel=RUN,
        ),
    ] = False,
) -> None:
    """Train a language model with stateful truncated BPTT; report validation and test perplexity.

    Examples: rnnlm train ptb --out runs/ptb | rnnlm train input.txt --unit char --out runs/shk |
    rnnlm train ptb --preset zaremba-small --out runs/zs
    """  # fmt: skip
    given = {k: v.value if isinstance(v, Enum) else v for k, v in locals().items()}
    with user_errors():
        if not dry_run:
            with run_lock(out or default_out(corpus)):  # one process per run folder
                _train(ctx, given, out or default_out(corpus))
            return
        if resume:
            raise ConfigError("--dry-run starts a fresh run in a temporary folder; drop --resume")
        with tempfile.TemporaryDirectory(prefix="rnnlm-dry-run-") as tmp:
            _train(ctx, given, Path(tmp) / "run", dry_run=True)


def plural(n: int, word: str) -> str:
    """``1 step``, ``2 steps``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def default_out(corpus: str) -> Path:
    """``runs/<corpus name>``: a file's or folder's own name (``.`` names the current folder)."""
    path = Path(corpus).expanduser()
    name = path.stem if path.name not in ("", ".", "..") else Path(os.path.abspath(path)).name
    return Path("runs") / (name or "run")


def _train(ctx: typer.Context, given: dict[str, Any], out: Path, dry_run: bool = False) -> None:
    g = given
    model, train = _options(ctx, given)
    with TrainDisplay(g["epochs"], g["unit"] or "word") as display:
        run = prepare(
            g["corpus"], out, model=model, train=train, unit=g["unit"], valid=g["valid"],
            test=g["test"], valid_fraction=g["valid_fraction"], data_dir=g["data_dir"],
            max_vocab=g["max_vocab"], min_count=g["min_count"], resume=g["resume"],
            smoke=dry_run, classes=g["classes"], force=g["force"], on_step=display.step,
            on_epoch=display.epoch,
        )  # fmt: skip
        display.epochs, display.unit = run.trainer.cfg.epochs, run.corpus.unit
        _summary(run)
        display.start(run.trainer)
        with stop_signals(run.trainer.request_stop) as got:
            state = run.fit()
    if got["signal"] is not None and not state.finished:
        err.print(
            f"interrupted at step {state.step}; {run.run.last} holds the run. Resume with:\n"
            f"  rnnlm train {g['corpus']} --out {run.run.path} --resume",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(EXIT_SIGINT if got["signal"] == signal.SIGINT else EXIT_SIGTERM)
    curve = [
        r.get("valid_ppl", 0.0) for r in run.run.read_metrics() if r.get("kind", "epoch") == "epoch"
    ]
    if len(curve) > 1:
        err.print(
            f"valid ppl {sparkline(curve)} {curve[0]:.2f} -> {curve[-1]:.2f}", highlight=False
        )
    _report(run.results(), run, g["as_json"], dry_run)
    if dry_run:
        sample = LanguageModel(checkpoint.load(run.run.best)).generate(length=3, seed=0)
        echo(f"dry run ok: 1 step trained, validated, saved, reloaded and sampled ({sample!r})")


def _options(ctx: typer.Context, given: dict[str, Any]) -> tuple[dict, dict]:
    """ModelConfig and TrainConfig fields: defaults, then the preset, then typed flags.

    When resuming, only what the user asked for (preset or flags) is passed on, to be checked
    against the run's stored configuration.
    """
    explicit = _explicit(ctx, given)
    values = preset(given["preset_name"]) if given["preset_name"] else {}
    values.update({k: given[k] for k in explicit})
    if not given["resume"]:
        values = {**{k: given[k] for k in MODEL_FIELDS | TRAIN_FIELDS if k in given}, **values}
    model = {k: v for k, v in values.items() if k in MODEL_FIELDS}
    train = {k: v for k, v in values.items() if k in TRAIN_FIELDS}
    return model, train


def _explicit(ctx: typer.Context, given: dict[str, Any]) -> set[str]:
    """The options the user typed (rather than left at their defaults)."""
    return {
        name for name in given
        if (src := ctx.get_parameter_source(name)) is not None and src.name != "DEFAULT"
    }  # fmt: skip


def _schedule(cfg: TrainConfig) -> str:
    """The learning-rate schedule in words, for the summary line."""
    if cfg.decay_after > 0:
        return f", lr ÷{cfg.lr_decay:g} per epoch after {cfg.decay_after}"
    return f", lr ÷{cfg.lr_decay:g} on plateau" if cfg.lr_decay > 1 else ""


def _summary(run: TrainingRun) -> None:
    data, trainer = run.corpus, run.trainer
    cfg, mc = trainer.cfg, trainer.model.cfg
    sizes = ", ".join(f"{s} {len(data[s]):,}" for s in ("train", "valid", "test") if s in data)
    extras = ""
    if mc.variational_dropout and mc.dropout > 0:
        extras += ", variational"
    if mc.weight_drop > 0:
        extras += f", weight drop {mc.weight_drop:g}"
    if mc.tie_weights:
        extras += ", tied"
    if mc.softmax == "class":
        extras += f", class softmax ({len(mc.class_bounds) - 1} classes)"
    arrays = memory.training(mc, cfg, sum(map(len, data.splits.values())))
    lines = [
        f"corpus: {data.sources['train']} ({data.unit} level) | tokens: {sizes} | "
        f"vocab {len(data.vocab):,}",
        f"model: {mc.cell} x{mc.layers}, D={mc.embed_dim} H={mc.hidden}, dropout {mc.dropout:g}"
        f"{extras} | {trainer.model.num_params():,} parameters | "
        f"~{arrays.total / 2**20:,.0f} MiB of arrays",
        f"training: N={cfg.batch_size} T={cfg.bptt}, {trainer.windows_per_epoch:,} windows "
        f"({trainer.windows_per_epoch * cfg.batch_size * cfg.bptt:,} tokens) per epoch, "
        f"{plural(cfg.epochs, 'epoch')} | {cfg.optimizer} lr {cfg.lr:g} ({cfg.loss}) "
        f"clip {cfg.clip:g}"
        f"{_schedule(cfg)}{f', ema {cfg.ema:g}' if cfg.ema else ''}"
        f"{f', patience {cfg.patience}' if cfg.patience else ''} | "
        f"out: {run.run.path}",
    ]
    if run.resumed:
        st = trainer.state
        if st.epoch >= cfg.epochs:
            lines.append(
                f"nothing left to train: all {cfg.epochs} epochs are done "
                "(resume with a larger --epochs to go on)"
            )
        elif trainer.stopped_early:
            lines.append(
                f"nothing left to train: stopped early, {st.stale_epochs} epochs without a "
                "better validation (resume with a larger --patience to go on)"
            )
        elif cfg.max_steps and st.step >= cfg.max_steps:
            lines.append(
                f"nothing left to train: the run stopped at --max-steps {cfg.max_steps} "
                "(resume with a larger --max-steps to go on)"
            )
        else:
            lines.append(f"resuming at epoch {st.epoch + 1}, step {st.step}")
    err.print("\n".join(lines), highlight=False, markup=False)

    def oov_rate(split: str) -> float:
        return data.oov.get(split, 0) / max(len(data[split]), 1) if split in data else 0.0

    for split in ("valid", "test"):  # well above the training text's own rate (--max-vocab)
        rate = oov_rate(split)
        if rate > oov_rate("train") + OOV_WARN:
            source = data.sources.get(split) or f"the {split} text"
            warn(
                f"{source}: {rate:.1%} of its tokens are not in the training vocabulary "
                "(scored as <unk>); is it the right file?"
            )


def _report(result: dict[str, Any], run: TrainingRun, as_json: bool, dry_run: bool) -> None:
    st = run.trainer.state
    best = result["best_valid_ppl"]
    if run.trainer.stopped_early:
        echo(f"stopped early after epoch {st.epoch}: no better validation in {st.stale_epochs}")
    echo(f"best valid ppl {best:.2f}" if best is not None else "not validated yet")
    if result["test_ppl"] is not None:
        echo(f"test ppl {result['test_ppl']:.2f}")
    echo(
        f"{plural(st.step, 'step')}, {result['tokens_per_s']:,.0f} tokens/s, {st.seconds:.1f} s; "
        + ("best model: (a dry run's, deleted)" if dry_run else f"best model: {run.run.best}")
    )
    if as_json:
        echo(json.dumps(result))
