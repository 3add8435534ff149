"""The fused and parallel fast paths equal the plain layers they replace (float tolerance)."""

import numpy as np
import pytest

from rnnlm.nn import (
    TimeAffine,
    TimeGRU,
    TimeLSTM,
    TimeRNN,
    TimeSoftmaxHead,
    TimeSoftmaxWithLoss,
)
from rnnlm.nn.heads.full_softmax import with_bias_row
from rnnlm.training.optimizers import OPTIMIZERS, clip_scale


@pytest.mark.parametrize(("dtype", "V", "layout"), [(np.float32, 10_000, "apart"),
                                                    (np.float32, 10_000, "joined"),
                                                    (np.float64, 37, "apart"),
                                                    (np.float64, 37, "joined"),
                                                    (np.float32, 3_000, "tied")])  # fmt: skip
def test_softmax_head_equals_affine_then_softmax(dtype, V, layout):
    """Big enough for several cached chunks per row block and the parallel split; W and b as
    separate arrays, as the rows of one (``with_bias_row``: the bias inside the product), or
    W a transposed view (tied weights)."""
    rng = np.random.default_rng(0)
    N, T, H = 4, 9, 16
    W = rng.standard_normal((V, H) if layout == "tied" else (H, V)).astype(dtype)
    W_out = W.T if layout == "tied" else W  # tied weights hand the head a transposed view
    b = rng.standard_normal(V).astype(dtype)
    xs = rng.standard_normal((N, T, H)).astype(dtype)
    ts = rng.integers(0, V, (N, T))
    affine, loss = TimeAffine(W_out.copy(), b.copy()), TimeSoftmaxWithLoss()
    if layout == "joined":
        W_out, b = with_bias_row(W_out, b)
    head = TimeSoftmaxHead(W_out, b)
    assert (head._Wb is not None) == (layout == "joined")

    ref = loss.forward(affine.forward(xs), ts)
    ref_dx = affine.backward(loss.backward())
    got = head.forward(xs, ts)
    np.testing.assert_allclose(head.token_nll, loss.token_nll, rtol=1e-5)
    assert got == pytest.approx(ref, rel=1e-6)
    for _ in range(2):  # backward may be called again and gives the same
        dx = head.backward()
        assert dx.dtype == dtype
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(head.grads[0], affine.grads[0], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(head.grads[1], affine.grads[1], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(head.scores(xs), affine.forward(xs), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("fused", "big"), [(False, False), (True, False), (True, True)])
def test_softmax_rows_that_overflow_or_underflow_take_the_shifted_path(monkeypatch, fused, big):
    """The softmax skips the max shift (``finish_rows``); rows whose exponentials overflow
    (scores ~ +60) or all underflow (~ -100) must still give the exact loss and gradient,
    wherever they sit among ordinary rows, cached chunks and (big) the parallel row blocks."""
    from rnnlm.nn import parallel

    monkeypatch.setattr(parallel, "CACHE_ELEMENTS", 64)  # a few rows per chunk
    rng = np.random.default_rng(3)
    N, T, H, V = (8, 9, 4, 2_000) if big else (3, 5, 4, 11)
    if big:
        monkeypatch.setattr(parallel, "MIN_ELEMENTS", 1)
        monkeypatch.setattr(parallel, "_pool", None)
        monkeypatch.setenv("RNNLM_THREADS", "2")
    W = rng.standard_normal((H, V)).astype(np.float32)
    b = rng.standard_normal(V).astype(np.float32)  # nonzero: a rescore must add it back
    xs = rng.standard_normal((N, T, H)).astype(np.float32)
    xs[0, 1] *= 60  # scores of tens: exp overflows float32
    xs[N - 1, T - 2] *= 40  # another, in the last row block
    under = [(1, 3), (N - 1, 0)]  # rows whose scores are all ~ -100
    ts = rng.integers(0, V, (N, T))
    if fused:  # an extra input unit whose weights are -100 everywhere, on for the `under` rows
        W = np.vstack([W, np.full((1, V), -100.0, np.float32)])
        xs = np.concatenate([xs, np.zeros((N, T, 1), np.float32)], axis=2)
        for n, t in under:
            xs[n, t] = 0
            xs[n, t, H] = 1.0
        scores = (xs.astype(np.float64) @ W).reshape(N * T, V) + b
        # (big: W and b joined, so rows to redo are rescored through the joined product's path)
        layer, args = TimeSoftmaxHead(*(with_bias_row(W, b) if big else (W, b))), (xs, ts)
    else:
        scores = (xs.astype(np.float64) @ W).reshape(N * T, V) + b
        for n, t in under:
            scores[n * T + t] -= 100 + scores[n * T + t].max()
        layer, args = TimeSoftmaxWithLoss(), (scores.reshape(N, T, V).astype(np.float32), ts)
    assert (scores.max(1) > 88).sum() >= 1 and (scores.max(1) < -46).sum() == 2
    loss = layer.forward(*args)
    shift = scores.max(1, keepdims=True)
    logp = scores - shift - np.log(np.exp(scores - shift).sum(1, keepdims=True))
    nll = -logp[np.arange(N * T), ts.reshape(-1)]
    assert np.isfinite(nll).all()
    np.testing.assert_allclose(layer.token_nll.reshape(-1), nll, rtol=1e-5, atol=1e-4)
    assert loss == pytest.approx(nll.mean(), rel=1e-5)
    d = layer.backward()
    p = np.exp(logp)
    p[np.arange(N * T), ts.reshape(-1)] -= 1
    p /= N * T
    if fused:
        np.testing.assert_allclose(d.reshape(N * T, -1), p @ W.T, rtol=1e-4, atol=1e-5)
    else:
        np.testing.assert_allclose(d.reshape(N * T, V), p, rtol=1e-4, atol=1e-6)


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


def _two_windows(cls, gates: int, extra: int, T: int = 7) -> list[np.ndarray]:
    """Outputs, input gradients, parameter gradients and carried state of two stateful
    windows of a float32 cell big enough for BLAS's blocked kernels."""
    rng = np.random.default_rng(3)
    N, D, H = 9, 24, 40
    params = [rng.standard_normal(s).astype(np.float32) * 0.2
              for s in [(D, gates * H), (H, gates * H), (gates * H,)] + [(H,)] * extra]  # fmt: skip
    layer = cls(*params, stateful=True)
    out = []
    for _ in range(2):
        xs = rng.standard_normal((N, T, D)).astype(np.float32)
        out.append(layer.forward(xs).copy())
        out.append(layer.backward(rng.standard_normal((N, T, H)).astype(np.float32)).copy())
        out += [g.copy() for g in layer.grads] + [layer.state.copy(), layer.dh.copy()]
    out.append(np.array([layer._products.forward_transposed, layer._products.backward_transposed]))
    return out


CELLS = [(TimeRNN, 1, 0), (TimeLSTM, 4, 0), (TimeGRU, 3, 1)]


@pytest.mark.parametrize(("cls", "gates", "extra"), CELLS)
def test_transposed_recurrent_products_equal_plain(monkeypatch, request, cls, gates, extra):
    from rnnlm.nn.cells import recurrent

    monkeypatch.setattr(recurrent, "blas_threads", lambda: 1)
    plain = _two_windows(cls, gates, extra)
    assert not plain[-1].any()
    request.getfixturevalue("transposed_products")  # several threads, any size
    transposed = _two_windows(cls, gates, extra)
    assert transposed[-1].all()
    for a, b in zip(plain[:-1], transposed[:-1], strict=True):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=1e-5)  # values up to ~10
    # short windows (as in dynamic evaluation): forward plain, backward transposed
    monkeypatch.setattr(recurrent, "TRANSPOSE_MIN_STEPS", 16)
    mixed = _two_windows(cls, gates, extra)
    assert mixed[-1].tolist() == [False, True]
    for a, b in zip(plain[:-1], mixed[:-1], strict=True):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=1e-5)  # values up to ~10


