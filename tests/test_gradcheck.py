"""Every layer and the whole model against central differences, in float64."""

import warnings

import numpy as np
import pytest

from rnnlm.nn import (
    TimeDropout,
    TimeEmbedding,
    TimeGRU,
    TimeLSTM,
    TimeRNN,
    TimeSoftmaxHead,
    WeightDrop,
    parallel,
)
from rnnlm.nn.cells.loop_layout import copy_weights
from rnnlm.nn.gradcheck import numerical_grad, rel_error
from rnnlm.nn.heads.full_softmax import with_bias_row
from tests.reference_layers import PlainGRU, PlainLSTM, TimeAffine, TimeSoftmaxWithLoss

TOL = 1e-6


def check_layer(layer, x, dout_seed=0, **fwd):
    """Loss = sum(forward(x) * R) for a fixed random R; compare every gradient."""
    y = layer.forward(x, **fwd)
    R = np.random.default_rng(dout_seed).standard_normal(y.shape)

    def f():
        return float(np.sum(layer.forward(x, **fwd) * R))

    f()
    dx = layer.backward(R)
    for p, g in zip(layer.params, layer.grads, strict=True):
        assert rel_error(numerical_grad(f, p), g) < TOL
    if dx is not None:
        assert rel_error(numerical_grad(f, x), dx) < TOL
    return dx


def test_embedding_with_repeated_ids():
    rng = np.random.default_rng(0)
    layer = TimeEmbedding(rng.standard_normal((6, 4)))
    ids = np.array([[1, 1, 2], [5, 1, 0]])  # id 1 three times: gradients must add up
    check_layer(layer, ids)
    assert layer.forward(ids).dtype == np.float64


def test_affine():
    rng = np.random.default_rng(1)
    layer = TimeAffine(rng.standard_normal((4, 7)), rng.standard_normal(7))
    check_layer(layer, rng.standard_normal((3, 5, 4)))


@pytest.mark.parametrize("stateful", [False, True])
def test_rnn(stateful):
    rng = np.random.default_rng(2)
    D, H = 3, 4
    layer = TimeRNN(
        rng.standard_normal((D, H)) * 0.5,
        rng.standard_normal((H, H)) * 0.5,
        rng.standard_normal(H),
        stateful=stateful,
    )
    h0 = rng.standard_normal((2, H))
    xs = rng.standard_normal((2, 5, D))
    if stateful:
        layer.set_state(h0)
        # forward() overwrites the carried state: restore it before every evaluation
        orig = layer.forward
        layer.forward = lambda x: (layer.set_state(h0), orig(x))[1]
    check_layer(layer, xs)
    if stateful:
        R = np.random.default_rng(0).standard_normal((2, 5, H))

        def f():
            layer.set_state(h0)
            return float(np.sum(orig(xs) * R))

        f()
        layer.backward(R)
        # gradient of the carried-in state: not used by training (truncation), but must be right
        assert rel_error(numerical_grad(f, h0), layer.dh) < TOL


def _gated(cls, gates, extra=0, seed=6, weight_drop=None):
    rng = np.random.default_rng(seed)
    D, H = 3, 4
    params = [
        rng.standard_normal((D, gates * H)) * 0.5,
        rng.standard_normal((H, gates * H)) * 0.5,
        rng.standard_normal(gates * H),
    ]
    params += [rng.standard_normal(H) for _ in range(extra)]
    return cls(*params, stateful=True, weight_drop=weight_drop), rng


def _check_from_state(layer, state, xs, R):
    """Every parameter's and the input's gradient of sum(forward(xs) * R), each forward
    starting from the carried ``state``; returns that loss function."""

    def f():
        layer.set_state(state)
        return float(np.sum(layer.forward(xs) * R))

    f()
    dxs = layer.backward(R)
    for p, g in zip(layer.params, layer.grads, strict=True):
        assert rel_error(numerical_grad(f, p), g) < TOL
    assert rel_error(numerical_grad(f, xs), dxs) < TOL
    return f


