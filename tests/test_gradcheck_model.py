"""The whole model against central differences, in float64: every cell and option, the
state carried across windows."""

import dataclasses

import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.nn import (
    TimeClassSoftmax,
    TimeEmbedding,
)
from rnnlm.nn.gradcheck import numerical_grad, rel_error
from rnnlm.nn.model import RNNLM

TOL = 1e-6


def model_and_data(layers=1, dropout=0.0, seed=0, **kw):
    rng = np.random.default_rng(seed)
    kw = {"embed_dim": 4, "hidden": 5, "init_scale": 0.5, **kw}  # gradients well above noise
    cfg = ModelConfig(vocab_size=7, layers=layers, dropout=dropout, **kw)
    model = RNNLM(cfg, rng, dtype=np.float64)
    xs = rng.integers(0, 7, (3, 4))
    xs[0, :3] = 2  # repeated ids
    ts = rng.integers(0, 7, (3, 4))
    return model, xs, ts


MODELS = [
    {"cell": "rnn", "layers": 1},
    {"cell": "rnn", "layers": 2},
    {"cell": "lstm", "layers": 2},
    {"cell": "gru", "layers": 2},
    {"cell": "lstm", "layers": 1, "tie_weights": True, "embed_dim": 5},
    {"cell": "rnn", "layers": 1, "init_scale": 0.3},
    {"cell": "rnn", "layers": 1, "softmax": "class", "class_bounds": (0, 2, 3, 7)},
    {
        "cell": "gru",
        "layers": 1,
        "softmax": "class",
        "class_bounds": (0, 4, 7),
        "tie_weights": True,
        "embed_dim": 5,
    },
]


@pytest.mark.parametrize("kw", MODELS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_whole_model(kw):
    model, xs, ts = model_and_data(**kw)
    # an untied full-softmax output layer is stored as one [W; b] array (bias in the product)
    joined = kw.get("softmax", "full") == "full" and not kw.get("tie_weights")
    assert (getattr(model.head, "_Wb", None) is not None) == joined

    def f():
        model.reset_state()
        return model.forward(xs, ts)

    f()
    model.backward()
    for name, p in model.params.items():
        assert rel_error(numerical_grad(f, p), model.grads[name]) < TOL, name


@pytest.mark.parametrize(
    "kw",
    [
        {"variational_dropout": False},
        {"variational_dropout": True},
        {"cell": "rnn", "weight_drop": 0.4},
        {"cell": "gru", "weight_drop": 0.4, "variational_dropout": True},
    ],
    ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()),
)
def test_whole_model_with_dropout_mask_fixed(kw):
    model, xs, ts = model_and_data(**{"layers": 2, "dropout": 0.3, "cell": "lstm", **kw})
    model.reset_state()
    model.forward(xs, ts)
    for drop in [*model.drops, *model.weight_drops]:
        drop.reuse_mask = True

    def f():
        model.reset_state()
        return model.forward(xs, ts)

    f()
    model.backward()
    for name, p in model.params.items():
        assert rel_error(numerical_grad(f, p), model.grads[name]) < TOL, name


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_state_carried_across_two_windows(cell):
    """Window 2 starts from window 1's final state; its gradient treats that state as given."""
    model, xs, ts = model_and_data(seed=1, cell=cell, layers=2)
    rng = np.random.default_rng(9)
    xs2, ts2 = rng.integers(0, 7, (3, 4)), rng.integers(0, 7, (3, 4))
    model.reset_state()
    model.forward(xs, ts)
    carried = model.get_state()
    assert np.abs(carried[0]).max() > 0.01  # a real, non-zero state crosses the edge

    def f():
        model.set_state(carried)
        return model.forward(xs2, ts2)

    f()
    model.backward()
    for name, p in model.params.items():
        assert rel_error(numerical_grad(f, p), model.grads[name]) < TOL, name
    # and the state matters: from zeros the loss differs
    model.reset_state()
    assert abs(model.forward(xs2, ts2) - f()) > 1e-6


def test_class_softmax_layer():
    rng = np.random.default_rng(7)
    H, C, V = 4, 3, 9
    bounds = np.array([0, 2, 5, 9])
    layer = TimeClassSoftmax(
        rng.standard_normal((H, C)), rng.standard_normal(C), rng.standard_normal((H, V)),
        rng.standard_normal(V), bounds,
    )  # fmt: skip
    hs = rng.standard_normal((2, 5, H))
    ts = np.array([[0, 1, 8, 8, 3], [4, 2, 6, 0, 7]])

    def f():
        return layer.forward(hs, ts)

    loss = f()
    dhs = layer.backward()
    for p, g in zip(layer.params, layer.grads, strict=True):
        assert rel_error(numerical_grad(f, p), g) < TOL
    assert rel_error(numerical_grad(f, hs), dhs) < TOL
    # the factored distribution is normalised over the whole vocabulary, and the training
    # path's loss is exactly -log of it at the targets
    logp = layer.scores(hs)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, rtol=1e-12)
    ref = -np.take_along_axis(logp, ts[..., None], -1).mean()
    assert abs(loss - ref) < 1e-12


def test_model_report_quoted_in_readme():
    from rnnlm.nn.gradcheck import model_report

    rows = model_report()
    assert len(rows) == 6 and all(err < TOL for _, err in rows)


def test_embedding_gradient_whatever_the_weight_layout():
    """A Fortran-ordered W (e.g. built by hand) still gets its gradient (C-ordered)."""
    W = np.asfortranarray(np.random.default_rng(0).standard_normal((50, 4)))
    layer = TimeEmbedding(W)
    ids = np.array([[1, 1, 7], [49, 0, 1]])
    layer.forward(ids)
    layer.backward(np.ones((2, 3, 4)))
    expected = np.zeros((50, 4))
    np.add.at(expected, ids.reshape(-1), 1.0)
    np.testing.assert_array_equal(layer.grads[0], expected)


def test_weight_drop_is_off_at_evaluation():
    """``model.train(False)`` (eval, generate) uses the full recurrent matrices."""
    plain, xs, ts = model_and_data(cell="lstm", layers=2)
    cfg = dataclasses.replace(plain.cfg, weight_drop=0.5)
    dropped = RNNLM(cfg, np.random.default_rng(3), np.float64, params=plain.params)
    for model in (plain, dropped):
        model.reset_state()
    assert abs(plain.forward(xs, ts) - dropped.forward(xs, ts)) > 1e-6  # training: dropped
    dropped.train(False)
    for model in (plain, dropped):
        model.reset_state()
    assert plain.forward(xs, ts) == dropped.forward(xs, ts)