def test_one_stream_keeps_the_plain_layout(transposed_products, monkeypatch):
    from rnnlm.nn.cells import recurrent

    monkeypatch.setattr(recurrent, "TRANSPOSE_MIN_ROWS", 8)
    rng = np.random.default_rng(0)
    layer = TimeLSTM(
        *(rng.standard_normal(s).astype(np.float32) for s in [(4, 16), (4, 16), (16,)])
    )
    layer.forward(rng.standard_normal((1, 20, 4)).astype(np.float32))
    assert not layer._products.forward_transposed and not layer._products.backward_transposed


def test_models_built_from_one_params_dict_share_every_array():
    """The model joins an untied output layer's W and b into one array in the dict it is given,
    once: a second model built from that dict (the API loads one checkpoint into several) uses
    the same arrays, and a step of the first moves the arrays its head and the dict hold."""
    from dataclasses import replace

    from rnnlm.config import ModelConfig
    from rnnlm.nn.model import RNNLM

    cfg = ModelConfig(vocab_size=50, embed_dim=8, hidden=8)
    a = RNNLM(cfg, np.random.default_rng(0))
    out_W = a.params["out.W"]
    b = RNNLM(replace(cfg, weight_drop=0.5), np.random.default_rng(1), params=a.params)
    assert a.params["out.W"] is out_W and a.head.params[0] is out_W
    assert b.head.params[0] is out_W and b.head._Wb is a.head._Wb is not None
    rng = np.random.default_rng(2)
    xs, ts = rng.integers(0, 50, (2, 2, 5))
    a.forward(xs, ts)
    a.backward()
    before = out_W.copy()
    OPTIMIZERS["sgd"](1.0).step(a.params, a.grads)
    assert not np.array_equal(out_W, before)
    np.testing.assert_array_equal(a.head._Wb[:-1], out_W)  # the product's operand moved too
