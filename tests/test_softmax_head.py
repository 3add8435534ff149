"""The fused full-softmax output layer equals the plain pair it replaces, on every path, and
leaves its forward's cache as it found it."""

import numpy as np
import pytest

from rnnlm.nn import TimeSoftmaxHead
from rnnlm.nn.heads.full_softmax import with_bias_row
from rnnlm.training.optimizers import OPTIMIZERS
from tests.reference_layers import TimeAffine, TimeSoftmaxWithLoss


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


@pytest.mark.parametrize("layout", ["apart", "joined", "tied"])
def test_softmax_head_backward_leaves_the_forward_cache_alone(layout):
    """The layer contract (rnnlm/nn/__init__.py): backward changes none of what forward cached
    (it subtracts s at the targets in place, then puts those entries back), so the loss's
    cached exponentials, sums and inputs are the same after it and a second call agrees bit for
    bit with the first."""
    rng = np.random.default_rng(5)
    N, T, H, V = 3, 4, 6, 50
    W = rng.standard_normal((V, H) if layout == "tied" else (H, V)).astype(np.float32)
    b = rng.standard_normal(V).astype(np.float32)
    W_out = W.T if layout == "tied" else W
    if layout == "joined":
        W_out, b = with_bias_row(W_out, b)
    head = TimeSoftmaxHead(W_out, b)
    xs = rng.standard_normal((N, T, H)).astype(np.float32)
    ts = rng.integers(0, V, (N, T))
    ts[0, :2] = ts[1, :2] = 7  # repeated targets
    head.forward(xs, ts)
    cache = [a.copy() for a in (head._e, head._sums, head._ts, head._x2)]
    first = [head.backward().copy(), *(g.copy() for g in head.grads)]
    for before, after in zip(cache, (head._e, head._sums, head._ts, head._x2), strict=True):
        np.testing.assert_array_equal(after, before)
    second = [head.backward(), *head.grads]
    for a, b_ in zip(first, second, strict=True):
        np.testing.assert_array_equal(b_, a)
