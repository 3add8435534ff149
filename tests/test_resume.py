"""Stopping and resuming: max-steps, Ctrl-C and crashes; a resumed run continues bit for bit,
and a resume refuses a checkpoint that does not fit."""

import numpy as np
import pytest

from rnnlm.errors import CheckpointError
from rnnlm.eval.perplexity import evaluate
from rnnlm.nn.model import RNNLM
from rnnlm.training import checkpoint
from rnnlm.training.averaging import ParamEMA
from rnnlm.training.loop import Trainer
from rnnlm.training.run_folder import RunDir
from tests.helpers import toy_trainer


def test_max_steps_stops_early(tmp_path):
    trainer = toy_trainer(run=RunDir(tmp_path / "run"), max_steps=7)
    state = trainer.fit()
    assert state.step == 7
    assert (tmp_path / "run" / "best.npz").exists()


def _uninterrupted_and_resumed(tmp_path, stop_after, **kw):
    """The same toy run twice: once through, once stopped after ``stop_after`` updates (as by
    Ctrl-C) and resumed from its last.npz in a new trainer. Returns both trainers."""
    full = toy_trainer(run=RunDir(tmp_path / "full"), **kw)
    full.fit()
    first = toy_trainer(run=RunDir(tmp_path / "cut"), **kw)
    first.on_step = lambda r: first.request_stop() if r.step == stop_after else None
    state = first.fit()
    assert state.step == stop_after and not state.finished
    second = toy_trainer(run=RunDir(tmp_path / "cut", resume=True), **kw)
    second.restore(checkpoint.load(tmp_path / "cut" / "last.npz"))
    second.fit()
    return full, second


@pytest.mark.parametrize("stop_after", [1, 37, 99, 100, 150])
def test_resume_is_bit_identical(tmp_path, stop_after):
    """Interrupt at a step (mid-epoch, last window, first of an epoch), resume, compare."""
    full, second = _uninterrupted_and_resumed(tmp_path, stop_after)
    assert full.windows_per_epoch == 100
    for name, value in full.model.params.items():
        np.testing.assert_array_equal(second.model.params[name], value, err_msg=name)
    assert second.state.best_valid_ppl == full.state.best_valid_ppl
    full_metrics = RunDir(tmp_path / "full", resume=True).read_metrics()
    cut_metrics = RunDir(tmp_path / "cut", resume=True).read_metrics()
    key = ["epoch", "step", "train_loss", "valid_ppl", "lr"]
    assert [[m[k] for k in key] for m in cut_metrics] == [[m[k] for k in key] for m in full_metrics]


def test_max_steps_then_resume_matches_uninterrupted(tmp_path):
    """--max-steps mid-epoch validates and saves, but resuming trains on exactly as before."""
    full = toy_trainer(run=RunDir(tmp_path / "full"))
    full.fit()
    first = toy_trainer(run=RunDir(tmp_path / "cut"), max_steps=150)
    first.fit()
    assert first.state.window == 50 and first.state.epoch == 1
    second = toy_trainer(run=RunDir(tmp_path / "cut", resume=True))
    second.restore(checkpoint.load(tmp_path / "cut" / "last.npz"))
    second.fit()
    for name, value in full.model.params.items():
        np.testing.assert_array_equal(second.model.params[name], value, err_msg=name)
    partial = [m for m in RunDir(tmp_path / "cut", resume=True).read_metrics() if m["partial"]]
    assert [m["step"] for m in partial] == [150]


def test_crash_then_resume_leaves_no_duplicate_metrics(tmp_path):
    """Records logged after the last periodic save are dropped, then logged again once."""
    first = toy_trainer(run=RunDir(tmp_path / "r"), log_every=1, save_every=10)

    def crash(report):
        if report.step == 14:
            raise KeyboardInterrupt  # dies without saving, like kill -9 after step 14

    first.on_step = crash
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    ck = checkpoint.load(tmp_path / "r" / "last.npz")
    assert ck.progress["step"] == 10
    second = toy_trainer(run=RunDir(tmp_path / "r", resume=True), log_every=1, save_every=10)
    second.restore(ck)
    second.run.truncate_metrics(second.state.step, second.state.epoch)
    second.fit()
    steps = [r["step"] for r in second.run.read_metrics() if r["kind"] == "step"]
    assert steps == list(range(1, second.state.step + 1))


