"""The limits that keep reading text bounded, and the checks that name a way out.

Text is read in pieces of ``CHUNK_BYTES``; a line may span pieces but not exceed
``MAX_LINE_CHARS``, so what is held while reading never depends on the input's size. Only the
token ids themselves grow with the corpus: in memory (``load_corpus``, ``rnnlm eval``), where
``check_memory`` stops a corpus that would not fit, or on disk (``rnnlm prepare``), where
``check_disk`` stops one that would not fit there.
"""

import os
import shutil
from pathlib import Path

from rnnlm.errors import CorpusError

CHUNK_BYTES = 1 << 20  # read at a time; also the most text decoded at once
MAX_LINE_CHARS = 1 << 20  # a longer line is refused: it would have to be held whole
# Peak bytes per token while a corpus is loaded into memory: the provisional ids as read
# (int32), their concatenation and the final ids (int32).
IN_MEMORY_BYTES_PER_TOKEN = 12
MEMORY_SHARE = 0.5  # of the available memory, the most the in-memory route may plan to use
# Typical bytes of text per token (English words with their spaces; one UTF-8 byte per
# character), to estimate a file's tokens from its size before reading it.
BYTES_PER_TOKEN = {"word": 6, "char": 1, "bpe": 3}
# On disk while preparing: the provisional uint32 ids and the final ids (at most uint32).
PREPARE_BYTES_PER_TOKEN = 8
DISK_MARGIN = 64 << 20  # left free for everything else


def mib(n: float) -> str:
    """Bytes for a message: ``512 KiB``, ``300 MiB``, ``2.5 GiB``."""
    if n >= 1 << 30:
        return f"{n / 2**30:,.1f} GiB"
    return f"{n / 2**20:,.0f} MiB" if n >= 1 << 20 else f"{n / 2**10:,.0f} KiB"


def available_memory() -> int:
    """Bytes this process may still use: the cgroup's limit, else MemAvailable; unknown: no
    limit. (Not RNNLM_MEMORY_LIMIT, which --force sets aside: this bound on reading text
    always holds.)"""
    from rnnlm.memory import machine_available  # (rnnlm.memory builds on configs and models)

    got = machine_available()
    return 1 << 62 if got is None else got[0]


class MemoryBudget:
    """Stops loading a corpus into memory once its tokens would need more than the budget."""

    def __init__(self, name: str, budget: int | None = None) -> None:
        self.name = name
        self.budget = int(available_memory() * MEMORY_SHARE) if budget is None else budget

    def check(self, tokens: int, estimated: bool = False) -> None:
        need = tokens * IN_MEMORY_BYTES_PER_TOKEN
        if need > self.budget:
            what = "would need about" if estimated else "needs over"
            raise CorpusError(
                f"{self.name}: too large to load into memory ({what} {mib(need)}, "
                f"{mib(self.budget)} may be used); prepare it once with "
                f"`rnnlm prepare {self.name} --out DIR` and use DIR instead"
            )

    def check_file(self, path: Path | str, unit: str) -> None:
        """Refuse a regular file whose size alone says it will not fit (before reading it)."""
        try:
            size = os.stat(path).st_size
        except (OSError, ValueError):
            return
        self.check(size // BYTES_PER_TOKEN[unit], estimated=True)


def check_disk(folder: Path, source_bytes: int, unit: str) -> None:
    """Refuse to prepare ``source_bytes`` of text into ``folder`` without room for its ids."""
    need = source_bytes // BYTES_PER_TOKEN[unit] * PREPARE_BYTES_PER_TOKEN + DISK_MARGIN
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < need:
        raise CorpusError(
            f"not enough free disk space in {folder}: preparing needs about {mib(need)}, "
            f"{mib(free)} is free; free some space or choose another --out"
        )
