"""Where output goes: results to stdout, progress, warnings and errors to stderr."""

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator

import typer
from rich.console import Console
from rich.text import Text

from rnnlm.cli.flags import in_flags
from rnnlm.errors import ConfigError, RnnlmError
from rnnlm.training.launcher import launched_rank

# rich honours NO_COLOR and draws no live display when stderr is not a terminal.
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
RANK_GRACE = 1.0  # seconds a failing rank other than 0 waits before it speaks


def fail(message: str, code: int = EXIT_USER_ERROR) -> typer.Exit:
    """Print ``error: message`` as one line on stderr; return the Exit to raise. The message
    is plain text (file names, prompts: ``[...]`` in them is printed, not read as markup)."""
    rank = rank_grace()  # under mpiexec, which rank failed (rank 0 speaks for the job)
    where = f" (rank {rank})" if rank else ""
    err.print(Text.assemble(("error:", "bold red"), f"{where} {message}"), soft_wrap=True)
    return typer.Exit(code)


def rank_grace() -> int:
    """This process's rank; on a rank other than 0, first wait ``RANK_GRACE`` seconds, so that
    when every rank fails alike, rank 0 cleans up, says it once and ends the job before the
    others repeat it."""
    rank = launched_rank()
    if rank:
        time.sleep(RANK_GRACE)
    return rank


def warn(message: str) -> None:
    """``warning: message`` on stderr; plain text, like ``fail``."""
    err.print(Text.assemble(("warning:", "yellow"), f" {message}"), soft_wrap=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and an exit code (2 for bad options, whose
    fields are named by their flags)."""
    try:
        yield
    except ConfigError as exc:
        raise fail(in_flags(exc), EXIT_USAGE) from None
    except RnnlmError as exc:
        raise fail(str(exc)) from None


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM outside training. Not a KeyboardInterrupt, which typer turns into a
    silent exit 130: this one unwinds (``finally`` blocks remove partial files) up to
    ``rnnlm.cli.main``, which says "interrupted" and exits 130 or 143."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_SIGINT if self.signum == signal.SIGINT else EXIT_SIGTERM


def raise_interrupted(signum: int, frame: object) -> None:
    """A signal handler: raise ``Interrupted`` in the main thread."""
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals(on_stop: Callable[[], None]) -> Iterator[dict]:
    """While inside, SIGINT/SIGTERM call ``on_stop()`` instead of killing the process.

    Yields a dict whose ``"signal"`` is the signal received (or None). A second Ctrl-C
    interrupts at once.
    """
    got: dict = {"signal": None}
    previous = {}

    def handler(signum, frame):
        if got["signal"] is not None and signum == signal.SIGINT:
            raise Interrupted(signum)
        got["signal"] = signum
        on_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread (e.g. some test runners)
            if signal.getsignal(sig) is not signal.SIG_IGN:  # (a background job's SIGINT)
                previous[sig] = signal.signal(sig, handler)
    try:
        yield got
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def echo(text: str = "") -> None:
    """A result line on stdout."""
    write(text + "\n")


def write(text: str) -> None:
    """Results to stdout, flushed. A reader that has gone (``| head``) ends the command
    quietly with exit 0; any other failure to write (a full disk) is one line, exit 1."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)  # so the final flush at exit cannot fail
        os.dup2(devnull, sys.stdout.fileno())
        raise typer.Exit(0) from None
    except OSError as exc:
        raise fail(f"cannot write the results to stdout ({exc.strerror or exc})") from None
