"""Where the time of one training step goes, layer by layer (median of repeated steps).

    python -m benchmarks.profile_step --config M
    python -m benchmarks.profile_step --config M --optimizer adam --cell lstm
    python -m benchmarks.profile_step --preset zaremba-medium   (a preset's model and batch)

The step is ``Trainer.step`` taken apart: the model's ``layers`` and ``head`` forward and
backward one by one, then ``clip_scale`` and the optimizer's update, each timed.
"""

import argparse
import time
from collections import defaultdict

import numpy as np

from rnnlm.bench import CONFIGS, zipf_stream
from rnnlm.config import ModelConfig
from rnnlm.nn.cells import CELLS
from rnnlm.nn.model import RNNLM
from rnnlm.presets import preset, preset_names
from rnnlm.training.optimizers import OPTIMIZERS, clip_scale


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="M", choices=list(CONFIGS))
    ap.add_argument("--cell", default="rnn", choices=list(CELLS))
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--preset", choices=preset_names(), help="profile a preset's model instead")
    ap.add_argument("--steps", type=int, default=12, help="timed steps, the first 2 not counted")
    args = ap.parse_args()
    if args.steps < 3:
        ap.error("--steps must be at least 3: the first 2 steps are warm-up")
    c = CONFIGS[args.config]
    model_keys = {"embed_dim", "hidden", "cell", "layers", "dropout", "init_scale"}
    shape = {"embed_dim": c["embed_dim"], "hidden": c["hidden"], "cell": args.cell, "dropout": 0.0}
    if args.preset:
        p = preset(args.preset)
        c = {**c, "batch_size": p["batch_size"], "bptt": p["bptt"], "hidden": p["hidden"]}
        shape = {k: v for k, v in p.items() if k in model_keys}
        args.cell, args.optimizer = p["cell"], p["optimizer"]
        args.config = args.preset
    N, T = c["batch_size"], c["bptt"]
    rng = np.random.default_rng(0)
    cfg = ModelConfig(vocab_size=args.vocab, **shape)
    model = RNNLM(cfg, rng)
    opt = OPTIMIZERS[args.optimizer](0.1 if args.optimizer == "sgd" else 1e-3)
    ids = zipf_stream(args.vocab, 2 * N * T, rng).reshape(2, N, T)
    xs, ts = ids[0], ids[1]
    times: dict[str, list[float]] = defaultdict(list)

    def timed(name, fn, *a):
        t0 = time.perf_counter()
        out = fn(*a)
        times[name].append(time.perf_counter() - t0)
        return out

    kinds = [type(layer).__name__ for layer in model.layers]
    # a layer's name, numbered when its kind occurs more than once (two LSTM layers: 1 and 2)
    names = [
        f"{k} {kinds[: i + 1].count(k)}" if kinds.count(k) > 1 else k for i, k in enumerate(kinds)
    ]
    for _ in range(args.steps):
        t_start = time.perf_counter()
        h = xs
        for name, layer in zip(names, model.layers, strict=True):
            h = timed(f"forward  {name}", layer.forward, h)
        head = type(model.head).__name__
        timed(f"forward  {head} (output layer + loss)", model.head.forward, h, ts)
        d = timed(f"backward {head}", model.head.backward)
        for name, layer in zip(reversed(names), reversed(model.layers), strict=True):
            d = timed(f"backward {name}", layer.backward, d)
        rows = model.grad_rows
        _, scale = timed("clip (norm)", clip_scale, model.grads, 0.25, 1.0, rows)
        timed(f"update ({args.optimizer})", opt.step, model.params, model.grads, scale, rows)
        times["step"].append(time.perf_counter() - t_start)
    total = float(np.median(times["step"][2:]))
    print(f"config {args.config} ({args.cell}, D=H={c['hidden']}, N={N}, T={T}, V={args.vocab}): "
          f"{total * 1e3:.1f} ms/step, {N * T / total:,.0f} tokens/s")  # fmt: skip
    print("| part | ms | share |")
    print("|---|---:|---:|")
    for name, ts_ in times.items():
        if name != "step":
            ms = float(np.median(ts_[2:])) * 1e3
            print(f"| {name} | {ms:.2f} | {ms / (total * 1e3):.0%} |")


if __name__ == "__main__":
    main()
