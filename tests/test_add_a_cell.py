"""The recipe of docs/architecture.md ("Adding a cell"), followed to the letter: one class and one
registry entry make a cell the model builds, gradient-checks and trains like the built-in ones."""

import dataclasses

import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.nn.cells import CELLS, Cell
from rnnlm.nn.gradcheck import numerical_grad, rel_error
from rnnlm.nn.model import RNNLM, param_shapes
from rnnlm.nn.weight_drop import WeightDrop
from rnnlm.training import checkpoint
from tests.helpers import toy_trainer


class TimeCarryRNN(Cell):
    """An Elman RNN that also carries ``g`` times its last state: ``h_t = g * h_{t-1} +
    tanh(x_t Wx + h_{t-1} Wh + b)``, with a per-unit gain ``g`` (H,). Plain loops: a toy."""

    gates = 1
    extra_params = ("g",)
    biases = ("b",)

    def __init__(
        self,
        Wx: np.ndarray,
        Wh: np.ndarray,
        b: np.ndarray,
        g: np.ndarray,
        stateful: bool = False,
        weight_drop: WeightDrop | None = None,
    ) -> None:
        super().__init__(Wx, Wh, b, g, stateful=stateful, weight_drop=weight_drop)
        self._cache: tuple | None = None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs: (N, T, D) -> hs (N, T, H), in xs' dtype."""
        Wx, Wh, b, g = self.params
        Wh = self.weight_drop.forward(Wh)
        N, T, _ = xs.shape
        H = Wh.shape[0]
        fresh = not (self.stateful and self.h is not None and self.h.shape == (N, H))
        h0 = np.zeros((N, H), xs.dtype) if fresh else self.h.astype(xs.dtype)
        hs, acts, h = np.empty((N, T, H), xs.dtype), np.empty((N, T, H), xs.dtype), h0
        for t in range(T):
            acts[:, t] = np.tanh(xs[:, t] @ Wx + h @ Wh + b)
            h = hs[:, t] = g * h + acts[:, t]
        self._cache = (xs, h0, hs, acts, Wh)
        self.h = h.copy()
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        """dhs: (N, T, H) -> dxs (N, T, D); writes dWx, dWh, db, dg."""
        Wx, _, _, g = self.params
        dWx, dWh, db, dg = self.grads
        xs, h0, hs, acts, Wh = self._cache
        for grad in self.grads:
            grad.fill(0)
        dxs, dh = np.empty_like(xs), np.zeros_like(h0)
        for t in reversed(range(xs.shape[1])):
            h_prev = hs[:, t - 1] if t > 0 else h0
            dht = dhs[:, t] + dh
            dz = dht * (1 - acts[:, t] ** 2)
            dg += np.sum(dht * h_prev, axis=0)
            dWx += xs[:, t].T @ dz
            dWh += h_prev.T @ dz
            db += dz.sum(axis=0)
            dxs[:, t] = dz @ Wx.T
            dh = dht * g + dz @ Wh.T
        self.weight_drop.backward(dWh)
        self.dh = dh
        return dxs


@pytest.fixture
def toy_cell(monkeypatch: pytest.MonkeyPatch) -> str:
    """The recipe's one registry line, for this test only."""
    monkeypatch.setitem(CELLS, "carry", TimeCarryRNN)
    return "carry"


def test_the_model_asks_the_new_cell_for_its_parameters(toy_cell):
    cfg = ModelConfig(vocab_size=7, embed_dim=4, hidden=5, cell=toy_cell, layers=2)
    shapes = param_shapes(cfg)
    assert shapes["carry.0.Wx"] == (4, 5) and shapes["carry.1.Wx"] == (5, 5)
    assert shapes["carry.1.g"] == (5,)
    model = RNNLM(cfg, np.random.default_rng(0))
    assert set(model.grads) == set(model.params) == set(shapes)
    assert not model.params["carry.0.b"].any() and model.params["carry.0.g"].any()


@pytest.mark.parametrize("kw", [{}, {"layers": 2, "tie_weights": True, "embed_dim": 5},
                                {"weight_drop": 0.4, "softmax": "class",
                                 "class_bounds": (0, 2, 3, 7)}])  # fmt: skip
def test_whole_model_with_the_new_cell_gradient_checks(toy_cell, kw):
    """float64, over a second window that starts from the state the first one carried."""
    cfg = ModelConfig(**{"vocab_size": 7, "embed_dim": 4, "hidden": 5, "dropout": 0.0,
                         "init_scale": 0.5, "cell": toy_cell, **kw})  # fmt: skip
    rng = np.random.default_rng(1)
    model = RNNLM(cfg, rng, dtype=np.float64)
    x1, t1, x2, t2 = (rng.integers(0, 7, (3, 4)) for _ in range(4))
    model.forward(x1, t1)
    carried = model.get_state()
    for drop in model.weight_drops:
        drop.reuse_mask = True

    def f() -> float:
        model.set_state(carried)
        return model.forward(x2, t2)

    f()
    model.backward()
    for name, p in model.params.items():
        assert rel_error(numerical_grad(f, p), model.grads[name]) < 1e-6, name


def test_the_new_cell_trains_and_resumes_through_trainer(toy_cell, tmp_path):
    """Two epochs and a few steps through ``Trainer`` (the loss falls); the checkpoint, with the
    state carried mid-epoch in the cell's ``state_shape``, loads and resumes exactly."""
    trainer = toy_trainer(epochs=3, cell=toy_cell, lr=0.3, clip=1.0)
    trainer.cfg = dataclasses.replace(trainer.cfg, max_steps=2 * trainer.windows_per_epoch + 5)
    assert trainer.model.cfg.cell == toy_cell
    losses = []
    trainer.on_epoch = losses.append
    trainer.fit()
    assert losses[1].train_loss < losses[0].train_loss
    path = tmp_path / "last.npz"
    checkpoint.save(path, trainer.checkpoint())
    ckpt = checkpoint.load(path)
    assert ckpt.model.cell == toy_cell
    assert [h.shape for h in ckpt.state] == [TimeCarryRNN.state_shape(4, 8)]  # N = 4, H = 8
    again = toy_trainer(epochs=3, cell=toy_cell, lr=0.3, clip=1.0)
    again.restore(ckpt)
    assert again.state.step == trainer.state.step
    for name, p in trainer.model.params.items():
        np.testing.assert_array_equal(again.model.params[name], p)
    np.testing.assert_array_equal(again.model.get_state()[0], trainer.model.get_state()[0])
    T = again.cfg.bptt
    loss, norm = again.step(again.inputs[:, :T], again.targets[:, :T])
    assert np.isfinite(loss) and np.isfinite(norm)
