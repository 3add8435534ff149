"""``rnnlm train``: train a language model on a corpus and report its perplexity."""

import dataclasses
import json
import math
import signal
import tempfile
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from rnnlm import checkpoint
from rnnlm.api import LanguageModel
from rnnlm.cli.console import EXIT_SIGINT, EXIT_SIGTERM, echo, err, stop_signals, user_errors
from rnnlm.cli.progress import TrainDisplay
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.corpus import Corpus, load_corpus, resolve_files
from rnnlm.errors import CheckpointError, ConfigError
from rnnlm.evaluate import evaluate
from rnnlm.model import CELLS, RNNLM, param_shapes
from rnnlm.plot import sparkline
from rnnlm.presets import PRESETS, preset
from rnnlm.run import RunDir
from rnnlm.trainer import Trainer

M, TR = ModelConfig(vocab_size=1), TrainConfig()
MODEL_FIELDS = {f.name for f in dataclasses.fields(ModelConfig)} - {"vocab_size"}
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
Unit = Enum("Unit", {"word": "word", "char": "char"}, type=str)
Cell = Enum("Cell", {"rnn": "rnn", "lstm": "lstm", "gru": "gru"}, type=str)
Optim = Enum("Optim", {"adam": "adam", "sgd": "sgd"}, type=str)
Loss = Enum("Loss", {"mean": "mean", "time-sum": "time-sum"}, type=str)
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
            help="Test file, scored with the best model at the end.", rich_help_panel=DATA
        ),
    ] = None,
    valid_fraction: Annotated[
        float,
        typer.Option(
            help="Share of a single-file corpus held out for validation.", rich_help_panel=DATA
        ),
    ] = 0.1,
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
            help="A published recipe (see README); explicit flags override it.",
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
            help="Every weight uniform in ±this; 0: embedding/output ±0.1, recurrent ±1/sqrt(H).",
            rich_help_panel=MODEL,
        ),
    ] = M.init_scale,
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
    seed: Annotated[
        int, typer.Option(help="Seed for initialisation and dropout.", rich_help_panel=OPTIM)
    ] = TR.seed,
    max_steps: Annotated[
        int,
        typer.Option(
            help="Stop after this many updates (0: no limit); for smoke tests and benchmarks.",
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
            _train(ctx, given, out or Path("runs") / Path(corpus).stem)
            return
        if resume:
            raise ConfigError("--dry-run starts a fresh run in a temporary folder; drop --resume")
        with tempfile.TemporaryDirectory(prefix="rnnlm-dry-run-") as tmp:
            _train(ctx, given, Path(tmp) / "run", dry_run=True)


def _train(ctx: typer.Context, given: dict[str, Any], out: Path, dry_run: bool = False) -> None:
    g = given
    files, named_unit = resolve_files(g["corpus"], g["data_dir"])
    files.update({k: g[k] for k in ("valid", "test") if g[k] is not None})
    unit = g["unit"] or named_unit or "word"
    run_dir = RunDir(out, resume=g["resume"])
    data = load_corpus(files, unit, g["max_vocab"], g["min_count"], g["valid_fraction"])
    ckpt = None
    if g["resume"]:
        ckpt = checkpoint.load(run_dir.last)
        if ckpt.vocab.tokens != data.vocab.tokens or ckpt.unit != unit:
            raise CheckpointError(
                f"{run_dir.last}: vocabulary or unit differs from this corpus's; "
                "resume with the same corpus and options"
            )
        mcfg, tcfg = ckpt.model, _resumed_config(ckpt, _explicit(ctx, given), given)
    else:
        mcfg, tcfg = _configs(ctx, given, len(data.vocab))
    if dry_run:  # one step of everything: train, validate, save, reload, sample
        tcfg = dataclasses.replace(tcfg, epochs=1, max_steps=1)
        for split in ("valid", "test"):
            if split in data:
                data.splits[split] = data.splits[split][: 2 * tcfg.eval_bptt + 1]
    tcfg.validate()
    rng = np.random.default_rng(tcfg.seed)
    model = RNNLM(mcfg, rng)
    with TrainDisplay(tcfg.epochs, unit) as display:
        trainer = Trainer(
            model, tcfg, data["train"], data["valid"], data.vocab, unit, rng,
            run=run_dir, on_step=display.step, on_epoch=display.epoch,
        )  # fmt: skip
        if ckpt is not None:
            trainer.restore(ckpt)
        _summary(data, model, trainer, run_dir, resumed=ckpt is not None)
        display.start(trainer)
        with stop_signals(trainer.request_stop) as got:
            state = trainer.fit()
    if got["signal"] is not None:
        err.print(
            f"interrupted at step {state.step}; {run_dir.last} holds the run. Resume with:\n"
            f"  rnnlm train {g['corpus']} --out {run_dir.path} --resume",
            highlight=False,
        )
        raise typer.Exit(EXIT_SIGINT if got["signal"] == signal.SIGINT else EXIT_SIGTERM)
    curve = [r["valid_ppl"] for r in run_dir.read_metrics() if r.get("kind") == "epoch"]
    if len(curve) > 1:
        err.print(
            f"valid ppl {sparkline(curve)} {curve[0]:.2f} -> {curve[-1]:.2f}", highlight=False
        )
    _report(data, trainer, run_dir, g["as_json"])
    if dry_run:
        lm = LanguageModel(checkpoint.load(run_dir.best))
        sample = lm.generate(length=3, seed=0)
        echo(f"dry run ok: 1 step trained, validated, saved, reloaded and sampled ({sample!r})")


RESUME_OVERRIDES = (
    "epochs",
    "max_steps",
    "save_every",
    "log_every",
)  # how long to go on and how often to save


def _explicit(ctx: typer.Context, given: dict[str, Any]) -> set[str]:
    """The options the user typed (rather than left at their defaults)."""
    return {
        name for name in given
        if (src := ctx.get_parameter_source(name)) is not None and src.name != "DEFAULT"
    }  # fmt: skip


def _resumed_config(ckpt: checkpoint.Checkpoint, explicit: set[str], given: dict) -> TrainConfig:
    """A resumed run keeps its config; only how long it runs and how often it saves may change.

    Options repeated with the run's own values (the same command plus --resume) are fine.
    """
    asked = preset(given["preset_name"]) if given["preset_name"] else {}
    asked.update({k: given[k] for k in explicit if k in MODEL_FIELDS | TRAIN_FIELDS})
    stored = {**dataclasses.asdict(ckpt.model), **dataclasses.asdict(ckpt.train)}
    changed = [
        f"--{k.replace('_', '-')} {v} (the run has {stored[k]})"
        for k, v in sorted(asked.items())
        if k not in RESUME_OVERRIDES and v != stored[k]
    ]
    if changed:
        raise ConfigError(
            f"cannot change {', '.join(changed)} when resuming; "
            "only --epochs, --max-steps, --save-every and --log-every may change"
        )
    overrides = {k: given[k] for k in RESUME_OVERRIDES if k in explicit}
    return dataclasses.replace(ckpt.train, **overrides)


def _configs(ctx: typer.Context, given: dict[str, Any], vocab_size: int):
    """Defaults, then the preset, then the flags given on the command line."""
    values = dict(given)
    if given["preset_name"]:
        explicit = _explicit(ctx, given)
        values.update({k: v for k, v in preset(given["preset_name"]).items() if k not in explicit})
    mcfg = ModelConfig(vocab_size=vocab_size, **{k: values[k] for k in MODEL_FIELDS})
    tcfg = TrainConfig(**{k: values[k] for k in TRAIN_FIELDS if k in values})
    mcfg.validate()
    return mcfg, tcfg


def memory_estimate(mc: ModelConfig, cfg: TrainConfig) -> int:
    """Bytes of the arrays training holds: parameters, gradients, optimizer state, buffers."""
    params = sum(int(np.prod(s)) for s in param_shapes(mc).values())
    copies = 2 + (3 if cfg.optimizer == "adam" else 1)  # weights, grads, optimizer state/temps
    gates = CELLS[mc.cell][0]
    M = cfg.batch_size * cfg.bptt
    acts = 3 * M * mc.vocab_size + mc.layers * M * (6 * gates * mc.hidden) + 4 * M * mc.embed_dim
    return 4 * (copies * params + acts)


def _summary(data: Corpus, model: RNNLM, trainer: Trainer, run_dir: RunDir, resumed: bool) -> None:
    cfg, mc = trainer.cfg, model.cfg
    sizes = ", ".join(f"{s} {len(data[s]):,}" for s in ("train", "valid", "test") if s in data)
    lines = [
        f"corpus: {data.sources['train']} ({data.unit} level) | tokens: {sizes} | "
        f"vocab {len(data.vocab):,}",
        f"model: {mc.cell} x{mc.layers}, D={mc.embed_dim} H={mc.hidden}, dropout {mc.dropout:g}"
        f"{', tied' if mc.tie_weights else ''} | {model.num_params():,} parameters | "
        f"~{memory_estimate(mc, cfg) / 2**20:,.0f} MiB of arrays",
        f"training: N={cfg.batch_size} T={cfg.bptt}, {trainer.windows_per_epoch:,} windows "
        f"({trainer.windows_per_epoch * cfg.batch_size * cfg.bptt:,} tokens) per epoch, "
        f"{cfg.epochs} epochs | {cfg.optimizer} lr {cfg.lr:g} ({cfg.loss}) clip {cfg.clip:g} | "
        f"out: {run_dir.path}",
    ]
    if resumed:
        lines.append(f"resuming at epoch {trainer.state.epoch + 1}, step {trainer.state.step}")
    err.print("\n".join(lines), highlight=False)


def _report(data: Corpus, trainer: Trainer, run_dir: RunDir, as_json: bool) -> None:
    st = trainer.state
    result: dict[str, Any] = {
        "best_valid_ppl": st.best_valid_ppl,
        "test_ppl": None,
        "epochs": st.epoch,
        "steps": st.step,
        "tokens_per_s": st.tokens_seen / st.seconds if st.seconds else 0.0,
        "seconds": round(st.seconds, 3),
        "checkpoint": str(run_dir.best),
        "unit": data.unit,
        "vocab_size": len(data.vocab),
    }
    if "test" in data:
        lm = LanguageModel(checkpoint.load(run_dir.best))
        res = evaluate(lm.model, data["test"], trainer.cfg.eval_batch_size, trainer.cfg.eval_bptt)
        result["test_ppl"] = res.perplexity
        result["test_tokens"] = res.tokens
        if data.unit == "char":
            result["test_bits_per_token"] = res.bits_per_token
    if data.unit == "char" and st.best_valid_ppl:
        result["best_valid_bits_per_token"] = math.log2(st.best_valid_ppl)
    echo(f"best valid ppl {result['best_valid_ppl']:.2f}")
    if result["test_ppl"] is not None:
        echo(f"test ppl {result['test_ppl']:.2f}")
    echo(
        f"{st.step} steps, {result['tokens_per_s']:,.0f} tokens/s, {st.seconds:.1f} s; "
        f"best model: {run_dir.best}"
    )
    if as_json:
        echo(json.dumps(result))
