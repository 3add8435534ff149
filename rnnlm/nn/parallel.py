"""Running numpy's elementwise work on every core.

numpy's ufuncs use one core, and release the GIL while they run, so splitting a large array
into row blocks and handing the blocks to a small thread pool makes exp, the softmax and the
optimizer's updates use all cores, as BLAS already does for the matrix products.

OpenBLAS worker threads busy-wait for about 0.1 s after each matrix product, which would
steal those cores; ``rnnlm`` therefore sets ``OPENBLAS_THREAD_TIMEOUT`` before numpy is first
imported (see ``rnnlm/__init__.py``). ``RNNLM_THREADS`` sets the pool size (1 disables it).

On a GPU (CuPy arrays) none of this applies: each operation already runs on the whole device,
so ``for_blocks`` calls the function once on the whole range.
"""

import contextvars
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from rnnlm.backend import is_device_array

MIN_ELEMENTS = 1 << 16  # below this, splitting costs more than it saves
# Elements of one cache-sized piece (1 MiB of float32). Smaller pieces lose more to Python
# overhead and GIL hand-offs than they gain in cache hits; larger ones, up to a whole block,
# run no faster (measured on the softmax head and the optimizer updates, sizes interleaved).
CACHE_ELEMENTS = 1 << 18
REDUCE_PARTS = 4  # partial sums of a reduction: fixed, so sums do not depend on the core count

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def workers() -> int:
    env = os.environ.get("RNNLM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(os.cpu_count() or 1, 8))


def blas_threads() -> int:
    """How many threads OpenBLAS runs matrix products on, read as OpenBLAS reads it at start:
    its environment variables, else the cores this process may run on."""
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):
        env = os.environ.get(name, "")
        if env.isdigit() and int(env) > 0:
            return int(env)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=max(workers() - 1, 1), thread_name_prefix="rnnlm"
            )
        return _pool


def blocks(n: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices covering range(n), as equal as possible (none empty)."""
    parts = max(1, min(parts, n))
    edges = [n * i // parts for i in range(parts + 1)]
    return [slice(edges[i], edges[i + 1]) for i in range(parts)]


def for_blocks(
    fn: Callable[[slice], None], n: int, size: int, chunk: int = 0, like: object = None
) -> None:
    """Call ``fn(block)`` for row blocks of range(n), in parallel when ``size`` is large.

    ``fn`` must only touch rows in its block. The calling thread runs the first block.
    ``chunk > 0``: each block is walked in slices of at most ``chunk`` rows, so that a chain of
    elementwise operations in ``fn`` runs on a piece that stays in cache, instead of making one
    pass through main memory per operation. ``like``: an array ``fn`` works on; a GPU array
    means one call on the whole range (no threads, no pieces).
    """
    if is_device_array(like):
        fn(slice(0, n))
        return
    if chunk > 0:
        whole = fn

        def fn(block: slice) -> None:
            for start in range(block.start, block.stop, chunk):
                whole(slice(start, min(start + chunk, block.stop)))

    k = workers()
    if k == 1 or size < MIN_ELEMENTS or n < 2:
        fn(slice(0, n))
        return
    parts = blocks(n, k)
    # each worker runs in a copy of the caller's context, so np.errstate reaches it too
    futures = [_executor().submit(contextvars.copy_context().run, fn, b) for b in parts[1:]]
    try:
        fn(parts[0])
    finally:
        for f in futures:
            f.result()
