"""Numerical gradient checking by central differences (run in float64)."""

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rnnlm.nn.model import RNNLM


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d f() / d x, perturbing ``x`` in place one element at a time (restored afterwards)."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        grad[i] = (fp - fm) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|): 0 when equal, ~1 when unrelated."""
    denom = np.maximum(np.abs(a) + np.abs(b), 1e-8).max()
    return float(np.abs(a - b).max() / denom)


# The models every whole-model check builds (here, and the CPU/GPU comparisons of
# tests/test_device.py and benchmarks/gpu_check.py): tiny, one of each cell and option.
BASE = {"vocab_size": 7, "embed_dim": 4, "hidden": 5, "dropout": 0.0, "init_scale": 0.5}
VARIANTS = {
    "rnn (the seed's cell)": {"cell": "rnn"},
    "rnn x2, dropout (fixed mask)": {"cell": "rnn", "layers": 2, "dropout": 0.3},
    "lstm x2, tied": {"cell": "lstm", "layers": 2, "tie_weights": True, "embed_dim": 5},
    "gru x2, variational dropout": {"cell": "gru", "layers": 2, "dropout": 0.3,
                                    "variational_dropout": True},
    "rnn, class softmax": {"cell": "rnn", "softmax": "class", "class_bounds": (0, 2, 3, 7)},
    "lstm x2, weight drop (fixed mask)": {"cell": "lstm", "layers": 2, "weight_drop": 0.4},
}  # fmt: skip


def model_report(seed: int = 0) -> list[tuple[str, float]]:
    """Max relative error of every parameter gradient, for each cell/option, over two windows.

    The second window starts from the state the first one carried, as in training.
    """
    from rnnlm.config import ModelConfig
    from rnnlm.nn.model import RNNLM

    rows = []
    for name, kw in VARIANTS.items():
        rng = np.random.default_rng(seed)
        cfg = ModelConfig(**{**BASE, **kw})
        model = RNNLM(cfg, rng, dtype=np.float64)
        x1, t1, x2, t2 = (rng.integers(0, 7, (3, 4)) for _ in range(4))
        model.reset_state()
        model.forward(x1, t1)  # window 1: leaves the carried state and fixes dropout masks
        carried = model.get_state()
        for drop in [*model.drops, *model.weight_drops]:
            drop.reuse_mask = True

        def f(model=model, carried=carried, x2=x2, t2=t2) -> float:
            model.set_state(carried)
            return model.forward(x2, t2)

        f()
        model.backward()
        worst = max(
            rel_error(numerical_grad(f, p), model.grads[k]) for k, p in model.params.items()
        )
        rows.append((name, worst))
    return rows


if __name__ == "__main__":
    # python -m rnnlm.nn.gradcheck: the figures quoted in docs/reliability.md
    for name, err in model_report():
        print(f"{name:34s} max relative error {err:.2e}")


def compare_devices(
    cpu: "RNNLM", dev: "RNNLM", rng: np.random.Generator, compare: Callable[..., None]
) -> None:
    """Two windows (the second from the state the first carried) through two models of one
    config and weights, e.g. on the CPU and a GPU: ``compare(host_value, other_value, what)``
    for the loss, the per-token loss, every gradient, the carried state and the scores."""
    for window in range(2):
        xs, ts = rng.integers(0, 7, (3, 4)), rng.integers(0, 7, (3, 4))
        compare(cpu.forward(xs, ts), float(dev.forward(xs, ts)), f"loss {window}")
        compare(cpu.token_nll, dev.token_nll, f"token loss {window}")
        cpu.backward()
        dev.backward()
        for name, g in cpu.grads.items():
            compare(g, dev.grads[name], f"d{name} {window}")
        for i, (a, b) in enumerate(zip(cpu.get_state(), dev.get_state(), strict=True)):
            compare(a, b, f"state {i} {window}")
    cpu.train(False)
    dev.train(False)
    compare(cpu.scores(xs), dev.scores(xs), "scores")
