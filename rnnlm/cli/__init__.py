"""The ``rnnlm`` command line: train, eval, generate.

Exit codes: 0 success, 1 a problem with input files or checkpoints, 2 bad options or usage,
130 interrupted by Ctrl-C, 143 by SIGTERM (a resumable last.npz is written first).
"""

import contextlib
import importlib
import os
import signal
import sys
import traceback
from collections.abc import Iterable
from typing import Annotated

import typer

from rnnlm import __version__
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
from rnnlm.training.launcher import launched_size

try:  # typer >= 0.22 ships its own copy of click
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as cx

STOPS = (EXIT_SIGINT, EXIT_SIGTERM)  # an orderly stop: every rank saved and ends by itself

# Each command's module, imported only when the command line names it (or asks for help), so
# that `rnnlm prepare` does not load the training stack: name -> (module, function)
COMMANDS = {
    "train": ("rnnlm.cli.train", "train"),
    "eval": ("rnnlm.cli.evaluate", "eval_command"),
    "generate": ("rnnlm.cli.generate", "generate_command"),
    "info": ("rnnlm.cli.info", "info_command"),
    "plot": ("rnnlm.cli.plot", "plot_command"),
    "bench": ("rnnlm.cli.bench", "bench_command"),
    "prepare": ("rnnlm.cli.prepare", "prepare_command"),
}


def make_app(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The ``rnnlm`` command with the commands ``names`` (all by default)."""
    app = typer.Typer(
        name="rnnlm",
        help="Train, evaluate and sample RNN language models on a CPU with numpy.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for name in names:
        module, function = COMMANDS[name]
        app.command(name)(getattr(importlib.import_module(module), function))
    app.callback()(_root)
    return app


def __getattr__(name: str) -> typer.Typer:
    """``app``: the command with every subcommand, made when first asked for."""
    if name == "app":
        globals()["app"] = made = make_app()
        return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"rnnlm {__version__}\n")
        raise typer.Exit()


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
        from rnnlm.training.distributed import abort_job

        abort_job(code)
    sys.exit(code)


def _run() -> tuple[int, bool]:
    """Run the command; return its exit code and whether it came back by itself (rather than
    by an exception: usage errors, interruptions outside training)."""
    first = sys.argv[1] if len(sys.argv) > 1 else ""
    names = [first] if first in COMMANDS else COMMANDS  # (a command named: only its module)
    command = typer.main.get_command(make_app(names))
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