@pytest.mark.parametrize("cls, gates, extra", [(TimeLSTM, 4, 0), (TimeGRU, 3, 1)])
def test_gated_cells(cls, gates, extra):
    layer, rng = _gated(cls, gates, extra)
    xs = rng.standard_normal((2, 5, 3))
    layer.forward(rng.standard_normal((2, 3, 3)))  # leaves a non-zero carried state
    state = layer.state
    f = _check_from_state(layer, state, xs, rng.standard_normal((2, 5, 4)))
    if cls is TimeLSTM:
        np.testing.assert_allclose(
            numerical_grad(f, state), np.stack([layer.dh, layer.dc]), rtol=1e-5, atol=1e-8
        )
    else:
        assert rel_error(numerical_grad(f, state), layer.dh) < TOL


@pytest.mark.parametrize("cls, gates, extra", [(TimeRNN, 1, 0), (TimeLSTM, 4, 0), (TimeGRU, 3, 1)])
def test_cells_with_weight_drop_fixed_mask(cls, gates, extra):
    layer, rng = _gated(
        cls, gates, extra, seed=11, weight_drop=WeightDrop(0.4, np.random.default_rng(5))
    )
    layer.forward(rng.standard_normal((2, 3, 3)))  # a carried state and a mask
    layer.weight_drop.reuse_mask = True
    keep = layer.weight_drop.weights != 0
    assert 0 < keep.mean() < 1  # some weights dropped, some kept
    state = layer.state
    xs, R = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
    _check_from_state(layer, state, xs, R)
    assert np.all(layer.grads[1][~keep] == 0)  # a dropped weight gets no gradient


def test_rnn_with_transposed_recurrent_products(transposed_products):
    """The layout TimeRNN takes with several BLAS threads (rnnlm/nn/cells/recurrent.py; the LSTM
    and the GRU have their own, always)."""
    layer, rng = _gated(TimeRNN, 1, 0, seed=12)
    layer.forward(rng.standard_normal((2, 3, 3)))
    assert layer._products.forward_transposed and layer._products.backward_transposed
    state = layer.state
    xs, R = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 4))
    f = _check_from_state(layer, state, xs, R)
    assert rel_error(numerical_grad(f, state), layer.dh) < TOL


def test_weight_drop_masks_and_evaluation():
    W = np.random.default_rng(0).standard_normal((40, 50))
    wd = WeightDrop(0.3, np.random.default_rng(1))
    a = wd.forward(W).copy()
    b = wd.forward(W).copy()
    assert not np.array_equal(a == 0, b == 0)  # a new mask per forward (window)
    assert abs((a == 0).mean() - 0.3) < 0.05
    np.testing.assert_allclose(a[a != 0], W[a != 0] / 0.7)  # kept weights scaled by 1/(1-p)
    wd.train = False
    assert wd.forward(W) is W  # evaluation: the weights themselves
    dW = np.ones_like(W)
    wd.backward(dW)
    assert np.all(dW == 1)
    with pytest.raises(ValueError):
        WeightDrop(1.0, np.random.default_rng(0))


def test_rnn_float32_stays_float32():
    rng = np.random.default_rng(3)
    layer = TimeRNN(
        *(a.astype(np.float32) for a in (rng.random((3, 4)), rng.random((4, 4)), rng.random(4)))
    )
    assert layer.forward(rng.random((2, 5, 3)).astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize(("cls", "gates"), [(TimeRNN, 1), (TimeLSTM, 4), (TimeGRU, 3)])
def test_activations_follow_the_input_dtype_not_the_weights(cls, gates):
    """float32 weights, float64 input: the recurrence runs in float64 (as with float64 weights
    holding the same values), not rounded to the weights' float32 on the way."""
    rng = np.random.default_rng(4)
    D, H = 3, 5
    shapes = [(D, gates * H), (H, gates * H), (gates * H,)] + ([(H,)] if cls is TimeGRU else [])
    w32 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    xs, dhs = rng.standard_normal((2, 6, D)), rng.standard_normal((2, 6, H))
    mixed, wide = cls(*w32), cls(*(w.astype(np.float64) for w in w32))
    out = mixed.forward(xs)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, wide.forward(xs), rtol=1e-13, atol=1e-13)
    dxs = mixed.backward(dhs)
    assert dxs.dtype == np.float64
    np.testing.assert_allclose(dxs, wide.backward(dhs), rtol=1e-12, atol=1e-12)


