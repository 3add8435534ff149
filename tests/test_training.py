"""Training behaviour: sane start, learning, determinism, exact resume."""

import dataclasses
import itertools
import math

import numpy as np
import pytest

from rnnlm.config import ModelConfig
from rnnlm.eval.perplexity import EvalResult
from rnnlm.nn.model import RNNLM
from rnnlm.training import checkpoint
from rnnlm.training.optimizers import SGD, clip_grads
from rnnlm.training.run_folder import RunDir
from tests.helpers import toy_trainer


def test_initial_loss_is_about_log_v():
    V = 500
    rng = np.random.default_rng(0)
    model = RNNLM(ModelConfig(vocab_size=V, embed_dim=16, hidden=16, dropout=0.0), rng)
    xs, ts = rng.integers(0, V, (8, 10)), rng.integers(0, V, (8, 10))
    assert model.forward(xs, ts) == pytest.approx(math.log(V), rel=0.02)


def test_overfits_one_batch():
    V = 30
    rng = np.random.default_rng(1)
    model = RNNLM(ModelConfig(vocab_size=V, embed_dim=16, hidden=32, dropout=0.0), rng)
    xs, ts = rng.integers(0, V, (4, 8)), rng.integers(0, V, (4, 8))
    opt = SGD(1.0)
    first = None
    for _ in range(300):
        model.reset_state()
        loss = model.forward(xs, ts)
        first = first if first is not None else loss
        model.backward()
        clip_grads(model.grads, 5.0)
        opt.step(model.params, model.grads)
    assert first > 3.0 and loss < 0.05


def test_clip_scales_to_max_norm():
    grads = {"a": np.full(4, 3.0), "b": np.full(1, 4.0)}
    norm = clip_grads(grads, 1.0)
    assert norm == pytest.approx(math.sqrt(36 + 16))
    assert math.sqrt(sum((g**2).sum() for g in grads.values())) == pytest.approx(1.0, rel=1e-5)


def test_training_lowers_validation_perplexity():
    # Adam at a sane rate: the helper's lr 1 (for tests of the machinery) makes the outcome
    # depend on float rounding, epoch to epoch
    trainer = toy_trainer(lr=0.02)
    reports = []
    trainer.on_epoch = reports.append
    trainer.fit()
    assert reports[-1].valid_ppl < reports[0].valid_ppl < 12
    assert reports[-1].valid_ppl < 4


def test_same_seed_same_training():
    a, b = toy_trainer(seed=3), toy_trainer(seed=3)
    a.fit()
    b.fit()
    for name in a.model.params:
        np.testing.assert_array_equal(a.model.params[name], b.model.params[name])
    c = toy_trainer(seed=4)
    c.fit()
    assert not np.array_equal(a.model.params["out.W"], c.model.params["out.W"])


def _lrs_for(monkeypatch, valid_ppls, **train_kw):
    """The lr each epoch used when validation gives ``valid_ppls`` in turn."""
    _fake_validation(monkeypatch, valid_ppls)
    trainer = toy_trainer(epochs=len(valid_ppls), lr=1.0, **train_kw)
    reports = []
    trainer.on_epoch = reports.append
    trainer.fit()
    return [r.lr for r in reports]


def test_lr_divided_when_validation_stops_improving(monkeypatch):
    """Divided after an epoch that does not beat the best so far (not merely the previous)."""
    ppls = [50, 40, 41, 39, 39.5, 39.2, 38]
    lrs = _lrs_for(monkeypatch, ppls, lr_decay=4.0)
    assert lrs == pytest.approx([1, 1, 1, 0.25, 0.25, 1 / 16, 1 / 64])


def test_fixed_decay_after_an_epoch_ignores_validation(monkeypatch):
    """Zaremba's schedule: lr stays for ``decay_after`` epochs, then is divided every epoch."""
    lrs = _lrs_for(monkeypatch, [50, 60, 70, 40, 30, 35], lr_decay=2.0, decay_after=2)
    assert lrs == pytest.approx([1, 1, 0.5, 0.25, 0.125, 0.0625])


def _fake_validation(monkeypatch, valid_ppls):
    scores = iter(valid_ppls)
    monkeypatch.setattr(
        "rnnlm.training.loop.evaluate",
        lambda *a, **k: EvalResult(nll=math.log(next(scores)) * 100, tokens=100),
    )


