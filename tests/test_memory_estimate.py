"""The memory pre-flight: estimates against measured peak RSS, and the refusal of a run that
cannot fit (``RNNLM_MEMORY_LIMIT`` plays a small machine).

The larger measured configurations run with ``RNNLM_SLOW_TESTS=1``; one training and one
evaluation run by default. ``python -m tests.test_memory_estimate`` prints the table.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnlm import memory
from rnnlm.cli import app
from rnnlm.config import ModelConfig, TrainConfig

MiB = 2**20
SLOW = pytest.mark.skipif(not os.environ.get("RNNLM_SLOW_TESTS"), reason="RNNLM_SLOW_TESTS=1")
CONFIGS = {  # V = 10k words in every case, so the arrays dominate the interpreter's own
    "rnn-full": ["--hidden", "256", "--embed-dim", "256", "--batch-size", "64", "--bptt", "35",
                 "--optimizer", "sgd"],
    "rnn-class": ["--hidden", "512", "--embed-dim", "512", "--batch-size", "32", "--bptt", "35",
                  "--softmax", "class"],
    "lstm-full": ["--cell", "lstm", "--hidden", "512", "--embed-dim", "512", "--batch-size", "32",
                  "--bptt", "35", "--dropout", "0.5"],
}  # fmt: skip


def big_corpus(path: Path, tokens: int = 100_000, V: int = 10_000, seed: int = 0) -> Path:
    """``tokens`` words drawn uniformly from V - 1 types, in lines of 5-19 words."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(V - 1)])[rng.integers(0, V - 1, tokens)]
    lines, i = [], 0
    while i < tokens:
        n = int(rng.integers(5, 20))
        lines.append(" ".join(words[i : i + n]))
        i += n
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Runs rnnlm's CLI and prints the process's own high-water RSS (VmHWM: of this program's memory
# map alone; ru_maxrss of a child would also count the parent's pages at the fork).
PEAK = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    if sys.argv[1:]:
        runpy.run_module("rnnlm", run_name="__main__")
    else:
        import rnnlm.cli, rnnlm.training.run
finally:
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
    sys.stderr.write("\\nPEAK " + hwm.split()[1] + "\\n")
"""


def peak_rss(*args: str) -> int:
    """Peak RSS in bytes of ``python -m rnnlm ARGS`` (no args: importing rnnlm's CLI only)."""
    cmd = [sys.executable, "-c", PEAK, "rnnlm", *args]
    got = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert got.returncode == 0, got.stderr
    return int(got.stderr.rsplit("PEAK ", 1)[1]) * 1024  # kB


def baseline() -> int:
    return peak_rss()


def measure_train(tmp: Path, name: str) -> tuple[int, int, Path]:
    """(estimate, measured peak RSS less the interpreter's, the run folder) for CONFIGS[name]."""
    corpus = tmp / "c.txt" if (tmp / "c.txt").exists() else big_corpus(tmp / "c.txt")
    out = tmp / name
    rss = peak_rss("train", str(corpus), "--out", str(out), "--max-steps", "3", *CONFIGS[name])
    ck = memory.checkpoint_configs(out / "last.npz")
    assert ck is not None
    tokens = 100_000 + corpus.read_text().count("\n")  # words and one <eos> a line
    return memory.training(ck[0], ck[1], tokens).total, rss - baseline(), out


def measure_eval(run: Path, text: Path) -> tuple[int, int]:
    rss = peak_rss("eval", str(run / "best.npz"), str(text), "--json")
    mc, tc, unit = memory.checkpoint_configs(run / "best.npz")
    est = memory.evaluation(mc, tc, memory.text_tokens([text], unit), unit)
    return est.total, rss - baseline()


def eval_text(tmp: Path) -> Path:
    text = tmp / "ev.txt"
    text.write_text("\n".join((tmp / "c.txt").read_text().splitlines()[:2000]) + "\n")
    return text


def within(estimate: int, measured: int, tolerance: float = 0.25) -> bool:
    return abs(estimate - measured) <= tolerance * measured


@pytest.fixture(scope="module")
def rnn_full(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, int, Path]:
    return measure_train(tmp_path_factory.mktemp("mem"), "rnn-full")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="VmHWM: Linux")
def test_training_estimate_is_within_a_quarter_of_the_measured_peak(rnn_full):
    est, measured, _ = rnn_full
    assert measured > 100 * MiB  # arrays dominate
    assert within(est, measured), (est / MiB, measured / MiB)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="VmHWM: Linux")