@pytest.mark.parametrize("save_every", [7, 0], ids=["older-save", "save-at-epoch-end"])
def test_crash_between_logging_and_saving_an_epoch_end(tmp_path, monkeypatch, save_every):
    """The epoch's record is written before its checkpoint; killed in between, the resumed
    run validates that epoch again and metrics.jsonl holds its record exactly once."""
    probe = toy_trainer(epochs=2)
    save_every = save_every or probe.windows_per_epoch  # 0: the last periodic save is the end
    first = toy_trainer(run=RunDir(tmp_path / "r"), epochs=2, save_every=save_every)
    real_save = Trainer._save

    def save(self, which, resumable=True):
        if self.state.epoch == 1 and self.state.window == 0:  # the save after epoch 1's end
            raise KeyboardInterrupt  # killed: epoch 1's record is logged, its last.npz not
        real_save(self, which, resumable)

    monkeypatch.setattr(Trainer, "_save", save)
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    monkeypatch.setattr(Trainer, "_save", real_save)
    assert [r["epoch"] for r in first.run.read_metrics() if r["kind"] == "epoch"] == [1]
    ck = checkpoint.load(tmp_path / "r" / "last.npz")
    assert ck.progress["epoch"] == 0
    second = toy_trainer(run=RunDir(tmp_path / "r", resume=True), epochs=2, save_every=save_every)
    second.restore(ck)
    second.run.truncate_metrics(second.state.step, second.state.epoch)
    second.fit()
    epochs = [r for r in second.run.read_metrics() if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    full = toy_trainer(epochs=2)
    reports = []
    full.on_epoch = reports.append
    full.fit()
    assert [r["valid_ppl"] for r in epochs] == [r.valid_ppl for r in reports]


def test_a_failed_metrics_write_still_saves_the_epoch(tmp_path, monkeypatch):
    """metrics.jsonl cannot be written at an epoch's end: the error is raised, but only after
    last.npz (and best.npz) hold the epoch, so no training is lost."""

    def full(self, record):
        if record.get("kind") == "epoch":
            raise CheckpointError("cannot write metrics.jsonl: No space left on device")

    monkeypatch.setattr(RunDir, "log", full)
    trainer = toy_trainer(run=RunDir(tmp_path / "r"), epochs=2)
    with pytest.raises(CheckpointError, match="No space"):
        trainer.fit()
    ck = checkpoint.load(tmp_path / "r" / "last.npz")
    assert ck.progress["epoch"] == 1 and ck.progress["window"] == 0
    assert (tmp_path / "r" / "best.npz").exists()


@pytest.mark.parametrize("at_epoch_end", [False, True])
def test_a_stop_at_the_max_steps_step_still_validates(tmp_path, at_epoch_end):
    """Ctrl-C landing on the --max-steps step (mid-epoch, or an epoch's last window): the run
    validates and saves as it would have, instead of leaving a checkpoint that a resume finds
    finished but never validated."""
    steps = toy_trainer().windows_per_epoch if at_epoch_end else 7
    trainer = toy_trainer(run=RunDir(tmp_path / "r"), max_steps=steps)

    def stop_at_max(report):
        if report.step == steps:
            trainer.request_stop()

    trainer.on_step = stop_at_max
    state = trainer.fit()
    assert state.step == steps and state.best_valid_ppl is not None
    records = trainer.run.read_metrics()
    assert [r["step"] for r in records if r["kind"] == "epoch"] == [steps]
    ck = checkpoint.load(tmp_path / "r" / "last.npz")
    assert ck.progress["step"] == steps and ck.progress["epoch"] == int(at_epoch_end)


def test_resume_refuses_a_different_training_split(tmp_path):
    first = toy_trainer(run=RunDir(tmp_path / "r"), max_steps=5)
    first.fit()
    other = toy_trainer(run=RunDir(tmp_path / "r", resume=True))
    other.extra["train_sha1"] = "0" * 40
    with pytest.raises(CheckpointError, match="training split differs"):
        other.restore(checkpoint.load(tmp_path / "r" / "last.npz"))


def test_ema_average_and_swap():
    params = {"a": np.zeros(3, np.float32), "b": np.ones((2, 2), np.float32)}
    ema = ParamEMA(params, 0.9)
    expected = {k: v.astype(np.float64) for k, v in params.items()}
    for t in range(100):
        for v in params.values():
            v += 1.0
        d = min(0.9, (1 + t) / (10 + t))  # warm-up, then the decay itself
        for k, v in params.items():
            expected[k] = d * expected[k] + (1 - d) * v
        ema.update(params)
    for k in params:
        np.testing.assert_allclose(ema.avg[k], expected[k], rtol=1e-6)
    assert ema.current_decay() == 0.9
    raw = {k: v.copy() for k, v in params.items()}
    with ema.swapped_in(params):
        np.testing.assert_array_equal(params["a"], ema.avg["a"])
    for k in params:  # the raw weights come back bit for bit
        np.testing.assert_array_equal(params[k], raw[k])


def test_ema_weights_are_validated_and_saved_as_best(tmp_path):
    trainer = toy_trainer(run=RunDir(tmp_path / "r"), ema=0.95, epochs=1)
    reports = []
    trainer.on_epoch = reports.append
    trainer.fit()
    best = checkpoint.load(tmp_path / "r" / "best.npz")
    last = checkpoint.load(tmp_path / "r" / "last.npz")
    for name, value in best.params.items():
        np.testing.assert_array_equal(value, trainer.ema.avg[name])
        np.testing.assert_array_equal(last.params[name], trainer.model.params[name])
    assert not np.array_equal(best.params["out.W"], last.params["out.W"])
    # the reported validation perplexity is that of the averaged weights in best.npz
    model = RNNLM(best.model, np.random.default_rng(0), params=best.params)
    cfg = trainer.cfg
    res = evaluate(model, trainer.valid_ids, cfg.eval_batch_size, cfg.eval_bptt)
    assert res.perplexity == pytest.approx(reports[-1].valid_ppl, rel=1e-6)
    assert "ema_t" in last.optim and "ema.out.W" in last.optim


@pytest.mark.parametrize("stop_after", [37, 100])
def test_resume_with_ema_is_bit_identical(tmp_path, stop_after):
    full, second = _uninterrupted_and_resumed(
        tmp_path, stop_after, ema=0.95, optimizer="adam", lr=0.01
    )
    for name, value in full.ema.avg.items():
        np.testing.assert_array_equal(second.ema.avg[name], value, err_msg=name)
        np.testing.assert_array_equal(second.model.params[name], full.model.params[name])
    assert second.state.best_valid_ppl == full.state.best_valid_ppl
    full_metrics = RunDir(tmp_path / "full", resume=True).read_metrics()
    cut_metrics = RunDir(tmp_path / "cut", resume=True).read_metrics()
    key = ["epoch", "step", "train_loss", "valid_ppl", "lr"]
    assert [[m[k] for k in key] for m in cut_metrics] == [[m[k] for k in key] for m in full_metrics]


def test_resume_refuses_a_missing_or_broken_average(tmp_path):
    """A checkpoint without the average (or with half of one) resumes no run that keeps one,
    and one with an average resumes no run without: a one-line CheckpointError, nothing
    changed."""
    plain = toy_trainer(run=RunDir(tmp_path / "plain"), max_steps=5)
    plain.fit()
    averaged = toy_trainer(run=RunDir(tmp_path / "ema"), ema=0.9, max_steps=5)
    averaged.fit()
    fresh = toy_trainer(ema=0.9)
    before = {k: v.copy() for k, v in fresh.model.params.items()}
    with pytest.raises(CheckpointError, match="--ema"):
        fresh.restore(checkpoint.load(tmp_path / "plain" / "last.npz"))
    with pytest.raises(CheckpointError, match="--ema"):
        toy_trainer().restore(checkpoint.load(tmp_path / "ema" / "last.npz"))
    ck = checkpoint.load(tmp_path / "ema" / "last.npz")
    broken = [{k: v for k, v in ck.optim.items() if k != "ema.out.W"}]
    broken.append({**ck.optim, "ema_t": np.array(-5)})
    broken.append({**ck.optim, "ema.out.b": np.zeros(3, np.float32)})
    for optim in broken:
        ck.optim = optim
        with pytest.raises(CheckpointError, match="malformed"):
            fresh.restore(ck)
    for k, v in before.items():
        np.testing.assert_array_equal(fresh.model.params[k], v)


def test_resume_refuses_tampered_optimizer_state_and_progress(tmp_path):
    """Values a resume would train with are checked, not only their shapes: a negative Adam
    step count (bias correction 1 - beta^t would divide by ~0), a learning rate <= 0 or NaN, a
    text where a number belongs. Each: CheckpointError, the fresh trainer unchanged."""
    run = toy_trainer(run=RunDir(tmp_path / "r"), optimizer="adam", max_steps=5)
    run.fit()
    ck = checkpoint.load(tmp_path / "r" / "last.npz")
    good_optim, good_progress = dict(ck.optim), dict(ck.progress)
    bad_optim = [{"t": np.array(-3)}, {"t": np.array(2.5)}, {"lr": np.array(0.0)},
                 {"lr": np.array(np.nan)}, {"lr": np.array(-1.0)}]  # fmt: skip
    bad_progress = [{"best_valid_ppl": "x"}, {"seconds": float("inf")}, {"step": -1},
                    {"plateau_ppl": -2.0}, {"epoch_nll": True}]  # fmt: skip
    fresh = toy_trainer(optimizer="adam")
    before = {k: v.copy() for k, v in fresh.model.params.items()}
    cases = [(good_progress, {**good_optim, **o}) for o in bad_optim]
    cases += [({**good_progress, **p}, good_optim) for p in bad_progress]
    for progress, optim in cases:
        ck.progress, ck.optim = progress, optim
        with pytest.raises(CheckpointError, match=r"malformed|does not match"):
            fresh.restore(ck)
    for k, v in before.items():
        np.testing.assert_array_equal(fresh.model.params[k], v)
    assert fresh.state.step == 0
    ck.progress, ck.optim = good_progress, good_optim
    fresh.restore(ck)  # the untampered checkpoint resumes
    assert fresh.state.step == 5 and fresh.optimizer.t == 5


def test_weights_come_back_when_saving_best_fails(tmp_path, monkeypatch):
    """best.npz is written with the averaged weights swapped in; when that write fails the
    raw weights must be back in the model, not the average."""

    def fail_best(self, which, ckpt):
        if which == "best":
            raise CheckpointError("disk full")
        return real_save(self, which, ckpt)

    real_save = RunDir.save
    monkeypatch.setattr(RunDir, "save", fail_best)
    trainer = toy_trainer(run=RunDir(tmp_path / "r"), ema=0.9, epochs=1)
    with pytest.raises(CheckpointError, match="disk full"):
        trainer.fit()
    twin = toy_trainer(ema=0.9, epochs=1)  # the same run, nothing saved
    twin.fit()
    for k, v in twin.model.params.items():
        np.testing.assert_array_equal(trainer.model.params[k], v, err_msg=k)
    assert not np.array_equal(twin.ema.avg["out.W"], twin.model.params["out.W"])


def test_resume_with_weight_drop_is_bit_identical(tmp_path):
    full, second = _uninterrupted_and_resumed(tmp_path, 57, weight_drop=0.3, ema=0.95)
    for name, value in full.model.params.items():
        np.testing.assert_array_equal(second.model.params[name], value, err_msg=name)
