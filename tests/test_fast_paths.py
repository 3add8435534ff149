"""The fused and parallel fast paths equal the plain layers they replace (float tolerance)."""

import numpy as np
import pytest

from rnnlm.layers import TimeAffine, TimeSoftmaxHead, TimeSoftmaxWithLoss
from rnnlm.optim import OPTIMIZERS, clip_scale


@pytest.mark.parametrize(("dtype", "V", "tied"), [(np.float32, 10_000, False),
                                                  (np.float64, 37, False),
                                                  (np.float32, 3_000, True)])  # fmt: skip
def test_softmax_head_equals_affine_then_softmax(dtype, V, tied):
    """Big enough for several cached chunks per row block and the parallel split."""
    rng = np.random.default_rng(0)
    N, T, H = 4, 9, 16
    W = rng.standard_normal((V, H) if tied else (H, V)).astype(dtype)
    W_out = W.T if tied else W  # tied weights hand the head a transposed view
    b = rng.standard_normal(V).astype(dtype)
    xs = rng.standard_normal((N, T, H)).astype(dtype)
    ts = rng.integers(0, V, (N, T))
    affine, loss = TimeAffine(W_out.copy(), b.copy()), TimeSoftmaxWithLoss()
    head = TimeSoftmaxHead(W_out, b)

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