def test_dropout_with_fixed_mask():
    rng = np.random.default_rng(4)
    layer = TimeDropout(0.4, rng)
    x = rng.standard_normal((3, 4, 5))
    layer.forward(x)
    layer.reuse_mask = True
    check_layer(layer, x)
    kept = layer.forward(x) != 0
    assert 0.3 < 1 - kept.mean() < 0.5
    np.testing.assert_allclose(layer.forward(x)[kept], x[kept] / 0.6)


def test_softmax_with_loss():
    rng = np.random.default_rng(5)
    layer = TimeSoftmaxWithLoss()
    scores = rng.standard_normal((2, 3, 6)) * 3
    ts = np.array([[0, 5, 5], [2, 1, 0]])

    def f():
        return layer.forward(scores, ts)

    loss = f()
    ds = layer.backward()
    assert rel_error(numerical_grad(f, scores), ds) < TOL
    # against a direct computation
    logp = scores - np.log(np.exp(scores).sum(-1, keepdims=True))
    ref = -np.take_along_axis(logp, ts[..., None], -1).mean()
    assert abs(loss - ref) < 1e-12


def test_softmax_is_stable_for_huge_scores():
    layer = TimeSoftmaxWithLoss()
    scores = np.array([[[1000.0, 0.0, -1000.0]]], dtype=np.float32)
    assert np.isfinite(layer.forward(scores, np.array([[2]])))
    assert np.isfinite(layer.backward()).all()


@pytest.mark.parametrize("joined", [False, True])  # W and b apart, or one array (with_bias_row)
@pytest.mark.parametrize("chunk", [1 << 16, 8])  # 8 scores: one row per cached chunk
def test_softmax_head(monkeypatch, chunk, joined):
    monkeypatch.setattr(parallel, "CACHE_ELEMENTS", chunk)
    rng = np.random.default_rng(6)
    W, b = rng.standard_normal((4, 6)), rng.standard_normal(6)
    layer = TimeSoftmaxHead(*(with_bias_row(W, b) if joined else (W, b)))
    assert (layer._Wb is not None) == joined
    xs = rng.standard_normal((2, 3, 4)) * 2
    ts = np.array([[0, 5, 5], [2, 1, 0]])

    def f():
        return layer.forward(xs, ts)

    f()
    dx = layer.backward()
    assert rel_error(numerical_grad(f, xs), dx) < TOL
    f()
    layer.backward()
    for p, g in zip(layer.params, layer.grads, strict=True):
        assert rel_error(numerical_grad(f, p), g) < TOL


def test_softmax_head_is_stable_for_huge_scores():
    W = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    layer = TimeSoftmaxHead(W, np.zeros(3, np.float32))
    assert np.isfinite(layer.forward(np.ones((1, 1, 1), np.float32), np.array([[2]])))
    assert np.isfinite(layer.backward()).all()


# (N, T, D, H): Wh copied into the loop layout; a short window (as generation's), Wh as it is;
# big enough for BLAS's blocked kernels (test_loop_sizes_take_both_paths holds the first two)
SIZES = [(3, 6, 5, 4), (1, 1, 5, 40), (9, 7, 24, 40)]
LOOP_SIZES = pytest.mark.parametrize("N, T, D, H", SIZES)


@pytest.mark.parametrize("cls, extra_calls", [(TimeLSTM, 2), (TimeGRU, 0)])
def test_loop_sizes_take_both_paths(cls, extra_calls):
    """The bit-for-bit tests below reach both ways a window multiplies by Wh^T."""
    copies = [copy_weights(N, T, D, H, cls.gates * H, extra_calls) for N, T, D, H in SIZES]
    assert copies[:2] == [True, False]


def _same_bits_as_plain(layer, plain, xs, dhs, *state) -> list:
    """Forward, input gradient and parameter gradients of ``layer`` equal ``plain``'s bit for
    bit, from the initial ``state``; returns the plain gradients of that state."""
    np.testing.assert_array_equal(layer.forward(xs), plain.forward(xs, *state))
    dxs, *rest = plain.backward(dhs)
    np.testing.assert_array_equal(layer.backward(dhs), dxs)
    for got, want in zip(layer.grads, rest[: len(layer.grads)], strict=True):
        np.testing.assert_array_equal(got, want)
    return rest[len(layer.grads) :]