def test_evaluation_estimate_is_within_a_quarter_of_the_measured_peak(rnn_full):
    run = rnn_full[2]
    est, measured = measure_eval(run, eval_text(run.parent))
    assert within(est, measured), (est / MiB, measured / MiB)


@SLOW
@pytest.mark.parametrize("name", ["rnn-class", "lstm-full"])
def test_larger_estimates_are_within_a_quarter(tmp_path, name):
    est, measured, run = measure_train(tmp_path, name)
    assert within(est, measured), (est / MiB, measured / MiB)
    est, measured = measure_eval(run, eval_text(tmp_path))
    assert within(est, measured), (est / MiB, measured / MiB)


def run_cli(monkeypatch, limit: int, *args):
    monkeypatch.setenv("RNNLM_MEMORY_LIMIT", str(limit))
    return CliRunner().invoke(app, [str(a) for a in args])


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_a_training_that_cannot_fit_is_refused_and_force_runs_it(
    tmp_path, monkeypatch, word_corpus
):
    out = tmp_path / "new" / "run"
    args = ["train", word_corpus, "--out", out, "--max-steps", "2", "--hidden", "64"]
    refused = run_cli(monkeypatch, 100_000, *args)
    assert refused.exit_code == 2
    line = one_line(refused)
    assert "training needs about" in line and "0 MiB is available (RNNLM_MEMORY_LIMIT)" in line
    assert "--batch-size" in line and "--softmax class" in line and "--force" in line
    assert not (tmp_path / "new").exists()  # nothing written, the folder made for it removed
    forced = run_cli(monkeypatch, 100_000, *args, "--force")
    assert forced.exit_code == 0, forced.output
    assert (out / "best.npz").exists()
    room = memory.training(
        ModelConfig(vocab_size=14, hidden=64), TrainConfig(max_steps=2), 2000
    ).total
    fits = run_cli(monkeypatch, 50 * room, "train", word_corpus, "--out", tmp_path / "b",
                   "--max-steps", "2", "--hidden", "64")  # fmt: skip
    assert fits.exit_code == 0, fits.output


def test_eval_and_generate_are_checked_too(tmp_path, monkeypatch, word_corpus):
    out = tmp_path / "run"
    trained = run_cli(monkeypatch, 10**12, "train", word_corpus, "--out", out, "--max-steps", "2")
    assert trained.exit_code == 0, trained.output
    for args in (["eval", out / "best.npz", word_corpus], ["generate", out / "best.npz"]):
        refused = run_cli(monkeypatch, 1000, *args)
        assert refused.exit_code == 2 and refused.stdout == ""
        assert "needs about" in one_line(refused)
        assert run_cli(monkeypatch, 1000, *args, "--force").exit_code == 0


def test_available_memory_from_the_cgroup_or_meminfo(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNLM_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(memory, "CGROUP", tmp_path)
    (tmp_path / "memory.max").write_text("max\n")  # v2 without a limit: MemAvailable
    if Path("/proc/meminfo").exists():
        assert memory.available()[1] == "MemAvailable"
    (tmp_path / "memory.max").write_text(f"{3 * MiB}\n")
    (tmp_path / "memory.current").write_text(f"{MiB}\n")
    assert memory.available() == (2 * MiB, "the cgroup's memory limit")
    (tmp_path / "memory.max").unlink()
    (tmp_path / "memory").mkdir()  # v1
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(f"{5 * MiB}\n")
    (tmp_path / "memory" / "memory.usage_in_bytes").write_text(f"{MiB}\n")
    assert memory.available() == (4 * MiB, "the cgroup's memory limit")
    monkeypatch.setenv("RNNLM_MEMORY_LIMIT", "12345")
    assert memory.available() == (12345, "RNNLM_MEMORY_LIMIT")


def test_a_bad_limit_variable_is_one_line(monkeypatch, word_corpus, tmp_path):
    got = run_cli(monkeypatch, "lots", "train", word_corpus, "--out", tmp_path / "r")
    assert got.exit_code == 2 and "RNNLM_MEMORY_LIMIT" in one_line(got)


if __name__ == "__main__":  # the table: estimate vs measured
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for name in CONFIGS:
            est, measured, run = measure_train(Path(d), name)
            print(f"train {name}: estimate {est / MiB:.0f} MiB, measured {measured / MiB:.0f} MiB")
            est, measured = measure_eval(run, eval_text(Path(d)))
            print(f"eval {name}: estimate {est / MiB:.0f} MiB, measured {measured / MiB:.0f} MiB")
