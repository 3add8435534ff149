"""Training allocates its work arrays once: memory does not grow from step to step."""

import gc
import tracemalloc

import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.nn import TimeSoftmaxHead, parallel
from rnnlm.nn.model import RNNLM
from rnnlm.training.optimizers import OPTIMIZERS, clip_scale
from tests.reference_layers import TimeSoftmaxWithLoss


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


@pytest.mark.parametrize("fused", [False, True])
def test_rows_redone_in_a_diverging_step_need_no_second_score_array(monkeypatch, fused):
    """Rows whose exponentials overflow are redone shifted (``finish_rows``) a cached piece at a
    time: with every row overflowing, a forward allocates far less than another (N·T, V)."""
    monkeypatch.setenv("RNNLM_THREADS", "1")
    rng = np.random.default_rng(0)
    N, T, H, V = 8, 100, 8, 10_000
    xs = rng.standard_normal((N, T, H)).astype(np.float32)
    W = np.full((H, V), 30.0, np.float32)
    xs[:] = np.abs(xs) + 1  # every score above 240: exp overflows in every row
    ts = rng.integers(0, V, (N, T))
    b = np.zeros(V, np.float32)
    if fused:
        layer, args = TimeSoftmaxHead(W, b), (xs, ts)
    else:
        scores = (xs.reshape(N * T, H) @ W).reshape(N, T, V)
        layer, args = TimeSoftmaxWithLoss(), (scores, ts)
    assert np.isfinite(layer.forward(*args))  # warm-up: the layer's own buffers
    score_bytes = N * T * V * 4
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        loss = layer.forward(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.isfinite(loss) and np.isfinite(layer.token_nll).all()
    assert peak - before < score_bytes / 4, (peak - before, score_bytes)
    assert score_bytes / 4 > 4 * parallel.CACHE_ELEMENTS * 4  # room for a few pieces