@pytest.mark.parametrize("carried", [False, True])
@LOOP_SIZES
def test_lstm_equals_the_plain_step_by_step_lstm_bit_for_bit(carried, N, T, D, H):
    """TimeLSTM's rearranged loop (feature-major, gates reordered, sigmoid pre-activations
    negated) changes no rounding: in float64 it gives the plain LSTM's bits, forward and
    backward."""
    rng = np.random.default_rng(7)
    Wx, Wh = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H))
    b = rng.standard_normal(4 * H)
    xs, dhs = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    layer = TimeLSTM(Wx, Wh, b, stateful=True)
    h0 = c0 = np.zeros((N, H))
    if carried:
        h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
        layer.set_state(np.stack([h0, c0]))
    dh0, dc0 = _same_bits_as_plain(layer, PlainLSTM(Wx, Wh, b), xs, dhs, h0, c0)
    np.testing.assert_array_equal(layer.dh, dh0)
    np.testing.assert_array_equal(layer.dc, dc0)


@pytest.mark.parametrize("carried", [False, True])
@LOOP_SIZES
def test_gru_equals_the_plain_step_by_step_gru_bit_for_bit(carried, N, T, D, H):
    """TimeGRU's loop (feature-major, r's and z's pre-activations negated) changes no rounding:
    in float64 it gives the plain GRU's bits, forward and backward."""
    rng = np.random.default_rng(8)
    Wx, Wh = rng.standard_normal((D, 3 * H)), rng.standard_normal((H, 3 * H))
    b, bhn = rng.standard_normal(3 * H), rng.standard_normal(H)
    xs, dhs = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    layer = TimeGRU(Wx, Wh, b, bhn, stateful=True)
    h0 = np.zeros((N, H))
    if carried:
        h0 = rng.standard_normal((N, H))
        layer.set_state(h0)
    (dh0,) = _same_bits_as_plain(layer, PlainGRU(Wx, Wh, b, bhn), xs, dhs, h0)
    np.testing.assert_array_equal(layer.dh, dh0)


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
@pytest.mark.parametrize("N", [1, 3])  # (one stream: the loop's (H, 1) arrays are contiguous
def test_carried_state_and_its_gradient_are_not_work_buffers(cls, N):  # either way round)
    """The carried state and the initial state's gradient are the layer's own arrays: the
    next forward and backward leave them as they were."""
    rng = np.random.default_rng(0)
    D, H = 3, 4
    params = _gated(cls, cls.gates, len(cls.extra_params))[0].params
    layer = cls(*[p.astype(np.float32) for p in params], stateful=True)
    layer.forward(rng.standard_normal((N, 2, D)).astype(np.float32))
    layer.backward(rng.standard_normal((N, 2, H)).astype(np.float32))
    kept = [a for a in (layer.h, getattr(layer, "c", None), layer.dh, getattr(layer, "dc", None))
            if a is not None]  # fmt: skip
    copies = [a.copy() for a in kept]
    layer.reset_state()
    layer.forward(rng.standard_normal((N, 2, D)).astype(np.float32))
    layer.backward(rng.standard_normal((N, 2, H)).astype(np.float32))
    for a, b in zip(kept, copies, strict=True):
        np.testing.assert_array_equal(a, b)


def test_lstm_gates_saturate_without_warnings():
    """Pre-activations far beyond float32's exp range (exp(-a) overflows to inf) give gates of
    exactly 0 and 1, and no numpy warning."""
    H = 3
    b = np.concatenate([np.full(H, -1e4), np.full(H, 0.5), np.full(H, 1e4), np.full(H, 1e4)])
    Wx, Wh = np.zeros((2, 4 * H), np.float32), np.zeros((H, 4 * H), np.float32)
    layer = TimeLSTM(Wx, Wh, b.astype(np.float32), stateful=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hs = layer.forward(np.ones((2, 5, 2), np.float32))  # f = 0, i = o = 1, g = tanh(0.5)
        layer.backward(np.ones_like(hs))
    np.testing.assert_allclose(hs, np.tanh(np.tanh(np.float32(0.5))), rtol=1e-6)
    assert all(np.isfinite(g).all() for g in layer.grads)
