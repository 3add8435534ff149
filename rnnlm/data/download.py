"""Fetching a file by URL into a cache, verified by sha256 and moved into place atomically."""

import contextlib
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from rnnlm.errors import DownloadError

CHUNK = 1 << 16


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fetch(
    url: str,
    dest: Path,
    sha256: str,
    timeout: float = 60.0,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right checksum is already there.

    The bytes go to a temporary file beside ``dest``, are hashed on the way and only renamed
    to ``dest`` once the checksum matches, so a failed or partial download never leaves a
    file that passes for the real one. ``on_progress(done, total)`` reports bytes.
    """
    dest = Path(dest)
    if dest.exists():
        try:
            actual = sha256_of(dest)
        except OSError as exc:
            raise DownloadError(f"cannot read {dest}: {exc.strerror or exc}") from None
        if actual == sha256:
            return dest
        raise DownloadError(
            f"{dest} does not match its sha256 (expected {sha256[:12]}...); "
            "delete it to download it again"
        )
    created = _missing_parents(dest.parent)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {dest.parent}: {exc.strerror or exc}") from None
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    h = hashlib.sha256()
    saved = False
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # (umask applies)
        except OSError as exc:
            raise DownloadError(f"cannot write in {dest.parent}: {exc.strerror or exc}") from None
        with open(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = resp.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while block := resp.read(CHUNK):
                out.write(block)
                h.update(block)
                done += len(block)
                if on_progress:
                    on_progress(done, total)
            out.flush()
            os.fsync(out.fileno())
        if total is not None and done != total:
            raise DownloadError(f"download of {url} stopped after {done} of {total} bytes")
        if h.hexdigest() != sha256:
            raise DownloadError(
                f"download of {url} has the wrong sha256 ({h.hexdigest()[:12]}..., "
                f"expected {sha256[:12]}...); nothing was saved"
            )
        os.replace(tmp, dest)
        saved = True
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise DownloadError(f"cannot download {url}: {reason}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if not saved:  # leave no empty folders behind a failed download
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return dest


def _missing_parents(folder: Path) -> list[Path]:
    """The folders ``folder.mkdir(parents=True)`` would create, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing
