"""One process per run folder (an OS lock on ``--out``), and readers of a run being written."""

import os
import signal
import subprocess
import sys
import time

import pytest

from rnnlm.errors import ConfigError
from rnnlm.training import checkpoint
from rnnlm.training.lock import LOCK_NAME, RunLock
from rnnlm.training.run_folder import RunDir, run_lock
from tests.conftest import write_word_corpus

ARGS = ["--embed-dim", "16", "--hidden", "16", "--batch-size", "8", "--bptt", "10",
        "--optimizer", "sgd", "--lr", "1", "--clip", "5"]  # fmt: skip


def train_cmd(corpus, out, *extra):
    return [sys.executable, "-m", "rnnlm", "train", str(corpus), "--out", str(out), *ARGS, *extra]


def start(corpus, out, *extra):
    cmd = train_cmd(corpus, out, *extra)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr
    return lines[0]


def test_a_second_lock_on_a_folder_is_refused_with_the_holder(tmp_path):
    out = tmp_path / "a" / "run"
    with RunLock(out):
        assert (out / LOCK_NAME).exists()
        with pytest.raises(ConfigError, match=rf"{out} is in use .*pid {os.getpid()} on "):
            RunLock(out).acquire()
    with RunLock(out):  # released: free again
        pass


def test_a_lock_removes_what_it_created_when_nothing_was_written(tmp_path):
    with run_lock(tmp_path / "a" / "b"):
        assert (tmp_path / "a" / "b" / LOCK_NAME).exists()
    assert list(tmp_path.iterdir()) == []
    with run_lock(tmp_path / "a" / "b"):
        RunDir(tmp_path / "a" / "b").log({"step": 1})
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["metrics.jsonl"]


def test_a_run_that_fails_to_start_leaves_no_folder(tmp_path):
    out = tmp_path / "new" / "run"
    got = subprocess.run(
        train_cmd(tmp_path / "missing.txt", out), capture_output=True, text=True, timeout=60
    )
    assert got.returncode == 1
    one_line_error(got.stderr)
    assert not (tmp_path / "new").exists()


def test_train_on_a_held_folder_ends_at_once_and_writes_nothing(tmp_path, word_corpus):
    out = tmp_path / "run"
    with RunLock(out):
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        cmd = train_cmd(word_corpus, out)
        got = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert got.returncode == 2 and got.stdout == ""
    line = one_line_error(got.stderr)
    assert str(out) in line and f"pid {os.getpid()}" in line


def test_two_trainings_started_together_on_one_folder(tmp_path):
    """Without the lock both ran to exit 0 and interleaved their records in metrics.jsonl.

    The runs are long, so the loser meets the winner still training however loaded the
    machine is; the winner is then stopped with SIGTERM (it saves and exits 143)."""
    corpus = write_word_corpus(tmp_path / "c.txt", lines=1500)
    out = tmp_path / "run"
    extra = ("--epochs", "500", "--log-every", "1", "--save-every", "5")
    procs = [start(corpus, out, *extra), start(corpus, out, *extra)]
    t0 = time.monotonic()
    while all(p.poll() is None for p in procs):
        assert time.monotonic() - t0 < 120
        time.sleep(0.05)
    loser = next(p for p in procs if p.poll() is not None)
    winner = next(p for p in procs if p is not loser)
    _, err = loser.communicate()
    assert loser.returncode == 2, err
    line = one_line_error(err)
    assert str(out) in line and f"pid {winner.pid} " in line
    wait_for(out / "last.npz", winner)
    winner.send_signal(signal.SIGTERM)
    _, werr = winner.communicate(timeout=120)
    assert winner.returncode == 143, werr
    steps = [r["step"] for r in RunDir.parse_metrics(out / "metrics.jsonl") if r["kind"] == "step"]
    assert steps == list(range(1, len(steps) + 1))  # one run's records, each once
    assert checkpoint.load(out / "last.npz").progress["step"] == steps[-1] >= 5
    assert not (out / LOCK_NAME).exists()


def wait_for(path, proc, timeout=60.0):
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout
        time.sleep(0.02)


def test_a_killed_run_leaves_no_lock_that_blocks_resume(tmp_path):
    corpus = write_word_corpus(tmp_path / "c.txt", lines=2000)
    out = tmp_path / "run"
    proc = start(corpus, out, "--epochs", "50", "--save-every", "1")
    wait_for(out / "last.npz", proc)
    proc.kill()  # SIGKILL: no handler runs, the lock file stays with a dead pid in it
    proc.communicate()
    assert f"pid {proc.pid} " in (out / LOCK_NAME).read_text()
    step = checkpoint.load(out / "last.npz").progress["step"]
    got = subprocess.run(
        train_cmd(corpus, out, "--resume", "--max-steps", str(step + 3)),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert checkpoint.load(out / "last.npz").progress["step"] == step + 3


def test_readers_never_see_a_partial_checkpoint(tmp_path):
    """eval/info/generate read best.npz and last.npz while a run rewrites them every step."""
    corpus = write_word_corpus(tmp_path / "c.txt", lines=300)  # short epochs: best.npz often
    out = tmp_path / "run"
    proc = start(corpus, out, "--epochs", "30", "--save-every", "1", "--valid-fraction", "0.02")
    wait_for(out / "best.npz", proc)
    loads, steps = 0, set()
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 4.0:
        for name in ("last.npz", "best.npz"):
            steps.add(checkpoint.load(out / name).progress["step"])  # raises if partial
            loads += 1
    proc.kill()
    proc.communicate()
    assert loads > 20 and len(steps) > 5, (loads, steps)  # read while many saves happened


def test_only_the_lock_holder_removes_temporary_files_of_a_save(tmp_path):
    """A killed save's temporary file is removed by the process that holds the folder (rank 0),
    never by another rank, which might be deleting a live run's save in progress."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "last.npz").write_bytes(b"")
    tmp = out / ".last.npz.tmp-12345"
    tmp.write_bytes(b"partial")
    RunDir(out, resume=True, clean=False)  # a non-root rank
    assert tmp.exists()
    RunDir(out, resume=True)  # the lock's holder
    assert not tmp.exists()
