"""How big a cache-sized piece should be: the fused softmax head and the optimizer updates
timed at several piece sizes, interleaved (so machine noise hits every size alike).

python -m benchmarks.chunk_sizes --config M
"""

import argparse
import time

import numpy as np

from rnnlm.bench import CONFIGS
from rnnlm.config import ModelConfig
from rnnlm.nn import TimeSoftmaxHead, parallel
from rnnlm.nn.model import init_params
from rnnlm.training import optimizers as optim

SIZES = [1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 40]  # 1 << 40: one piece per thread block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="M", choices=list(CONFIGS))
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=12)
    args = ap.parse_args()
    c = CONFIGS[args.config]
    N, T, H, V = c["batch_size"], c["bptt"], c["hidden"], args.vocab
    rng = np.random.default_rng(0)
    head = TimeSoftmaxHead((rng.standard_normal((H, V)) * 0.1).astype(np.float32),
                           np.zeros(V, np.float32))  # fmt: skip
    xs = rng.standard_normal((N, T, H)).astype(np.float32)
    ts = rng.integers(0, V, (N, T))
    cfg = ModelConfig(vocab_size=V, embed_dim=c["embed_dim"], hidden=H)
    params = init_params(cfg, rng)
    grads = {k: (rng.standard_normal(v.shape) * 1e-3).astype(np.float32) for k, v in params.items()}
    sgd, adam = optim.SGD(0.1), optim.Adam(1e-3)
    times: dict[tuple[str, int], list[float]] = {}

    def timed(key, fn) -> None:
        t0 = time.perf_counter()
        fn()
        times.setdefault(key, []).append(time.perf_counter() - t0)

    saved = parallel.CACHE_ELEMENTS, optim.UPDATE_CHUNK
    try:
        for _ in range(args.repeats + 2):
            for size in SIZES:
                parallel.CACHE_ELEMENTS, optim.UPDATE_CHUNK = size, size // 4
                timed(("softmax head forward", size), lambda: head.forward(xs, ts))
                timed(("sgd update", size), lambda: sgd.step(params, grads))
                timed(("adam update", size), lambda: adam.step(params, grads))
    finally:
        parallel.CACHE_ELEMENTS, optim.UPDATE_CHUNK = saved
    print(f"config {args.config} (N·T = {N * T}, H = {H}, V = {V}); ms, median [min-max] of "
          f"{args.repeats}; piece = elements (optimizer: a quarter of it, 4-5 arrays)")  # fmt: skip
    print("| piece | " + " | ".join(sorted({k[0] for k in times})) + " |")
    print("|---:|" + "---:|" * len({k[0] for k in times}))
    for size in SIZES:
        cells = []
        for part in sorted({k[0] for k in times}):
            v = np.array(times[(part, size)][2:]) * 1e3
            cells.append(f"{np.median(v):.1f} [{v.min():.1f}-{v.max():.1f}]")
        label = "whole block" if size == SIZES[-1] else f"{size:,}"
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
