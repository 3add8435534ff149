"""Work done in a forked child process, for the passes of ``rnnlm prepare`` that a second core
can share (rnnlm/data/scratch.py).

``Forked(fn, *args)`` runs ``fn(*args)`` in a child made by ``os.fork`` (it starts at once, with
everything the parent has imported and built) and ``result()`` returns its value, or raises
the exception it raised, passed back through a pipe; ``start`` runs it here instead where no
child can be made. The child ignores Ctrl-C (the terminal sends it to the parent too, which
then ends the child) and ends by itself once its parent is gone (``orphaned``, which its work
checks between pieces), so a prepare killed with SIGKILL leaves no process behind for long.
Used only where ``os.fork`` exists and more than one core is ours (``cores``).
"""

import contextlib
import os
import pickle
import signal
import warnings
from collections.abc import Callable
from typing import Any

from rnnlm.errors import CorpusError


def cores() -> int:
    """The cores this process may run on; 1 where children cannot be forked."""
    if not hasattr(os, "fork") or not hasattr(os, "sched_getaffinity"):
        return 1
    return len(os.sched_getaffinity(0))


_parent: int | None = None  # in a child: its parent's pid


def orphaned() -> bool:
    """In a forked child: whether its parent has ended (then the child should end too)."""
    return _parent is not None and os.getppid() != _parent


def start(fn: Callable[..., Any], *args: Any) -> "Forked | Inline":
    """``fn(*args)`` started in a child process, or, where none can be made now (too many
    processes, too little memory), to be run here when its result is asked for."""
    try:
        return Forked(fn, *args)
    except OSError:
        return Inline(fn, *args)


class Inline:
    """Stands in for a ``Forked`` that could not be made: ``result()`` runs ``fn`` here."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)

    def kill(self) -> None:
        pass


class WorkerDiedError(CorpusError):
    """A child ended before it answered (killed: out of memory, or by a signal)."""


class Forked:
    """``fn(*args)`` running in a forked child process."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        parent = os.getpid()
        read, write = os.pipe()
        try:
            with warnings.catch_warnings():  # Python >= 3.12 warns when the parent has threads
                # (a progress bar's, numpy's): the child runs only numpy and this package's
                # code, never waits on a lock those threads hold, and leaves with os._exit
                warnings.simplefilter("ignore", DeprecationWarning)
                self.pid = os.fork()
        except BaseException:  # no child: nothing will use the pipe
            os.close(read)
            os.close(write)
            raise
        if self.pid == 0:  # (the child)
            os.close(read)
            _run_child(fn, args, parent, write)
        os.close(write)
        self._pipe = os.fdopen(read, "rb")

    def result(self) -> Any:
        """Wait for the child; its return value, or the exception it raised."""
        try:
            ok, value = pickle.load(self._pipe)
        except (EOFError, pickle.UnpicklingError):  # killed before or while it answered
            self._end(wait=True)
            ok, value = (
                False,
                WorkerDiedError(
                    f"a worker process ({self.pid}) ended early (killed: out of memory?)"
                ),
            )
        except BaseException:  # Ctrl-C, SIGTERM...: the child ignores SIGINT, so end it now
            self._end(wait=False)
            raise
        else:
            self._end(wait=True)
        if not ok:
            raise value
        return value

    def kill(self) -> None:
        """End the child now (if it has not ended)."""
        self._end(wait=False)

    def _end(self, wait: bool) -> None:
        if self._pipe.closed:
            return
        self._pipe.close()
        if not wait:
            with contextlib.suppress(ProcessLookupError):  # (it has ended by itself)
                os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)


def _run_child(fn: Callable[..., Any], args: tuple, parent: int, write: int) -> None:
    """The child: run ``fn``, send back (ok, value), exit without running the parent's
    clean-up (``os._exit``: no atexit handlers, no flushing of the parent's buffers)."""
    global _parent
    _parent = parent
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            out = (True, fn(*args))
        except BaseException as exc:  # (passed to the parent, which raises it)
            out = (False, exc)
        try:
            data = pickle.dumps(out)
        except Exception as exc:  # (a value or exception that does not pickle)
            data = pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        with os.fdopen(write, "wb") as f:
            f.write(data)
    except BaseException:  # (the parent has gone: nobody to tell)
        code = 1
    finally:
        os._exit(code)
