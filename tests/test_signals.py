"""Signals never lose a run: Ctrl-C and SIGTERM save a resumable checkpoint, SIGKILL mid-save
leaves files that load, a signal before training is one line."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rnnlm.training import checkpoint
from tests.cli_helpers import ARGS
from tests.conftest import write_word_corpus


def start(corpus, out, *extra):
    cmd = [sys.executable, "-m", "rnnlm", "train", str(corpus), "--out", str(out), *ARGS, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path, proc, timeout=60.0):
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout
        time.sleep(0.05)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_a_resumable_checkpoint(tmp_path, sig, code):
    corpus = write_word_corpus(tmp_path / "c.txt", lines=2000)
    out = tmp_path / "run"
    proc = start(corpus, out, "--save-every", "1")
    wait_for(out / "last.npz", proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    ck = checkpoint.load(out / "last.npz")
    assert ck.progress["step"] > 0 and not ck.progress["finished"]
    resumed = start(corpus, out, "--resume", "--max-steps", str(ck.progress["step"] + 5))
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert checkpoint.load(out / "last.npz").progress["step"] == ck.progress["step"] + 5


def test_sigkill_never_leaves_a_broken_checkpoint(tmp_path):
    """Killed at arbitrary moments while saving after every step: files always load."""
    corpus = write_word_corpus(tmp_path / "c.txt", lines=2000)
    out = tmp_path / "run"
    proc = start(corpus, out, "--save-every", "1")
    wait_for(out / "last.npz", proc)
    rng = np.random.default_rng(0)
    for _ in range(4):
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.kill()
        proc.communicate()
        ck = checkpoint.load(out / "last.npz")  # raises if half-written
        assert ck.progress["step"] > 0
        if (out / "best.npz").exists():
            checkpoint.load(out / "best.npz")
        proc = start(corpus, out, "--save-every", "1", "--resume")
        time.sleep(0.8)
    proc.kill()
    proc.communicate()
    checkpoint.load(out / "last.npz")


@pytest.mark.parametrize(("signum", "code"), [(2, 130), (15, 143)])
def test_a_signal_before_training_is_one_line(monkeypatch, capsys, word_corpus, signum, code):
    """Ctrl-C or SIGTERM while the corpus loads (or downloads): "interrupted", exit 130/143.
    (typer turns a KeyboardInterrupt into a silent exit 130; rnnlm's handler raises its own.)"""
    import importlib
    import signal

    from rnnlm import cli
    from rnnlm.cli import console

    train_cli = importlib.import_module("rnnlm.cli.train")  # (rnnlm.cli.train is the command)

    def arrives(*args, **kwargs):
        assert signal.getsignal(signum) is console.raise_interrupted  # main()'s, while it runs
        console.raise_interrupted(signum, None)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(train_cli, "prepare", arrives)
    monkeypatch.setattr(sys, "argv", ["rnnlm", "train", str(word_corpus)])
    try:
        with pytest.raises(SystemExit) as info:
            cli.main()
        assert {s: signal.getsignal(s) for s in previous} == previous  # restored on return
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    assert info.value.code == code
    assert capsys.readouterr().err.strip() == "interrupted"


def test_an_ignored_sigint_stays_ignored(monkeypatch, word_corpus):
    """A job started in the background by a script ignores SIGINT; rnnlm keeps it so."""
    import importlib
    import signal

    from rnnlm import cli
    from rnnlm.errors import ConfigError

    train_cli = importlib.import_module("rnnlm.cli.train")
    seen = {}

    def prepare(*args, **kwargs):
        seen["sigint"] = signal.getsignal(signal.SIGINT)
        raise ConfigError("stop here")

    monkeypatch.setattr(train_cli, "prepare", prepare)
    monkeypatch.setattr(sys, "argv", ["rnnlm", "train", str(word_corpus)])
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(SystemExit):
            cli.main()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen["sigint"] is signal.SIG_IGN
