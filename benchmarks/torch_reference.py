"""The same model and training step in PyTorch (CPU, or a CUDA GPU), for side-by-side speed
comparisons.

PyTorch is an optional extra (``pip install -e '.[torch]'``); rnnlm never imports it.
"""

import time
from collections.abc import Callable

import numpy as np

try:
    import torch
    from torch import nn
except ImportError:
    raise SystemExit("this benchmark needs PyTorch: pip install -e '.[torch]'") from None


class TorchLM(nn.Module):
    """Embedding -> nn.RNN/LSTM/GRU -> Linear, batch-first, as rnnlm's RNNLM."""

    def __init__(self, V: int, D: int, H: int, cell: str = "rnn", layers: int = 1):
        super().__init__()
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.embed = nn.Embedding(V, D)
        self.rnn = rnn_cls(D, H, num_layers=layers, batch_first=True)
        self.out = nn.Linear(H, V)

    def forward(self, x, state):
        h, state = self.rnn(self.embed(x), state)
        return self.out(h), state


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def torch_train_runner(
    V: int,
    D: int,
    H: int,
    N: int,
    T: int,
    cell: str = "rnn",
    layers: int = 1,
    steps: int = 5,
    lr: float = 0.1,
    clip: float = 0.25,
    device: str = "cpu",
) -> Callable[[], float]:
    """A function that runs ``steps`` stateful-TBPTT SGD steps and returns their seconds
    (on ``device``, e.g. "cuda": timed to the end of the GPU's work)."""
    torch.manual_seed(0)
    model = TorchLM(V, D, H, cell, layers).to(device)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    data = torch.from_numpy(rng.integers(0, V, (steps + 1, N, T + 1)).astype(np.int64))
    data = data.to(device)
    state = None
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def run() -> float:
        nonlocal state
        sync()
        t0 = time.perf_counter()
        for k in range(steps):
            xs, ts = data[k, :, :-1], data[k, :, 1:]
            state = detach(state)
            model.zero_grad(set_to_none=False)
            logits, state = model(xs, state)
            loss = loss_fn(logits.reshape(-1, V), ts.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
        sync()
        return time.perf_counter() - t0

    return run
