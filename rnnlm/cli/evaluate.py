"""``rnnlm eval``: perplexity of a checkpoint on text files."""

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from rnnlm.api import load
from rnnlm.cli.console import echo, user_errors, warn
from rnnlm.evaluate import EvalResult
from rnnlm.text import read_text

OOV_WARN = 0.2


def eval_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint written by rnnlm train.")],
    files: Annotated[list[Path], typer.Argument(help="Text files to score, in order.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
) -> None:
    """Report perplexity, token count and OOV rate (and bits per character for char models).

    Each file is scored from its start, every token predicted from all before it.
    Example: rnnlm eval runs/ptb/best.npz ptb.test.txt
    """
    with user_errors():
        lm = load(checkpoint)
        rows = []
        for path in files:
            score = lm.perplexity(read_text(path))
            rows.append((path, score))
            if score.oov_rate > OOV_WARN:
                warn(
                    f"{path}: {score.oov_rate:.0%} of tokens are not in the checkpoint's "
                    f"vocabulary ({lm.unit} level); is it the right checkpoint?"
                )
    total = EvalResult(
        nll=sum(s.result.nll for _, s in rows), tokens=sum(s.result.tokens for _, s in rows)
    )
    oov = sum(s.oov for _, s in rows)
    summary = {
        "perplexity": total.perplexity,
        "tokens": total.tokens,
        "oov_rate": oov / total.tokens if total.tokens else 0.0,
        "bits_per_token": total.bits_per_token,
        "unit": lm.unit,
        "files": [
            {
                "file": str(p),
                "perplexity": s.perplexity,
                "tokens": s.result.tokens,
                "oov_rate": s.oov_rate,
                "bits_per_token": s.result.bits_per_token,
            }
            for p, s in rows
        ],
    }
    if as_json:
        echo(json.dumps(summary))
        return
    for entry in summary["files"] + ([{**summary, "file": "total"}] if len(rows) > 1 else []):
        bpc = f"  bits/char {entry['bits_per_token']:.4f}" if lm.unit == "char" else ""
        ppl = entry["perplexity"]
        echo(
            f"{entry['file']}: perplexity {ppl:.2f}{bpc}  tokens {entry['tokens']:,}  "
            f"oov {entry['oov_rate']:.2%}"
            if math.isfinite(ppl)
            else f"{entry['file']}: {ppl}"
        )
