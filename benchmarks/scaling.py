"""Data parallelism's cost on this machine: one training step and one gradient Allreduce.

    python -m benchmarks.scaling --config S                      # one process
    mpiexec -n 2 python -m benchmarks.scaling --config S         # two ranks (the [mpi] extra)

Each rank trains its share of the N streams (``Trainer.step``, the very step ``rnnlm train``
takes, Allreduce included) on a synthetic Zipf corpus; then the Allreduce of the step's flat
buffer is timed alone. Rank 0 prints one JSON line: step and Allreduce medians with their
range, the buffer's size and tokens/s. docs/scaling.md turns these into a speed-up model.
"""

import argparse
import json
import time

import numpy as np

from rnnlm.bench import CONFIGS, zipf_stream
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.data.batching import windows
from rnnlm.data.vocab import Vocabulary
from rnnlm.nn.model import RNNLM
from rnnlm.training.distributed import world
from rnnlm.training.loop import Trainer


def spread(times: list[float]) -> dict[str, float]:
    ms = np.array(times) * 1e3
    return {"median": float(np.median(ms)), "min": float(ms.min()), "max": float(ms.max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="S", choices=list(CONFIGS))
    ap.add_argument("--cell", default="rnn")
    ap.add_argument("--vocab", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    c, comm = CONFIGS[args.config], world()
    V = args.vocab
    mcfg = ModelConfig(vocab_size=V, embed_dim=c["embed_dim"], hidden=c["hidden"],
                       cell=args.cell, dropout=0.0)  # fmt: skip
    tcfg = TrainConfig(batch_size=c["batch_size"], bptt=c["bptt"], optimizer="sgd", lr=0.1)
    rng = np.random.default_rng(0)
    ids = zipf_stream(V, c["batch_size"] * c["bptt"] * (args.steps + 6) + 1, rng)
    vocab = Vocabulary(["<unk>", *(f"w{i}" for i in range(1, V))])
    trainer = Trainer(RNNLM(mcfg, rng), tcfg, ids, ids[:1000], vocab, "word", rng, comm=comm)
    batches = list(windows(trainer.inputs, trainer.targets, tcfg.bptt))
    steps = []
    for i, (xs, ts) in enumerate(batches[: args.steps + 5]):
        t0 = time.perf_counter()
        trainer.step(xs, ts)
        if i >= 5:  # warm-up: buffers, BLAS threads, first-touch pages
            steps.append(time.perf_counter() - t0)
    reduce_times, buf = [], None
    if trainer.ranks.active:
        buf = trainer.ranks.sync.buf
        for _ in range(args.steps):
            comm.barrier()
            t0 = time.perf_counter()
            comm.allreduce(buf)
            reduce_times.append(time.perf_counter() - t0)
    if comm.is_root:
        step = spread(steps)
        tokens = tcfg.batch_size * tcfg.bptt
        report = {
            "config": args.config, "cell": args.cell, "ranks": comm.size,
            "params": trainer.model.num_params(), "step_ms": step,
            "tokens_per_s": tokens / (step["median"] / 1e3),
            "allreduce_bytes": 0 if buf is None else int(buf.nbytes),
            "allreduce_ms": spread(reduce_times) if reduce_times else None,
        }  # fmt: skip
        print(json.dumps(report))


if __name__ == "__main__":
    main()
