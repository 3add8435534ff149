"""``rnnlm plot``: learning curves of runs as a PNG."""

from pathlib import Path
from typing import Annotated

import typer

from rnnlm.cli.console import echo, user_errors
from rnnlm.plot import plot_runs


def plot_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or metrics.jsonl files).")],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="File to write; its extension picks the format (.png if none)."
        ),
    ] = Path("curves.png"),
    width: Annotated[float, typer.Option(help="Figure width, inches.")] = 10.0,
    height: Annotated[float, typer.Option(help="Figure height, inches.")] = 4.0,
    dpi: Annotated[int, typer.Option(help="Pixels per inch.")] = 100,
) -> None:
    r"""Plot train and validation perplexity against tokens seen and wall time, all runs on one
    figure (needs matplotlib: pip install 'rnnlm-numpy\[plot]').

    Example: rnnlm plot runs/ptb runs/zaremba --out curves.png
    """
    with user_errors():
        path = plot_runs(runs, out, width, height, dpi)
    echo(str(path))
