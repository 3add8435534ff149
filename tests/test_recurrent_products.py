"""TimeRNN's transposed (multi-thread) loop products equal the plain ones (TimeLSTM's and
TimeGRU's loops always put Wh on the left: rnnlm/nn/cells/loop_layout.py)."""

import numpy as np

from rnnlm.nn import TimeRNN


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


def test_transposed_recurrent_products_equal_plain(monkeypatch, request):
    from rnnlm.nn.cells import recurrent

    cls, gates, extra = TimeRNN, 1, 0
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
    layer = TimeRNN(*(rng.standard_normal(s).astype(np.float32) for s in [(4, 4), (4, 4), (4,)]))
    layer.forward(rng.standard_normal((1, 20, 4)).astype(np.float32))
    assert not layer._products.forward_transposed and not layer._products.backward_transposed
