"""The C allocator told to keep freed memory for reuse, for ``rnnlm prepare``.

``prepare`` makes and frees the same large numpy arrays (megabytes each) for every piece of
text. glibc's malloc gives such arrays memory maps of their own, or trims them off the heap,
and returns them to the system when they are freed, so the next piece's arrays start on fresh
pages: one page fault per 4 KiB, a large share of the command's time (docs/reliability.md has
the figures). Raising the two thresholds lets freed arrays stay in the heap for the next piece;
the peak memory is unchanged (it is the pieces' arrays either way). Process-wide, so only the
command line, which owns its process, calls it; the library never does.
"""

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # (glibc's malloc.h)
MMAP_THRESHOLD = 32 << 20  # arrays above this still get maps of their own (glibc's own ceiling)
TRIM_THRESHOLD = 64 << 20  # free memory kept at the top of the heap


def keep_freed_memory() -> bool:
    """Raise glibc's thresholds; whether it took (not glibc, or no mallopt: nothing done)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    took = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    return bool(took)
