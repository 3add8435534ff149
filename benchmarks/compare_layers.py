"""One recurrent layer's forward and backward alone: rnnlm's TimeLSTM/TimeGRU against PyTorch's
nn.LSTM/nn.GRU at the same shapes (D = H, float32, all threads), in blocks that alternate.

    python -m benchmarks.compare_layers            # lstm and gru at S, zaremba-small, M, L

Prints a Markdown table of medians in ms. The output layer, which dominates a whole step, is
left out: this says how each library's recurrent loop compares. Run it on an otherwise idle
machine.
"""

import argparse
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

import rnnlm  # noqa: F401  (OpenBLAS's settings, before numpy's first product)
from rnnlm.nn.cells.gru import TimeGRU
from rnnlm.nn.cells.lstm import TimeLSTM

try:
    import torch
except ImportError:
    raise SystemExit("this benchmark needs PyTorch: pip install -e '.[torch]'") from None

SHAPES = {  # (N, T, H)
    "S": (20, 35, 100),
    "zaremba-small": (20, 20, 200),
    "M": (32, 35, 256),
    "L": (20, 35, 650),
}
SETTLE_S = 0.3  # between the two libraries' blocks: their idle threads spin for a while


def ms(samples: list[float]) -> str:
    return f"{np.median(samples) * 1e3:.2f}"


def block(
    forward: Callable[[], Any], backward: Callable[[Any], None], fwd_s: list, bwd_s: list
) -> None:
    """2 warm-up passes then 5 timed ones (``backward(forward())``), then a pause."""
    for k in range(7):
        t0 = time.perf_counter()
        out = forward()
        t1 = time.perf_counter()
        backward(out)
        t2 = time.perf_counter()
        if k >= 2:
            fwd_s.append(t1 - t0)
            bwd_s.append(t2 - t1)
    time.sleep(SETTLE_S)


def layer_backward(layer: Any, grad: np.ndarray, _out: Any) -> None:
    layer.backward(grad)


def torch_backward(grad: Any, out: Any) -> None:
    out[0].backward(grad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", default="lstm,gru")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print("| cell | shape (N, T, H) | rnnlm fwd | PyTorch fwd | rnnlm bwd | PyTorch bwd |")
    print("|---|---|---:|---:|---:|---:|")
    for cell in args.cells.split(","):
        cls = {"lstm": TimeLSTM, "gru": TimeGRU}[cell]
        for name in args.shapes.split(","):
            N, T, H = SHAPES[name]
            rng = np.random.default_rng(0)
            G = cls.gates * H
            params = [(rng.standard_normal((H, G)) / np.sqrt(H)).astype(np.float32) for _ in "xh"]
            params.append(np.zeros(G, np.float32))
            params += [np.zeros(H, np.float32) for _ in cls.extra_params]
            ours = cls(*params, stateful=True)
            theirs = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](H, H, batch_first=True)
            xs = rng.standard_normal((N, T, H)).astype(np.float32)
            dhs = rng.standard_normal((N, T, H)).astype(np.float32)
            txs, tdhs = torch.from_numpy(xs).requires_grad_(), torch.from_numpy(dhs)
            ours_fwd, ours_bwd, their_fwd, their_bwd = [], [], [], []
            for _ in range(args.rounds):
                block(partial(ours.forward, xs), partial(layer_backward, ours, dhs), ours_fwd,
                      ours_bwd)  # fmt: skip
                block(partial(theirs, txs), partial(torch_backward, tdhs), their_fwd, their_bwd)
            print(f"| {cell} | {name} ({N}, {T}, {H}) | {ms(ours_fwd)} | {ms(their_fwd)} | "
                  f"{ms(ours_bwd)} | {ms(their_bwd)} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