@pytest.mark.parametrize(("patience", "epochs_run"), [(2, 4), (3, 8), (0, 10)])
def test_patience_stops_after_epochs_without_a_better_validation(monkeypatch, patience, epochs_run):
    _fake_validation(monkeypatch, [50, 40, 41, 42, 39, 45, 46, 47, 48, 49])
    trainer = toy_trainer(epochs=10, patience=patience)
    reports = []
    trainer.on_epoch = reports.append
    state = trainer.fit()
    assert len(reports) == state.epoch == epochs_run
    assert trainer.stopped_early == (epochs_run < 10) and state.finished


def test_patience_counts_across_a_resume(tmp_path, monkeypatch):
    """The count of epochs without improvement is part of the checkpoint."""
    _fake_validation(monkeypatch, [50, 51, 52, 53, 54, 55])
    first = toy_trainer(run=RunDir(tmp_path / "r"), epochs=10, patience=3)
    first.cfg = dataclasses.replace(first.cfg, max_steps=2 * first.windows_per_epoch)
    first.fit()
    assert first.state.epoch == 2 and first.state.stale_epochs == 1
    second = toy_trainer(run=RunDir(tmp_path / "r", resume=True), epochs=10, patience=3)
    second.restore(checkpoint.load(tmp_path / "r" / "last.npz"))
    state = second.fit()
    assert state.epoch == 4 and second.stopped_early  # epochs 2, 3, 4 did not beat epoch 1


def test_patience_ignores_a_mid_epoch_validation(tmp_path, monkeypatch):
    """A --max-steps stop validates mid-epoch; a better score there must not make the next
    epoch's end count as stale (only epoch ends count, as for the lr schedule)."""
    _fake_validation(monkeypatch, [50, 45, 44])
    whole = toy_trainer(epochs=3, patience=1)
    assert whole.fit().epoch == 3 and not whole.stopped_early
    _fake_validation(monkeypatch, [50, 40, 45, 44])  # 40: the mid-epoch validation
    first = toy_trainer(run=RunDir(tmp_path / "r"), epochs=3, patience=1)
    first.cfg = dataclasses.replace(first.cfg, max_steps=first.windows_per_epoch + 7)
    first.fit()
    second = toy_trainer(run=RunDir(tmp_path / "r", resume=True), epochs=3, patience=1)
    second.restore(checkpoint.load(tmp_path / "r" / "last.npz"))
    assert second.fit().epoch == 3 and not second.stopped_early


def test_lr_divided_on_a_real_plateau():
    trainer = toy_trainer(epochs=6, lr=3.0)
    reports = []
    trainer.on_epoch = reports.append
    trainer.fit()
    assert not all(r.improved for r in reports[:-1])  # this toy run does plateau ...
    for prev, cur in itertools.pairwise(reports):
        expected = prev.lr if prev.improved else prev.lr / 4.0
        assert cur.lr == pytest.approx(expected)  # ... and the lr follows


@pytest.mark.parametrize("clip", [0.0, 0.5])
def test_time_sum_loss_is_the_mean_times_t(clip):
    """--loss time-sum (Zaremba: summed over T, averaged over N) at lr x and clip c updates
    as the mean loss at lr x·T and clip c/T: the clip acts on the summed gradient's norm
    (here ~0.9, the mean's ~0.18, so c = 0.5 clips the one and would not clip the other)."""
    T, kw = 5, {"bptt": 5, "optimizer": "sgd", "max_steps": 3, "dropout": 0.0}
    summed = toy_trainer(loss="time-sum", lr=0.1, clip=clip, **kw)
    mean = toy_trainer(lr=0.1 * T, clip=clip / T, **kw)
    unscaled = toy_trainer(lr=0.1, clip=clip, **kw)  # time-sum ignored
    clipped_first = toy_trainer(lr=0.1 * T, clip=clip, **kw)  # x T applied after clipping
    for t in (summed, mean, unscaled, clipped_first):
        t.fit()
    for name, value in mean.model.params.items():
        np.testing.assert_allclose(summed.model.params[name], value, rtol=1e-5, atol=1e-6)
    W = summed.model.params["out.W"]
    assert not np.allclose(unscaled.model.params["out.W"], W, atol=1e-4)
    if clip:
        assert not np.allclose(clipped_first.model.params["out.W"], W, atol=1e-4)
