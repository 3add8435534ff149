"""One process per run folder: an exclusive OS lock on ``<out>/.lock`` for a whole run.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on an open file, so the kernel drops it when the
process ends in any way (kill -9 included): a killed run never leaves a stale lock that blocks
``--resume``. The file holds the holder's pid and host, for the message a second process gets.
With several MPI ranks, rank 0 alone holds it.
"""

import contextlib
import os
import socket
from pathlib import Path
from types import TracebackType

from rnnlm.errors import ConfigError

try:
    import fcntl
except ImportError:  # not POSIX: no lock (the run folder is still checked as before)
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


class RunLock:
    """``with RunLock(folder):`` holds the folder's lock, creating the folder if it is missing.

    A folder held by another process raises ConfigError at once (nothing is written). On
    release the lock file is removed, and so are the folders the lock created if they are
    still empty: a run that fails before its first write leaves nothing behind.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self._created: list[Path] = []  # folders made here, innermost last

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock or raise ConfigError naming the folder and the process holding it."""
        if fcntl is None or self._fd is not None:
            return
        for _ in range(10):  # the file may be removed by its holder between open and flock
            self._make_folders()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise ConfigError(
                    f"--out {self.folder}: cannot create {self.path.name} ({exc.strerror or exc})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise ConfigError(
                    f"--out {self.folder} is in use by another run ({holder}); wait for it to "
                    "end or choose another --out"
                ) from None
            if _same_file(fd, self.path):
                self._fd = fd
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
                return
            os.close(fd)  # locked a file its holder had just removed: take the new one
        raise ConfigError(f"--out {self.folder}: cannot take the run folder's lock")

    def release(self) -> None:
        """Drop the lock, remove its file and the still-empty folders this lock created."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()  # before closing: a newcomer then locks a file of its own
        os.close(self._fd)
        self._fd = None
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):  # not empty: the run wrote something
                folder.rmdir()
        self._created = []

    def _make_folders(self) -> None:
        missing = [p for p in (self.folder, *self.folder.parents) if not p.exists()]
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue  # another process made it: not ours to remove
            except OSError as exc:
                raise ConfigError(
                    f"--out {self.folder}: cannot create ({exc.strerror or exc})"
                ) from None
            self._created.append(folder)


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "a process that is starting"


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
