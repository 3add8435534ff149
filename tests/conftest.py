"""Shared fixtures: tiny corpora written on the fly, the real corpora's folder, and tiny trained
runs for the command-line tests."""

import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import settings

from tests.cli_helpers import SMALL, run

# Property tests draw the same examples on every run (a fixed seed, no example database), so a
# test run's outcome never depends on the draw: CI and a laptop see the same cases.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.load_profile("deterministic")

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "house"]


def write_word_corpus(path: Path, lines: int = 300, seed: int = 0) -> Path:
    rnd = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(lines):
            f.write(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 9))) + "\n")
    return path


@pytest.fixture
def word_corpus(tmp_path: Path) -> Path:
    return write_word_corpus(tmp_path / "tiny.txt")


@pytest.fixture
def char_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "chars.txt"
    rnd = random.Random(1)
    text = "".join(rnd.choice("abcde \n") for _ in range(3000))
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def split_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    write_word_corpus(folder / "x.train.txt", 300, seed=1)
    write_word_corpus(folder / "x.valid.txt", 40, seed=2)
    write_word_corpus(folder / "x.test.txt", 40, seed=3)
    return folder


def shared_data() -> Path | None:
    """The real corpora, found through RNNLM_DATA (``.ci/run`` points it at ../shared/data)."""
    env = os.environ.get("RNNLM_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for c in candidates:
        if (c / "ptb" / "ptb.train.txt").exists():
            return c
    return None


@pytest.fixture
def real_data() -> Path:
    path = shared_data()
    if path is None:
        pytest.skip("real corpora not found (set RNNLM_DATA)")
    return path


@pytest.fixture
def transposed_products(monkeypatch: pytest.MonkeyPatch) -> None:
    """TimeRNN's loop takes the transposed (multi-thread) layout at any size, N and T (the LSTM's
    and the GRU's have one layout)."""
    from rnnlm.nn.cells import recurrent

    monkeypatch.setattr(recurrent, "blas_threads", lambda: 2)
    monkeypatch.setattr(recurrent, "TRANSPOSE_MIN", 0)
    monkeypatch.setattr(recurrent, "TRANSPOSE_MIN_STEPS", 1)
    monkeypatch.setattr(recurrent, "TRANSPOSE_MIN_ROWS", 1)


@pytest.fixture
def trained(tmp_path, word_corpus):
    out = tmp_path / "run"
    result = run("train", word_corpus, "--out", out, *SMALL, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """One run a whole test module reads (never writes): (corpus, run folder)."""
    tmp = tmp_path_factory.mktemp("tools")
    corpus = write_word_corpus(tmp / "tiny.txt")
    out = tmp / "run"
    result = run("train", corpus, "--out", out, *SMALL, "--epochs", "3", "--log-every", "40")
    assert result.exit_code == 0, result.output
    return corpus, out
