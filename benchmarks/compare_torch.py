"""rnnlm against PyTorch's CPU path on the same configs, in the same run.

    python -m benchmarks.compare_torch              # S, M, L; rnn and lstm
    python -m benchmarks.compare_torch --configs M --cells rnn --repeats 7

Prints a Markdown table (medians, with min-max spread) for docs/performance.md. rnnlm's and
PyTorch's timed repeats alternate (and the matmul roofline runs after each of rnnlm's), so drift
in the machine's speed hits both sides of a ratio alike; the ratios are medians of per-pair
ratios.
Run it on an otherwise idle machine: other processes, and OpenBLAS threads spinning between
calls, move these numbers.
"""

import argparse
import datetime
import os
import platform

import numpy as np

try:
    import torch
except ImportError:
    raise SystemExit("this benchmark needs PyTorch: pip install -e '.[torch]'") from None

from benchmarks.torch_reference import torch_train_runner
from rnnlm.bench import CONFIGS, bench
from rnnlm.config import ModelConfig, TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="S,M,L")
    ap.add_argument("--cells", default="rnn,lstm")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--vocab", type=int, default=10_000)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(
        f"<!-- {datetime.date.today()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} CPUs | numpy {np.__version__} | torch {torch.__version__} -->"
    )
    print(
        "| config | cell | rnnlm tokens/s | PyTorch tokens/s | ratio | rnnlm % of matmul roofline |"
    )
    print("|---|---|---:|---:|---:|---:|")
    for name in args.configs.split(","):
        c = CONFIGS[name]
        for cell in args.cells.split(","):
            mcfg = ModelConfig(
                vocab_size=args.vocab,
                embed_dim=c["embed_dim"],
                hidden=c["hidden"],
                cell=cell,
                dropout=0.0,
            )
            tcfg = TrainConfig(batch_size=c["batch_size"], bptt=c["bptt"], optimizer="sgd", lr=0.1)
            theirs = torch_train_runner(
                args.vocab,
                c["embed_dim"],
                c["hidden"],
                c["batch_size"],
                c["bptt"],
                cell,
                steps=args.steps,
            )
            ours = bench(mcfg, tcfg, steps=args.steps, repeats=args.repeats, alongside=theirs)
            tokens = args.steps * c["batch_size"] * c["bptt"]
            their_tps = [tokens / t for t in ours["alongside_s"]]
            pairs = zip(ours["train_s"], ours["alongside_s"], strict=True)
            ratio = float(np.median([theirs_s / ours_s for ours_s, theirs_s in pairs]))
            lo, hi = ours["tokens_per_s_range"]
            rlo, rhi = ours["roofline_ratio_range"]
            print(
                f"| {name} | {cell} | {ours['tokens_per_s']:,.0f} ({lo:,.0f}-{hi:,.0f}) | "
                f"{np.median(their_tps):,.0f} ({min(their_tps):,.0f}-{max(their_tps):,.0f}) | "
                f"{ratio:.2f}x | {ours['roofline_ratio']:.0%} ({rlo:.0%}-{rhi:.0%}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
