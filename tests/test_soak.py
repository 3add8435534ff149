"""Soak: ``rnnlm train`` and ``rnnlm prepare`` killed with SIGKILL at random moments, over and
over. After every kill, each run folder and prepared folder is either complete and loadable
or cleanly absent, and the run, resumed each time, ends with the parameters of one that was
never interrupted. A short version runs by default; RNNLM_SLOW_TESTS=1 kills 50+ times.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rnnlm.data.prepared import META, is_prepared
from rnnlm.training import checkpoint
from tests.conftest import write_word_corpus

SLOW = bool(os.environ.get("RNNLM_SLOW_TESTS"))
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "RNNLM_THREADS": "1"}  # exact resumes
ARGS = ["--embed-dim", "16", "--hidden", "16", "--batch-size", "4", "--bptt", "8",
        "--dropout", "0.2", "--save-every", "1", "--epochs", "100"]  # fmt: skip
STEPS = 15_000 if SLOW else 1200  # long enough that every attempt is killed


def run(cmd: list[str], kill_after: float | None) -> int | None:
    """Run ``cmd``; SIGKILL it after ``kill_after`` seconds. Its exit code, or None if killed."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    try:
        _, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    assert proc.returncode == 0, err.decode()
    return 0


def train(corpus: Path, out: Path) -> list[str]:
    resume = ["--resume"] if (out / "last.npz").exists() else []
    return [sys.executable, "-m", "rnnlm", "train", str(corpus), "--out", str(out), *ARGS,
            "--max-steps", str(STEPS), *resume]  # fmt: skip


def assert_run_folder_whole(out: Path) -> None:
    """Every checkpoint there loads; nothing else that looks like one is left."""
    for name in ("best.npz", "last.npz"):
        if (out / name).exists():
            checkpoint.load(out / name)


def params(path: Path) -> dict[str, np.ndarray]:
    return checkpoint.load(path).params


def test_train_killed_at_random_resumes_to_the_uninterrupted_parameters(tmp_path):
    corpus = write_word_corpus(tmp_path / "c.txt", lines=600, seed=5)
    assert run(train(corpus, tmp_path / "whole"), None) == 0
    rnd, out, kills = random.Random(7), tmp_path / "killed", 0
    for _ in range(60 if SLOW else 8):
        if run(train(corpus, out), rnd.uniform(0.3, 2.0)) == 0:
            break  # finished before the kill
        kills += 1
        assert_run_folder_whole(out)
    while run(train(corpus, out), None) is None:  # (never: no kill without a timeout)
        pass
    assert kills >= (50 if SLOW else 5)
    whole, killed = params(tmp_path / "whole/last.npz"), params(out / "last.npz")
    step = checkpoint.load(out / "last.npz").progress["step"]
    assert step == checkpoint.load(tmp_path / "whole/last.npz").progress["step"] > 100
    for name in whole:
        assert np.array_equal(whole[name], killed[name]), name


def prepared_whole(folder: Path) -> None:
    """A prepared folder is complete: its meta names files whose sha256 match."""
    meta = json.loads((folder / META).read_text())
    for info in meta["splits"].values():
        data = (folder / info["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["sha256"]


def test_prepare_killed_at_random_leaves_a_whole_folder_or_none(tmp_path):
    corpus = write_word_corpus(tmp_path / "big.txt", lines=40_000, seed=2)
    cmd = [sys.executable, "-m", "rnnlm", "prepare", str(corpus), "--out"]
    t0 = time.monotonic()
    assert run([*cmd, str(tmp_path / "whole")], None) == 0
    took = time.monotonic() - t0
    rnd, kills = random.Random(3), 0
    for i in range(50 if SLOW else 6):
        out = tmp_path / f"p{i}"
        if run([*cmd, str(out)], rnd.uniform(0.1, took)) is None:
            kills += 1
        assert is_prepared(out) or not out.exists()
        if is_prepared(out):
            prepared_whole(out)
    assert kills >= (40 if SLOW else 4)
    out = tmp_path / "p0"  # a prepare after the kills: the stale temporary folders go
    assert run([*cmd, str(out), "--force"], None) == 0
    prepared_whole(out)
    for name in ("train.ids", "valid.ids"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not list(tmp_path.glob(".p0.*"))  # a killed prepare's leftovers, cleaned by the next
