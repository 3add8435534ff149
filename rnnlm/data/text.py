"""Reading corpus files and splitting them into tokens (word or character level)."""

import sys
from pathlib import Path

from rnnlm.data.stream import open_binary, read_bytes
from rnnlm.errors import CorpusError

EOS = "<eos>"
UNK = "<unk>"
UNITS = ("word", "char", "bpe")  # what a token is: see tokenize(); bpe: rnnlm/data/subword.py


def read_text(path: Path | str) -> str:
    """Read a UTF-8 text file, with clear errors for anything that is not one.

    Line endings are normalised to ``\\n``. Raises CorpusError for a missing path, a folder,
    an unreadable, empty, binary (NUL bytes) or non-UTF-8 file.
    """
    with open_binary(path) as (f, name, _):
        return decode_text(read_bytes(f, name), name)


def read_stdin() -> str:
    """Standard input as text, checked like a file (``<stdin>`` in messages)."""
    if sys.stdin is None:
        raise CorpusError("<stdin>: standard input is closed")
    return decode_text(sys.stdin.buffer.read(), "<stdin>")


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 bytes -> text with ``\\n`` line ends; CorpusError naming ``name`` if empty,
    binary or not UTF-8."""
    if not data.removeprefix(b"\xef\xbb\xbf").strip():  # (a byte-order mark alone: empty too)
        raise CorpusError(f"{name}: file is empty")
    if b"\x00" in data:
        raise CorpusError(f"{name}: looks like a binary file (contains NUL bytes), expected text")
    body = data.removeprefix(b"\xef\xbb\xbf")  # a leading byte-order mark is not text
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:  # (the byte and line as counted after the mark)
        line = body.count(b"\n", 0, exc.start) + 1
        raise CorpusError(
            f"{name}: not valid UTF-8 (byte {exc.start}, line {line}); convert it to UTF-8 first"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def tokenize(text: str, unit: str) -> list[str]:
    """Split text into tokens.

    word: whitespace-separated words, plus ``<eos>`` at the end of every line (blank lines too),
    as in Mikolov's RNNLM and PyTorch's word_language_model. char: every character, ``\\n``
    included.
    """
    if unit == "char":
        return list(text)
    if unit != "word":
        raise ValueError(f"unknown unit {unit!r}")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        tokens.append(EOS)
    return tokens


def detokenize(tokens: list[str], unit: str, before: str = "") -> str:
    """Tokens as text that reads on from ``before``: words spaced, ``<eos>`` as a newline."""
    if unit == "char":
        return "".join(tokens)
    parts: list[str] = []
    last = before[-1:]
    for tok in tokens:
        piece = "\n" if tok == EOS else (" " if last and not last.isspace() else "") + tok
        parts.append(piece)
        last = piece[-1]
    return "".join(parts)
