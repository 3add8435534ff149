"""Reading text in bounded pieces: any path kind (file, FIFO, device, ``-`` for stdin).

``read_chunks`` yields the same text ``read_text`` returns (UTF-8, a leading byte-order mark
dropped, line ends normalised to ``\\n``) in pieces that end at a line end, with the same
checks: a missing path, a folder, an unreadable, empty, binary (NUL bytes) or non-UTF-8 input
is one CorpusError. A line longer than ``MAX_LINE_CHARS`` is refused rather than held. A
regular file is read up to the size it had when opened, so one that grows while being read
cannot make the read endless. ``line_spans`` cuts a regular file at line ends into spans that
``read_chunks(span=...)`` reads one by one, each by its own process if need be.
"""

import codecs
import contextlib
import itertools
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
    span: tuple[int, int] | None = None,
) -> Iterator[str]:
    """Text of ``path`` in pieces that each end with ``\\n`` (the last one may not).

    ``on_bytes(done, total)`` reports progress (total None when the size is unknown);
    ``stdin``: ``-`` is standard input. ``span``: (start, stop), only those bytes of a regular
    file, one of its ``line_spans``: a byte-order mark is dropped only at the file's start, a
    span without text is not an error, and the byte and line numbers of the messages count from
    the span's start (read the file whole for the numbers of the file).
    """
    with open_binary(path, stdin) as (f, name, total):
        if span is None:
            yield from _chunks(f, name, total, on_bytes)
        else:
            f.seek(span[0])
            yield from _chunks(f, name, span[1] - span[0], on_bytes, span[0] == 0, whole=False)


def line_spans(path: Path | str, parts: int, min_bytes: int) -> list[tuple[int, int]] | None:
    """Up to ``parts`` spans (start, stop) of at least about ``min_bytes`` that cut the regular
    file ``path`` at line ends: read one by one (``read_chunks(span=...)``), their pieces are
    the text of the whole file. None where it is not cut: a file too small or not regular, a
    cut that finds no line end within the longest line allowed, or a first piece without text
    (read whole, the file may be empty, which only the whole read can tell).
    """
    try:  # (its kind before opening it: opening a FIFO would take its one reader's place)
        mode = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(mode.st_mode) or min(parts, mode.st_size // max(min_bytes, 1)) < 2:
        return None
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            parts = min(parts, size // max(min_bytes, 1))
            if parts < 2 or not f.read(max(CHUNK_BYTES, len(BOM))).removeprefix(BOM).strip():
                return None  # (a first piece without text: as _chunks reads it)
            cuts = [0]
            for k in range(1, parts):
                cut = _line_start(f, max(size * k // parts, cuts[-1] + 1))
                if cut is None:
                    return None
                if cut < size:
                    cuts.append(cut)
    except OSError:
        return None
    cuts.append(size)
    return list(itertools.pairwise(cuts)) if len(cuts) > 2 else None


def _line_start(f: BinaryIO, at: int) -> int | None:
    """The start of the first line of ``f`` that starts at byte ``at`` or after it (its size
    if none does); None if no line end is within the longest line allowed."""
    f.seek(at - 1)
    seen = 0
    while seen <= 4 * MAX_LINE_CHARS:  # (UTF-8: at most 4 bytes a character)
        block = f.read(1 << 16)
        if not block:  # (the end of the file)
            return at - 1 + seen
        found = block.find(b"\n")
        if found >= 0:
            return at - 1 + seen + found + 1
        seen += len(block)
    return None


def _chunks(
    f: BinaryIO,
    name: str,
    total: int | None,
    on_bytes: Callable[[int, int | None], None] | None,
    start: bool = True,
    whole: bool = True,
) -> Iterator[str]:
    """The pieces of ``read_chunks``. ``start``: at the input's start (a byte-order mark there
    is dropped); ``whole``: the whole input, so having no text is an error."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    done = lines = skipped = 0
    seen_text, pending, carry_cr = False, "", ""
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
        if "\r" in text:  # (a search far cheaper than the replacements)
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
    if whole and not seen_text:
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
