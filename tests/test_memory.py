"""Training allocates its work arrays once: memory does not grow from step to step."""

import gc
import tracemalloc

import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.model import RNNLM
from rnnlm.optim import OPTIMIZERS, clip_scale


@pytest.mark.parametrize(
    ("cell", "optimizer", "extra"),
    [("rnn", "sgd", {}), ("lstm", "adam", {"dropout": 0.3}), ("gru", "sgd", {"tie_weights": True}),
     ("lstm", "sgd", {"softmax": "class", "class_bounds": (0, 50, 150, 400)})],
)  # fmt: skip
def test_steps_do_not_grow_memory(cell, optimizer, extra):
    cfg = ModelConfig(vocab_size=400, embed_dim=64, hidden=64, cell=cell, **extra)
    model = RNNLM(cfg, np.random.default_rng(0))
    opt = OPTIMIZERS[optimizer](0.01)
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, 400, (2, 2, 6)) for _ in range(40)]  # (xs, ts), N = 2, T = 6

    def step(xs, ts):
        model.forward(xs, ts)
        model.backward()
        _, scale = clip_scale(model.grads, 1.0, 1.0, model.grad_rows)
        opt.step(model.params, model.grads, scale, model.grad_rows)

    tracemalloc.start()
    try:
        for xs, ts in batches[:10]:  # warm-up: buffers, optimizer state, caches
            step(xs, ts)
        gc.collect()  # small objects numpy leaves to the cycle collector
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for xs, ts in batches[10:]:
            step(xs, ts)
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    arrays = sum(p.nbytes for p in model.params.values())
    assert after - before < 16_384, (after - before, arrays)  # no growth, bar small objects
    assert peak - before < 0.75 * arrays  # and no step allocates a copy of the parameters
