"""``rnnlm train``: train a language model on a corpus and report its perplexity."""

import contextlib
import json
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer

from rnnlm import memory
from rnnlm.api import LanguageModel
from rnnlm.backend import use_device
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
from rnnlm.cli.flags import CorpusArg
from rnnlm.cli.progress import TrainDisplay
from rnnlm.cli.train_options import SECTION_OF, with_options
from rnnlm.config import SECTIONS, TrainConfig, toml_io
from rnnlm.errors import ConfigError
from rnnlm.plot import sparkline
from rnnlm.presets import preset_sections
from rnnlm.training import checkpoint
from rnnlm.training.distributed import (
    Comm,
    agreed_signal,
    drop_option,
    mpiexec_command,
    world,
)
from rnnlm.training.launcher import launched_size
from rnnlm.training.run import TrainingRun, prepare
from rnnlm.training.run_folder import run_lock


@with_options
def train(
    ctx: typer.Context,
    corpus: CorpusArg,
    **options: Any,
) -> None:
    """Train a language model with stateful truncated BPTT; report validation and test perplexity.

    Examples: rnnlm train ptb --out runs/ptb | rnnlm train input.txt --unit char --out runs/shk |
    rnnlm train ptb --preset zaremba-small --out runs/zs |
    rnnlm train ptb --config runs/ptb/config.toml --out runs/ptb2
    """  # fmt: skip
    given = {"corpus": corpus, **{k: getattr(v, "value", v) for k, v in options.items()}}
    with user_errors():
        use_device(given["device"])  # no CuPy or no GPU: said before anything starts
        comm = _workers(given["workers"])
        if not given["dry_run"]:
            out = given["out"] or default_out(corpus)
            # one process per run folder (with MPI, rank 0 holds the lock for the job)
            with run_lock(out) if comm.is_root else contextlib.nullcontext():
                _train(ctx, given, out, comm)
            return
        if given["resume"]:
            raise ConfigError("--dry-run starts a fresh run in a temporary folder; drop --resume")
        with tempfile.TemporaryDirectory(prefix="rnnlm-dry-run-") as tmp:
            _train(ctx, given, Path(tmp) / "run", comm, dry_run=True)


def _workers(workers: int) -> Comm:
    """The job's communicator; ``--workers K`` outside mpiexec starts it again under
    ``mpiexec -n K`` in this process's place."""
    if workers < 1:
        raise ConfigError("workers must be at least 1", ("workers",))
    size = launched_size()
    if workers > 1 and size == 1:
        argv = drop_option(sys.argv[1:], "--workers")
        cmd = mpiexec_command(workers, argv, sys.executable)
        os.execv(cmd[0], cmd)
    if workers > 1 and workers != size:
        raise ConfigError(f"workers is {workers} but mpiexec started {size}", ("workers",))
    return world()


def plural(n: int, word: str) -> str:
    """``1 step``, ``2 steps``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def default_out(corpus: str) -> Path:
    """``runs/<corpus name>``: a file's or folder's own name (``.`` names the current folder)."""
    path = Path(corpus).expanduser()
    name = path.stem if path.name not in ("", ".", "..") else Path(os.path.abspath(path)).name
    return Path("runs") / (name or "run")


def _train(
    ctx: typer.Context, given: dict[str, Any], out: Path, comm: Comm, dry_run: bool = False
) -> None:
    g = given
    sections = resolve(ctx, given)
    if not comm.is_root:  # the other ranks train in silence: rank 0 reports for the job
        run = prepare(
            g["corpus"], out, **sections, data_dir=g["data_dir"], resume=g["resume"],
            smoke=dry_run, force=g["force"], comm=comm, device=g["device"],
        )  # fmt: skip
        with stop_signals(run.trainer.request_stop) as got:
            state = run.fit()
        sig = agreed_signal(comm, got["signal"])
        if sig is not None and not state.finished:
            comm.barrier()  # the ranks end together, after rank 0 has said how to resume
            raise typer.Exit(EXIT_SIGINT if sig == signal.SIGINT else EXIT_SIGTERM)
        return
    epochs = sections["train"].get("epochs", TrainConfig.epochs)
    with TrainDisplay(epochs, sections["data"].get("unit") or "word") as display:
        run = prepare(
            g["corpus"], out, **sections, data_dir=g["data_dir"], resume=g["resume"],
            smoke=dry_run, force=g["force"], on_step=display.step, on_epoch=display.epoch,
            comm=comm, device=g["device"],
        )  # fmt: skip
        display.epochs, display.unit = run.trainer.cfg.epochs, run.corpus.unit
        _summary(run)
        display.start(run.trainer)
        with stop_signals(run.trainer.request_stop) as got:
            state = run.fit()
    sig = agreed_signal(comm, got["signal"])  # (a signal may have reached another rank only)
    if sig is not None and not state.finished:
        err.print(
            f"interrupted at step {state.step}; {run.run.last} holds the run. Resume with:\n"
            f"  rnnlm train {g['corpus']} --out {run.run.path} --resume",
            highlight=False,
            markup=False,
        )
        comm.barrier()
        raise typer.Exit(EXIT_SIGINT if sig == signal.SIGINT else EXIT_SIGTERM)
    curve = [
        r.get("valid_ppl", 0.0) for r in run.run.read_metrics() if r.get("kind", "epoch") == "epoch"
    ]
    if len(curve) > 1:
        err.print(
            f"valid ppl {sparkline(curve)} {curve[0]:.2f} -> {curve[-1]:.2f}", highlight=False
        )
    _report(run.results(), run, g["as_json"], dry_run)
    if dry_run:
        best = LanguageModel(checkpoint.load(run.run.best), g["device"])
        sample = best.generate(length=3, seed=0)
        echo(f"dry run ok: 1 step trained, validated, saved, reloaded and sampled ({sample!r})")


def resolve(ctx: typer.Context, given: dict[str, Any]) -> toml_io.Sections:
    """The options a run is given, by config section: the preset's, then those of the
    ``--config`` file, then the flags typed. The defaults are the configs' own; when
    resuming, these are checked against the run's stored configuration."""
    layers = [
        preset_sections(given["preset"]) if given["preset"] else {},
        toml_io.read(given["config"]) if given["config"] else {},
        _typed(ctx, given),
    ]
    merged: toml_io.Sections = {section: {} for section in SECTIONS}
    for layer in layers:
        for section, values in layer.items():
            merged[section].update(values)
    return merged


def _typed(ctx: typer.Context, given: dict[str, Any]) -> toml_io.Sections:
    """The configuration flags the user typed (rather than left at their defaults)."""
    typed: toml_io.Sections = {}
    for name, section in SECTION_OF.items():
        source = ctx.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT":
            typed.setdefault(section, {})[name] = given[name]
    return typed


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
        f"out: {run.run.path}{f' | device {run.device}' if run.device != 'cpu' else ''}",
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
