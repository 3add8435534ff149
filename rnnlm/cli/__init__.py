"""The ``rnnlm`` command line: train, eval, generate.

Exit codes: 0 success, 1 a problem with input files or checkpoints, 2 bad options or usage,
130 interrupted by Ctrl-C, 143 by SIGTERM (a resumable last.npz is written first).
"""

import contextlib
import os
import signal
import sys
import traceback
from typing import Annotated

import typer

from rnnlm import __version__
from rnnlm.cli.bench import bench_command
from rnnlm.cli.console import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_USAGE,
    Interrupted,
    err,
    fail,
    raise_interrupted,
    rank_grace,
)
from rnnlm.cli.evaluate import eval_command
from rnnlm.cli.generate import generate_command
from rnnlm.cli.info import info_command
from rnnlm.cli.plot import plot_command
from rnnlm.cli.prepare import prepare_command
from rnnlm.cli.train import train
from rnnlm.training.distributed import abort_job
from rnnlm.training.launcher import launched_size

try:  # typer >= 0.22 ships its own copy of click
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as cx

STOPS = (EXIT_SIGINT, EXIT_SIGTERM)  # an orderly stop: every rank saved and ends by itself

app = typer.Typer(
    name="rnnlm",
    help="Train, evaluate and sample RNN language models on a CPU with numpy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("train")(train)
app.command("eval")(eval_command)
app.command("generate")(generate_command)
app.command("info")(info_command)
app.command("plot")(plot_command)
app.command("bench")(bench_command)
app.command("prepare")(prepare_command)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"rnnlm {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Train, evaluate and sample RNN language models on a CPU with numpy."""


def main() -> None:
    """Console-script entry point: usage errors become one line on stderr, exit 2.

    Under mpiexec, a rank that ends with an error (or an exception) aborts the whole job, so
    the other ranks do not wait for it forever; an orderly stop (Ctrl-C or SIGTERM during
    training, which every rank agrees on) ends each rank by itself.
    """
    code, orderly = _run()
    if code not in (0, None) and launched_size() > 1 and not (orderly and code in STOPS):
        abort_job(code)
    sys.exit(code)


def _run() -> tuple[int, bool]:
    """Run the command; return its exit code and whether it came back by itself (rather than
    by an exception: usage errors, interruptions outside training)."""
    command = typer.main.get_command(app)
    for name in ("stdout", "stderr"):  # started with the stream closed (`>&-`): discard it
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115  (lives until exit)
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):  # training installs its own while it runs
        with contextlib.suppress(ValueError):  # not the main thread
            if signal.getsignal(sig) is not signal.SIG_IGN:  # (a background job's SIGINT)
                previous[sig] = signal.signal(sig, raise_interrupted)
    try:
        code = command.main(prog_name="rnnlm", standalone_mode=False)
        return (code if isinstance(code, int) else 0), True
    except cx.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            return 0, True  # the help is already printed
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        fail(f"{exc.format_message()}{hint}")
        return EXIT_USAGE, False
    except cx.ClickException as exc:
        fail(exc.format_message())
        return exc.exit_code, False
    except (typer.Abort, KeyboardInterrupt):
        err.print("interrupted", highlight=False)
        return EXIT_SIGINT, False
    except Interrupted as exc:
        err.print("interrupted", highlight=False)
        return exc.exit_code, False
    except BrokenPipeError:  # e.g. `rnnlm generate ... | head`: the reader has gone, stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0, True
    except Exception:
        if launched_size() > 1:  # a bug on one rank: its traceback, then the job ends
            rank_grace()
            traceback.print_exc()
            return 1, False
        raise
    finally:  # main() called in-process (a notebook, a test) leaves the handlers as they were
        for sig, handler in previous.items():
            signal.signal(sig, handler)
