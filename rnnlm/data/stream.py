"""Reading text in bounded pieces: any path kind (file, FIFO, device, ``-`` for stdin).

``read_chunks`` yields the same text ``read_text`` returns (UTF-8, a leading byte-order mark
dropped, line ends normalised to ``\\n``) in pieces that end at a line end, with the same
checks: a missing path, a folder, an unreadable, empty, binary (NUL bytes) or non-UTF-8 input
is one CorpusError. A line longer than ``MAX_LINE_CHARS`` is refused rather than held. A
regular file is read up to the size it had when opened, so one that grows while being read
cannot make the read endless.
"""

import codecs
import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from rnnlm.data.limits import CHUNK_BYTES, MAX_LINE_CHARS
from rnnlm.errors import CorpusError

BOM = b"\xef\xbb\xbf"
STDIN = "-"


@contextlib.contextmanager
def open_binary(
    path: Path | str, stdin: bool = False
) -> Iterator[tuple[BinaryIO, str, int | None]]:
    """Yield (stream, name for messages, bytes to read or None if unknown) for a path, or
    standard input for ``-`` if ``stdin`` (else ``-`` is a file name like any other)."""
    if stdin and str(path) == STDIN:
        if sys.stdin is None:
            raise CorpusError("<stdin>: standard input is closed")
        yield sys.stdin.buffer, "<stdin>", None
        return
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"{path}: no such file")
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder, expected a text file")
    try:
        f = open(path, "rb")  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with f:
        mode = os.fstat(f.fileno())
        yield f, str(path), mode.st_size if stat.S_ISREG(mode.st_mode) else None


def read_bytes(f: BinaryIO, name: str, size: int = -1) -> bytes:
    """Up to ``size`` bytes of ``f`` (all that is left if negative); CorpusError naming ``name``
    if the read fails."""
    try:
        return f.read(size)
    except OSError as exc:
        raise CorpusError(f"{name}: cannot read ({exc.strerror or exc})") from None


def read_chunks(
    path: Path | str,
    on_bytes: Callable[[int, int | None], None] | None = None,
    stdin: bool = False,
) -> Iterator[str]:
    """Text of ``path`` in pieces that each end with ``\\n`` (the last one may not).

    ``on_bytes(done, total)`` reports progress (total None when the size is unknown);
    ``stdin``: ``-`` is standard input.
    """
    with open_binary(path, stdin) as (f, name, total):
        yield from _chunks(f, name, total, on_bytes)


def _chunks(
    f: BinaryIO, name: str, total: int | None, on_bytes: Callable[[int, int | None], None] | None
) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    done = lines = 0
    start, seen_text, pending, carry_cr = True, False, "", ""
    while True:
        want = max(CHUNK_BYTES, len(BOM)) if start else CHUNK_BYTES  # (the mark whole)
        want = want if total is None else min(want, total - done)
        raw = read_bytes(f, name, want) if want > 0 else b""
        final = not raw
        done += len(raw)
        if start:
            raw, start = raw.removeprefix(BOM), False
            skipped = done - len(raw)  # (byte offsets in messages do not count the mark)
        if b"\x00" in raw:
            raise CorpusError(
                f"{name}: looks like a binary file (contains NUL bytes), expected text"
            )
        seen_text = seen_text or bool(raw.strip())
        text = _decode(decoder, raw, final, name, done - skipped - len(raw), lines)
        text, carry_cr = carry_cr + text, ""
        if text.endswith("\r") and not final:  # it may be the first half of \r\n
            text, carry_cr = text[:-1], "\r"
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        first = text.find("\n")
        if len(pending) + (first if first >= 0 else len(text)) > MAX_LINE_CHARS:
            raise CorpusError(
                f"{name}: line {lines + 1:,} is longer than {MAX_LINE_CHARS:,} characters; "
                "rnnlm reads text a line at a time: break it into shorter lines "
                "(e.g. fold -s -w 1000)"
            )
        cut = text.rfind("\n")
        if cut >= 0:
            piece, pending = pending + text[: cut + 1], text[cut + 1 :]
            lines += piece.count("\n")
            yield piece
        else:
            pending += text
        if on_bytes:
            on_bytes(done, total)
        if final:
            break
    if not seen_text:
        raise CorpusError(f"{name}: file is empty")
    if pending:
        yield pending


def _decode(decoder, raw: bytes, final: bool, name: str, offset: int, lines: int) -> str:
    """``raw`` decoded (an incomplete sequence at its end waits for the next piece).

    ``offset``: bytes of the input before ``raw`` (after the mark); ``lines``: lines before
    the text decoded so far, for the message of an invalid byte.
    """
    held = decoder.getstate()[0]
    try:
        return decoder.decode(raw, final)
    except UnicodeDecodeError as exc:
        at = offset - len(held) + exc.start
        line = lines + 1 + exc.object.count(b"\n", 0, exc.start)
        raise CorpusError(
            f"{name}: not valid UTF-8 (byte {at}, line {line}); convert it to UTF-8 first"
        ) from None
