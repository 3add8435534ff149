"""``rnnlm train``: train a language model on a corpus and report its perplexity."""

import json
import math
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from rnnlm import checkpoint
from rnnlm.api import LanguageModel
from rnnlm.cli.console import EXIT_SIGINT, EXIT_SIGTERM, echo, err, stop_signals, user_errors
from rnnlm.cli.progress import TrainDisplay
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.corpus import load_corpus, resolve_files
from rnnlm.errors import CheckpointError
from rnnlm.evaluate import evaluate
from rnnlm.model import RNNLM
from rnnlm.run import RunDir
from rnnlm.trainer import Trainer

D_MODEL, D_TRAIN = ModelConfig(vocab_size=1), TrainConfig()


class Optimizer(str, Enum):
    adam = "adam"
    sgd = "sgd"


class Unit(str, Enum):
    word = "word"
    char = "char"


def train(
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
            help="Run folder for best.npz, last.npz, metrics.jsonl. (default: runs/<corpus name>)",
            show_default=False,
        ),
    ] = None,
    unit: Annotated[
        Unit | None,
        typer.Option(
            help="Tokens: words (plus <eos> per line) or characters. "
            "(default: the named corpus's unit, else word)",
            show_default=False,
        ),
    ] = None,
    valid: Annotated[
        Path | None,
        typer.Option(
            help="Validation file. (default: the corpus's own, else the last "
            "--valid-fraction of CORPUS)",
            show_default=False,
        ),
    ] = None,
    test: Annotated[
        Path | None, typer.Option(help="Test file, scored with the best model at the end.")
    ] = None,
    valid_fraction: Annotated[
        float, typer.Option(help="Share of a single-file corpus held out for validation.")
    ] = 0.1,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where named corpora are stored and downloaded. "
            "(default: $RNNLM_DATA, else ~/.cache/rnnlm)",
            show_default=False,
        ),
    ] = None,
    embed_dim: Annotated[int, typer.Option(help="Embedding size D.")] = D_MODEL.embed_dim,
    hidden: Annotated[int, typer.Option(help="Hidden size H of the RNN.")] = D_MODEL.hidden,
    layers: Annotated[int, typer.Option(help="Stacked RNN layers.")] = D_MODEL.layers,
    dropout: Annotated[
        float, typer.Option(help="Dropout on embeddings and RNN outputs (0 disables).")
    ] = D_MODEL.dropout,
    init_scale: Annotated[
        float, typer.Option(help="Embedding and output weights start uniform in ±this.")
    ] = D_MODEL.init_scale,
    batch_size: Annotated[int, typer.Option(help="N parallel streams.")] = D_TRAIN.batch_size,
    bptt: Annotated[int, typer.Option(help="T steps per window (truncated BPTT).")] = D_TRAIN.bptt,
    epochs: Annotated[int, typer.Option(help="Passes over the training split.")] = D_TRAIN.epochs,
    optimizer: Annotated[Optimizer, typer.Option(help="Update rule.")] = Optimizer(
        D_TRAIN.optimizer
    ),
    lr: Annotated[
        float, typer.Option(help="Learning rate, on the gradient of the mean loss of a window.")
    ] = D_TRAIN.lr,
    clip: Annotated[
        float, typer.Option(help="Clip the global gradient norm to this (0: off).")
    ] = D_TRAIN.clip,
    lr_decay: Annotated[
        float, typer.Option(help="Divide lr by this when validation perplexity does not improve.")
    ] = D_TRAIN.lr_decay,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and dropout.")] = D_TRAIN.seed,
    max_vocab: Annotated[
        int, typer.Option(help="Keep at most this many tokens, <unk> included (0: all).")
    ] = 0,
    min_count: Annotated[
        int, typer.Option(help="Map tokens seen fewer times than this to <unk>.")
    ] = 1,
    max_steps: Annotated[
        int, typer.Option(help="Stop after this many updates (0: no limit); for smoke tests.")
    ] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last.npz.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="End stdout with one JSON object of the results.")
    ] = False,
) -> None:
    """Train an RNN language model with stateful truncated BPTT.

    Example: rnnlm train ptb --out runs/ptb
    """
    with user_errors():
        files, named_unit = resolve_files(corpus, data_dir)
        if valid is not None:
            files["valid"] = valid
        if test is not None:
            files["test"] = test
        the_unit = unit.value if unit else (named_unit or "word")
        run_dir = RunDir(out or Path("runs") / Path(corpus).stem, resume=resume)
        data = load_corpus(files, the_unit, max_vocab, min_count, valid_fraction)
        if resume:
            ckpt = checkpoint.load(run_dir.last)
            if ckpt.vocab.tokens != data.vocab.tokens or ckpt.unit != the_unit:
                raise CheckpointError(
                    f"{run_dir.last}: vocabulary or unit differs from this corpus's; "
                    "resume with the same corpus and options"
                )
            mcfg, tcfg = ckpt.model, ckpt.train
        else:
            ckpt = None
            mcfg = ModelConfig(
                vocab_size=len(data.vocab),
                embed_dim=embed_dim,
                hidden=hidden,
                layers=layers,
                dropout=dropout,
                init_scale=init_scale,
            )
            tcfg = TrainConfig(
                batch_size=batch_size,
                bptt=bptt,
                epochs=epochs,
                optimizer=optimizer.value,
                lr=lr,
                clip=clip,
                lr_decay=lr_decay,
                seed=seed,
                max_steps=max_steps,
            )
        mcfg.validate()
        tcfg.validate()
        rng = np.random.default_rng(tcfg.seed)
        model = RNNLM(mcfg, rng)
        with TrainDisplay(tcfg.epochs, the_unit) as display:
            trainer = Trainer(
                model,
                tcfg,
                data["train"],
                data["valid"],
                data.vocab,
                the_unit,
                rng,
                run=run_dir,
                on_step=display.step,
                on_epoch=display.epoch,
            )
            if ckpt is not None:
                trainer.restore(ckpt)
            _summary(data, model, trainer, run_dir, resumed=ckpt is not None)
            with stop_signals(trainer.request_stop) as got:
                state = trainer.fit()
        if got["signal"] is not None:
            err.print(
                f"interrupted at step {state.step}; {run_dir.last} holds the run. Resume with:\n"
                f"  rnnlm train {corpus} --out {run_dir.path} --resume",
                highlight=False,
            )
            raise typer.Exit(EXIT_SIGINT if got["signal"] == signal.SIGINT else EXIT_SIGTERM)
        _report(data, trainer, run_dir, as_json)


def _summary(data, model: RNNLM, trainer: Trainer, run_dir: RunDir, resumed: bool) -> None:
    cfg = trainer.cfg
    sizes = ", ".join(f"{s} {len(data[s]):,}" for s in ("train", "valid", "test") if s in data)
    err.print(
        f"corpus: {data.sources['train']} ({data.unit} level) | tokens: {sizes} | "
        f"vocab {len(data.vocab):,}\n"
        f"model: {model.cfg.cell} x{model.cfg.layers}, D={model.cfg.embed_dim} "
        f"H={model.cfg.hidden}, {model.num_params():,} parameters | "
        f"N={cfg.batch_size} T={cfg.bptt}, {trainer.windows_per_epoch:,} windows per epoch, "
        f"{cfg.epochs} epochs | {cfg.optimizer} lr {cfg.lr:g} clip {cfg.clip:g} | "
        f"out: {run_dir.path}"
        + (
            f"\nresuming at epoch {trainer.state.epoch + 1}, step {trainer.state.step}"
            if resumed
            else ""
        ),
        highlight=False,
    )


def _report(data, trainer: Trainer, run_dir: RunDir, as_json: bool) -> None:
    st = trainer.state
    result = {
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
    sys.stdout.flush()
