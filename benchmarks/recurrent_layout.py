"""Plain vs transposed recurrent products (rnnlm/nn/cells/recurrent.py), same run, alternating.

python -m benchmarks.recurrent_layout --preset zaremba-medium
python -m benchmarks.recurrent_layout --config M --cell rnn

Times forward + backward of the recurrent layers alone (the output layer does not change),
median of ``--repeats`` rounds with the spread, each round running both layouts.
"""

import argparse
import time

import numpy as np

import rnnlm.nn.cells.recurrent as recurrent
from rnnlm.bench import CONFIGS
from rnnlm.config import ModelConfig
from rnnlm.nn.model import RNNLM
from rnnlm.nn.parallel import blas_threads
from rnnlm.presets import preset, preset_names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="M", choices=list(CONFIGS))
    ap.add_argument("--cell", default="rnn")
    ap.add_argument("--preset", choices=preset_names())
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    c = CONFIGS[args.config]
    N, T, H, D = c["batch_size"], c["bptt"], c["hidden"], c["embed_dim"]
    shape = {"cell": args.cell, "layers": 1}
    if args.preset:
        p = preset(args.preset)
        N, T, H, D = p["batch_size"], p["bptt"], p["hidden"], p["embed_dim"]
        shape = {"cell": p["cell"], "layers": p["layers"]}
    rng = np.random.default_rng(0)
    model = RNNLM(ModelConfig(vocab_size=100, embed_dim=D, hidden=H, **shape), rng)
    layers = [layer for layer in model.layers if hasattr(layer, "weight_drop")]
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    dhs = rng.standard_normal((N, T, H)).astype(np.float32)
    real = recurrent.blas_threads

    def step(threads_seen: int) -> float:
        recurrent.blas_threads = lambda: threads_seen
        t0 = time.perf_counter()
        for layer in layers:
            layer.forward(xs)
        for layer in reversed(layers):
            layer.backward(dhs)
        return time.perf_counter() - t0

    times: dict[str, list[float]] = {"plain": [], "transposed": []}
    for _ in range(2):  # warm-up
        step(1), step(2)
    for _ in range(args.repeats):
        times["plain"].append(step(1))
        times["transposed"].append(step(2))
    recurrent.blas_threads = real
    name = args.preset or f"{args.config} {args.cell}"
    print(f"{name}: {len(layers)} x {shape['cell']} H={H} N={N} T={T}, "
          f"OpenBLAS threads {blas_threads()}")  # fmt: skip
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    for k, v in times.items():
        print(f"  {k:10s} {med[k]:7.1f} ms  ({min(v) * 1e3:.1f}-{max(v) * 1e3:.1f})")
    print(f"  transposed / plain: {med['transposed'] / med['plain']:.2f}")


if __name__ == "__main__":
    main()
