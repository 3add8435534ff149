"""``rnnlm info``: what a checkpoint holds."""

import json
from pathlib import Path
from typing import Annotated

import typer

from rnnlm.cli.console import echo, user_errors, write
from rnnlm.cli.flags import CheckpointArg
from rnnlm.config import DataConfig, to_dict, toml_io
from rnnlm.training import checkpoint as ckpt_io
from rnnlm.training.checkpoint import Checkpoint
from rnnlm.training.run import stored_data


def info_command(
    checkpoint: CheckpointArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    as_toml: Annotated[
        bool,
        typer.Option(
            "--toml",
            help="Print the run's configuration as TOML, for rnnlm train --config.",
        ),
    ] = False,
) -> None:
    """Show a checkpoint's model, vocabulary, training progress and format.

    Examples: rnnlm info runs/ptb/best.npz | rnnlm info runs/ptb/best.npz --toml > ptb.toml
    """
    with user_errors():
        ck = ckpt_io.load(checkpoint)
        data = stored_data(ck, checkpoint)
    if as_toml:
        write(toml_io.dumps(toml_io.sections(data, ck.model, ck.train)))
        return
    info = _summary(checkpoint, ck, data)
    if as_json:
        echo(json.dumps(info))
        return
    for line in _lines(info, ck):
        echo(line)


def _summary(checkpoint: Path, ck: Checkpoint, data: DataConfig) -> dict:
    """``--json``'s object: the file, the configuration and the training progress."""
    p = ck.progress
    info = {
        "path": str(checkpoint),
        "file_bytes": checkpoint.stat().st_size,
        "format": ckpt_io.format_of(ck.unit),
        "unit": ck.unit,
        "vocab_size": len(ck.vocab),
        "parameters": int(sum(v.size for v in ck.params.values())),
        "model": to_dict(ck.model),
        "train": to_dict(ck.train),
        "data": to_dict(data),
        "epoch": p.get("epoch"),
        "step": p.get("step"),
        "best_valid_ppl": p.get("best_valid_ppl"),
        "lr": p.get("lr"),
        "tokens_seen": p.get("tokens_seen"),
        "train_seconds": p.get("seconds"),
        "resumable": bool(ck.optim),
    }
    return info


def _lines(info: dict, ck: Checkpoint) -> list[str]:
    """The summary as lines for a person."""
    m, t = ck.model, ck.train
    best = info["best_valid_ppl"]
    lines = [
        f"{info['path']}  ({info['file_bytes'] / 2**20:.1f} MiB, format {info['format']}"
        f"{', resumable' if info['resumable'] else ''})",
        f"model     {m.cell} x{m.layers}  D={m.embed_dim} H={m.hidden}  dropout {m.dropout:g}"
        f"{'  variational' if m.variational_dropout and m.dropout else ''}"
        f"{f'  weight drop {m.weight_drop:g}' if m.weight_drop else ''}"
        f"{'  tied' if m.tie_weights else ''}  {info['parameters']:,} parameters",
        f"vocab     {info['vocab_size']:,} {ck.unit} tokens",
        f"training  N={t.batch_size} T={t.bptt}  {t.optimizer} lr {t.lr:g} ({t.loss})  "
        f"clip {t.clip:g}  {t.epochs} epochs{f'  ema {t.ema:g}' if t.ema else ''}",
        f"progress  epoch {info['epoch']}  step {info['step']}"
        + (f"  best valid ppl {best:.2f}" if best is not None else "")
        + (f"  lr now {info['lr']:g}" if info["lr"] is not None else ""),
    ]
    return lines
