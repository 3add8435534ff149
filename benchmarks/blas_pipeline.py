"""An idea measured and set aside: the output layer's forward as a per-core pipeline.

rnnlm's forward runs the (N·T, H) @ (H, V) product with OpenBLAS on both cores, then the
softmax on cache-sized pieces, one row block per core. The alternative: OpenBLAS set to one
thread, and each core takes its half of the rows in blocks, multiplying a block and running
its softmax at once while the block is still in cache. Both are timed here, interleaved.
(Needs numpy's bundled scipy-openblas, found next to numpy.)

python -m benchmarks.blas_pipeline
"""

import ctypes
import glob
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from rnnlm.bench import CONFIGS
from rnnlm.nn.heads.softmax import exp_sum, finish_rows


def openblas_threads_setter():
    libs = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
    lib = ctypes.CDLL(libs[0])
    for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads"):
        if hasattr(lib, name):
            return getattr(lib, name)
    raise SystemExit("no openblas_set_num_threads in numpy's OpenBLAS")


def softmax_rows(p, x, W, b, t, nll, rows: slice, piece: int) -> None:
    """The fused layer's row work (rnnlm.nn.heads.full_softmax), on cache-sized pieces of rows."""
    for start in range(rows.start, rows.stop, piece):
        c = slice(start, min(start + piece, rows.stop))
        pc = p[c]
        target = pc[np.arange(c.stop - c.start), t[c]] + b[t[c]]
        pc += b
        sums = np.empty(c.stop - c.start, p.dtype)
        exp_sum(pc, pc, sums)
        finish_rows(pc, sums, target, t[c], nll[c], lambda bad, c=c: x[c][bad] @ W + b)


def time_config(name: str, set_threads, pool: ThreadPoolExecutor) -> None:
    rng = np.random.default_rng(0)
    c = CONFIGS[name]
    M, H, V = c["batch_size"] * c["bptt"], c["hidden"], 10_000
    x = rng.standard_normal((M, H)).astype(np.float32)
    W = (rng.standard_normal((H, V)) * 0.1).astype(np.float32)
    b = np.zeros(V, np.float32)
    p = np.empty((M, V), np.float32)
    t, nll = rng.integers(0, V, M), np.empty(M, np.float32)
    piece = max(1, (1 << 18) // V)

    def both_cores_blas() -> None:
        np.matmul(x, W, out=p)
        half = pool.submit(softmax_rows, p, x, W, b, t, nll, slice(M // 2, M), piece)
        softmax_rows(p, x, W, b, t, nll, slice(0, M // 2), piece)
        half.result()

    def pipelined(block: int) -> None:
        def rows(r: slice) -> None:
            for start in range(r.start, r.stop, block):
                s = slice(start, min(start + block, r.stop))
                np.matmul(x[s], W, out=p[s])
                softmax_rows(p, x, W, b, t, nll, s, piece)

        set_threads(1)
        half = pool.submit(rows, slice(M // 2, M))
        rows(slice(0, M // 2))
        half.result()
        set_threads(os.cpu_count() or 1)

    runs = {"OpenBLAS on both cores, then softmax": both_cores_blas}
    for block in (64, 128, M // 2):
        runs[f"pipelined, blocks of {block} rows"] = lambda k=block: pipelined(k)
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(17):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    print(f"config {name} (N·T = {M}, H = {H}, V = {V}): ms, median [min-max] of 15")
    for k, v in times.items():
        v = np.array(v[2:]) * 1e3
        print(f"  {k:40s} {np.median(v):6.1f} [{v.min():.1f}-{v.max():.1f}]")


def main() -> None:
    set_threads = openblas_threads_setter()
    pool = ThreadPoolExecutor(1)
    for name in ("S", "M"):
        time_config(name, set_threads, pool)


if __name__ == "__main__":
    main()
