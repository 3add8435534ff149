"""Where output goes: results to stdout, progress, warnings and errors to stderr."""

import contextlib
import signal
import sys
from collections.abc import Iterator

import typer
from rich.console import Console

from rnnlm.errors import ConfigError, RnnlmError

# rich honours NO_COLOR and draws no live display when stderr is not a terminal.
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def fail(message: str, code: int = EXIT_USER_ERROR) -> typer.Exit:
    """Print ``error: message`` as one line on stderr; return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True, highlight=False)
    return typer.Exit(code)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", soft_wrap=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn library errors into one line on stderr and an exit code (2 for bad options)."""
    try:
        yield
    except ConfigError as exc:
        raise fail(_escape(str(exc)), EXIT_USAGE) from None
    except RnnlmError as exc:
        raise fail(_escape(str(exc))) from None


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextlib.contextmanager
def stop_signals(on_stop) -> Iterator[dict]:
    """While inside, SIGINT/SIGTERM call ``on_stop()`` instead of killing the process.

    Yields a dict whose ``"signal"`` is the signal received (or None). A second Ctrl-C
    interrupts at once.
    """
    got: dict = {"signal": None}
    previous = {}

    def handler(signum, frame):
        if got["signal"] is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        got["signal"] = signum
        on_stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread (e.g. some test runners)
            previous[sig] = signal.signal(sig, handler)
    try:
        yield got
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


def echo(text: str = "") -> None:
    """A result line on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
