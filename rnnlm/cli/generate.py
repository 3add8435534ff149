"""``rnnlm generate``: sample text from a checkpoint."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from rnnlm.api import load
from rnnlm.cli.console import user_errors, warn
from rnnlm.errors import ConfigError
from rnnlm.text import detokenize


def generate_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint written by rnnlm train.")],
    prompt: Annotated[str, typer.Option(help="Text to continue (empty: start of a line).")] = "",
    length: Annotated[int, typer.Option(help="Tokens to sample.")] = 100,
    temperature: Annotated[
        float, typer.Option(help="Below 1 is more conservative, above 1 more random.")
    ] = 1.0,
    top_k: Annotated[int, typer.Option(help="Sample among the k most likely tokens (0: all).")] = 0,
    greedy: Annotated[
        bool, typer.Option("--greedy", help="Always take the most likely token.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same text.")] = 0,
) -> None:
    """Continue a prompt with sampled tokens; word models print <eos> as a newline.

    Example: rnnlm generate runs/ptb/best.npz --prompt "the company said" --length 50
    """
    with user_errors():
        if length < 0:
            raise ConfigError(f"--length must be >= 0, got {length}")
        if not temperature > 0 or temperature == float("inf"):
            raise ConfigError(f"--temperature must be a positive number, got {temperature}")
        if top_k < 0:
            raise ConfigError(f"--top-k must be >= 0, got {top_k}")
        lm = load(checkpoint)
        _, unknown = lm.prompt_ids(prompt)
        if unknown:
            shown = ", ".join(sorted(set(unknown))[:5])
            warn(f"{len(unknown)} prompt token(s) not in the vocabulary, read as <unk>: {shown}")
    out = sys.stdout
    out.write(prompt)
    written = prompt
    for tok in lm.stream(prompt, length, seed, temperature, top_k, greedy):
        piece = detokenize([tok], lm.unit, before=written)  # streamed as sampled
        out.write(piece)
        out.flush()
        written = piece or written
    if not written.endswith("\n"):
        out.write("\n")
