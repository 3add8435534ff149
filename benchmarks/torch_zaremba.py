"""Zaremba et al.'s recipes trained in PyTorch (CPU) on PTB, for wall-time comparisons.

The same data and batching as ``rnnlm train ptb --preset NAME`` (rnnlm's corpus loader, N evenly
spaced streams, windows of T, state carried), the same model (embedding -> LSTM x K -> linear,
dropout on non-recurrent connections, uniform ±init_scale), the same update (SGD on the loss
summed over T and averaged over the batch, global-norm clip, the preset's lr schedule), and the
same evaluation (rnnlm's defaults: one stream, windows of 128, the validation split after each
epoch and the test split at the end). Prints per-epoch wall time, tokens/s and perplexities.

python -m benchmarks.torch_zaremba --preset zaremba-small --epochs 2
python -m benchmarks.torch_zaremba --preset zaremba-small --max-steps 800   # as rnnlm's --max-steps
"""

import argparse
import math
import time

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:
    raise SystemExit("this benchmark needs PyTorch: pip install -e '.[torch]'") from None

from rnnlm.data.batching import batchify, windows
from rnnlm.data.corpus import load_corpus
from rnnlm.data.named import data_dir, named_corpus_files
from rnnlm.presets import preset


class ZarembaLM(nn.Module):
    def __init__(self, V: int, D: int, H: int, layers: int, dropout: float, init: float):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.drop = nn.Dropout(dropout)
        self.rnn = nn.LSTM(D, H, num_layers=layers, dropout=dropout, batch_first=True)
        self.out = nn.Linear(H, V)
        for p in self.parameters():
            nn.init.uniform_(p, -init, init)

    def forward(self, x, state):
        h, state = self.rnn(self.drop(self.embed(x)), state)
        return self.out(self.drop(h)), state


def run_split(model, inputs, targets, T, train, lr=0.0, clip=0.0, max_steps=0):
    """One pass over a split (at most ``max_steps`` windows, 0: all); returns (mean NLL,
    seconds, tokens)."""
    model.train(train)
    state, total, count = None, 0.0, 0
    t0 = time.perf_counter()
    for step, (xs, ts) in enumerate(windows(inputs, targets, T)):
        if max_steps and step == max_steps:
            break
        x, t = torch.from_numpy(xs.astype(np.int64)), torch.from_numpy(ts.astype(np.int64))
        if state is not None:
            state = tuple(s.detach() for s in state)
        with torch.set_grad_enabled(train):
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1))
        if train:
            model.zero_grad(set_to_none=False)
            (loss * t.shape[1]).backward()  # summed over T, averaged over the batch
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
        total += float(loss.detach()) * t.numel()
        count += t.numel()
    return total / count, time.perf_counter() - t0, count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="zaremba-small")
    ap.add_argument("--epochs", type=int, default=0, help="0: the preset's")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop training after this many")
    ap.add_argument("--eval-batch-size", type=int, default=1, help="streams at evaluation")
    ap.add_argument("--eval-bptt", type=int, default=128, help="window at evaluation")
    args = ap.parse_args()
    r = preset(args.preset)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    corpus = load_corpus(named_corpus_files("ptb", data_dir()), "word")
    V = len(corpus.vocab)
    model = ZarembaLM(V, r["embed_dim"], r["hidden"], r["layers"], r["dropout"], r["init_scale"])
    N, T = r["batch_size"], r["bptt"]
    train = batchify(corpus["train"], N)
    valid = batchify(corpus["valid"], args.eval_batch_size)
    test = batchify(corpus["test"], args.eval_batch_size)
    t_start = time.perf_counter()
    epochs = args.epochs or r["epochs"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, preset {args.preset}")
    wall = 0.0
    for epoch in range(1, epochs + 1):
        lr = r["lr"] / r["lr_decay"] ** max(epoch - r["decay_after"], 0)
        nll, secs, tokens = run_split(model, *train, T, True, lr, r["clip"], args.max_steps)
        vnll, vsecs, _ = run_split(model, *valid, args.eval_bptt, False)
        wall += secs + vsecs
        print(f"epoch {epoch:2d} | lr {lr:.4g} | train ppl {math.exp(nll):8.2f} | valid ppl "
              f"{math.exp(vnll):8.2f} | {tokens / secs:,.0f} tok/s | train {secs:.1f} s | "
              f"valid {vsecs:.1f} s | wall {wall:.0f} s", flush=True)  # fmt: skip
        if args.max_steps:
            break
    tnll, tsecs, _ = run_split(model, *test, args.eval_bptt, False)
    print(f"test ppl {math.exp(tnll):.2f} ({tsecs:.1f} s) | "
          f"{time.perf_counter() - t_start:.1f} s after loading")  # fmt: skip


if __name__ == "__main__":
    main()
