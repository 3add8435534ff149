"""Optimizers and clipping: the clip factor applied inside the update, sparse embedding rows."""

import numpy as np
import pytest

from rnnlm.training.optimizers import OPTIMIZERS, clip_scale


def adam_reference(w, g, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam as the paper writes it, in float64, one array."""
    w, m, v = w.astype(np.float64), np.zeros(w.shape), np.zeros(w.shape)
    for t in range(1, steps + 1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_optimizer_applies_clip_scale_in_its_update(name):
    """Parameters big enough for parallel blocks and cache-sized pieces; scale folded in."""
    rng = np.random.default_rng(1)
    w0 = {"a": rng.standard_normal(700_001).astype(np.float32), "b": np.ones(3, np.float32)}
    g = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in w0.items()}
    g_before = {k: v.copy() for k, v in g.items()}
    norm, scale = clip_scale(g, 10.0, 3.0)
    expected_norm = 3.0 * np.sqrt(sum(float(np.sum(x.astype(np.float64) ** 2)) for x in g.values()))
    assert norm == pytest.approx(expected_norm, rel=1e-5)
    assert scale == pytest.approx(10.0 / norm * 3.0, rel=1e-5)
    params = {k: v.copy() for k, v in w0.items()}
    opt = OPTIMIZERS[name](0.01)
    for _ in range(3):
        opt.step(params, g, scale)
    for k in w0:
        gs = g[k].astype(np.float64) * scale
        ref = w0[k] - 3 * 0.01 * gs if name == "sgd" else adam_reference(w0[k], gs, 3, 0.01)
        np.testing.assert_allclose(params[k], ref, rtol=1e-5, atol=1e-6)
        assert np.array_equal(g[k], g_before[k])  # the gradients are left as they were


def test_clip_scale_leaves_small_gradients_alone():
    g = {"a": np.full(4, 0.1, np.float32)}
    assert clip_scale(g, 5.0, 2.0) == (pytest.approx(0.4), 2.0)
    assert clip_scale(g, 0.0, 1.0)[1] == 1.0  # clip 0: measure only


def test_sparse_embedding_gradient_equals_dense_over_windows():
    """Backward clears only the rows it wrote last time: still the dense gradient, window
    after window, and ``touched`` holds exactly the nonzero rows."""
    from rnnlm.nn import TimeEmbedding

    rng = np.random.default_rng(1)
    W = rng.standard_normal((50, 3))
    dense, sparse = TimeEmbedding(W.copy()), TimeEmbedding(W.copy(), sparse_grad=True)
    for ids in (rng.integers(0, 50, (4, 6)), rng.integers(0, 50, (4, 6)), np.zeros((4, 6), int)):
        dout = rng.standard_normal((4, 6, 3))
        for layer in (dense, sparse):
            layer.forward(ids)
            layer.backward(dout)
        np.testing.assert_array_equal(sparse.grads[0], dense.grads[0])
        np.testing.assert_array_equal(sparse.touched, np.unique(ids))
        assert not sparse.grads[0][np.setdiff1d(np.arange(50), ids)].any()


@pytest.mark.parametrize("tie", [False, True])
def test_training_steps_with_sparse_rows_equal_dense_updates(tie):
    """Clip and SGD over the embedding's touched rows only == over every row (tied weights:
    no sparse rows, the output layer's gradient fills the embedding's)."""
    from rnnlm.config import ModelConfig
    from rnnlm.nn.model import RNNLM

    cfg = ModelConfig(vocab_size=30, embed_dim=6, hidden=6, dropout=0.0, tie_weights=tie)
    models = [RNNLM(cfg, np.random.default_rng(0)) for _ in range(2)]
    rng = np.random.default_rng(2)
    opts = [OPTIMIZERS["sgd"](0.5) for _ in models]
    for _ in range(3):
        xs, ts = rng.integers(0, 10, (2, 4)), rng.integers(0, 30, (2, 4))
        for model, opt, sparse in zip(models, opts, (False, True), strict=True):
            model.forward(xs, ts)
            model.backward()
            rows = model.grad_rows if sparse else None
            _, scale = clip_scale(model.grads, 0.05, 1.0, rows)
            opt.step(model.params, model.grads, scale, rows)
        assert (models[1].grad_rows == {}) == tie
        if not tie:  # ids < 10: rows 10.. untouched, and left untouched by the update
            assert set(models[1].grad_rows["embed.W"]) <= set(range(10))
        for k in models[0].params:
            np.testing.assert_allclose(models[1].params[k], models[0].params[k], rtol=1e-6)
