"""Divergence: a NaN, infinite or absurd loss stops training, keeps the best model and names
what to change."""

import subprocess
import sys

import numpy as np
import pytest

from rnnlm.training import checkpoint
from rnnlm.training.divergence import DIVERGED_LOSS, diverged
from rnnlm.training.loop import TrainingDivergedError
from rnnlm.training.run_folder import RunDir
from tests.cli_helpers import ARGS
from tests.conftest import write_word_corpus
from tests.helpers import toy_trainer


def test_divergence_stops_and_keeps_best(tmp_path):
    trainer = toy_trainer(run=RunDir(tmp_path / "r"), epochs=3)
    best = tmp_path / "r" / "best.npz"

    saved = {}

    def blow_up(report):
        saved["best"] = best.read_bytes()
        trainer.optimizer.lr = 1e30  # the next epoch's updates overflow
        trainer.cfg = type(trainer.cfg)(**{**trainer.cfg.__dict__, "clip": 0.0})

    trainer.on_epoch = blow_up
    with pytest.raises(TrainingDivergedError, match="loss became"), np.errstate(all="ignore"):
        trainer.fit()
    assert best.read_bytes() == saved["best"]  # still epoch 1's model
    assert checkpoint.load(best).progress["epoch"] == 1


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), 3e31, DIVERGED_LOSS * 1.01])
def test_a_finite_but_absurd_loss_is_divergence_too(tmp_path, loss):
    """Huge weights behind a tanh and a max-shifted softmax can score 1e30 nats without
    overflowing (whether they do depends on the CPU's exp), so the bound, not only NaN/inf."""
    trainer = toy_trainer(run=RunDir(tmp_path / "r"), epochs=2)
    forward = trainer.model.forward

    def absurd(xs, ts):
        forward(xs, ts)
        return loss

    trainer.model.forward = absurd
    with pytest.raises(TrainingDivergedError, match="loss became"):
        trainer.fit()
    assert not (tmp_path / "r" / "best.npz").exists()


@pytest.mark.parametrize("bad_step, blamed", [(0, "--init-scale"), (3, "--lr or --clip")])
def test_the_hint_names_what_to_change(tmp_path, bad_step, blamed):
    """The first forward comes before any update: only the initial weights can be to blame."""
    trainer = toy_trainer(run=RunDir(tmp_path / "r"), epochs=2)
    forward, calls = trainer.model.forward, []

    def absurd_at(xs, ts):
        calls.append(1)
        loss = forward(xs, ts)
        return 5e3 if len(calls) > bad_step else loss

    trainer.model.forward = absurd_at
    with pytest.raises(TrainingDivergedError, match=f"at step {bad_step + 1} ") as e:
        trainer.fit()
    assert blamed in str(e.value)


def test_divergence_bound():
    assert not diverged(9.2) and not diverged(DIVERGED_LOSS)
    assert diverged(DIVERGED_LOSS + 1) and diverged(float("nan")) and diverged(float("-inf"))


def test_divergence_from_the_cli_is_one_line(tmp_path):
    corpus = write_word_corpus(tmp_path / "c.txt", lines=300)
    cmd = [sys.executable, "-m", "rnnlm", "train", str(corpus), "--out", str(tmp_path / "r"),
           *ARGS[:-2], "--epochs", "1", "--lr", "1e30", "--clip", "0"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: loss became") and "Traceback" not in proc.stderr
    assert "Warning" not in proc.stderr  # numpy's overflow warnings stay out of it
    assert not (tmp_path / "r" / "best.npz").exists()
