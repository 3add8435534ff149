"""Data parallelism: K ranks change the speed and nothing else; a failing rank ends the job.

The MPI tests run ``mpiexec -n 2`` (the ``[mpi]`` extra, which CI installs) with one BLAS
thread per rank; the in-process reference runs the same two ranks as threads (ThreadComm).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests import mpi_job
from tests.conftest import write_word_corpus

pytest.importorskip("mpi4py", reason="the [mpi] extra is not installed")
HERE = Path(sys.executable).parent
MPIEXEC = str(HERE / "mpiexec") if (HERE / "mpiexec").exists() else shutil.which("mpiexec")
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "RNNLM_THREADS": "1", "NO_COLOR": "1"}
SMALL = ["--batch-size", "4", "--bptt", "8", "--embed-dim", "16", "--hidden", "16",
         "--dropout", "0.3", "--cell", "lstm"]  # fmt: skip


def params(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files if k.startswith("param/")}


def assert_close(a: dict, b: dict, rtol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=rtol, atol=rtol * 1e-2, err_msg=k)


def rnnlm(*args: str, ranks: int = 1, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rnnlm", *args]
    if ranks > 1:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, cwd=ROOT)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_word_corpus(tmp_path / "c.txt", lines=800, seed=3)


def test_two_thread_ranks_equal_one_process_in_float64_and_float32():
    for dtype, rtol in ((np.float64, 1e-10), (np.float32, 1e-4)):
        alone = mpi_job.toy(mpi_job.distributed.Comm(), dtype)
        alone.fit()
        two = mpi_job.threads(2, dtype)
        assert alone.state.step == mpi_job.STEPS
        assert_close(two, {k: v for k, v in mpi_job.result(alone).items() if k in two}, rtol)
        assert float(two["valid_ppl"]) == pytest.approx(alone.state.best_valid_ppl, rel=1e-6)


def test_mpiexec_is_bit_identical_to_the_in_process_reference(tmp_path):
    job = [sys.executable, "-m", "tests.mpi_job"]
    run = {"cwd": ROOT, "env": ENV, "capture_output": True, "text": True, "timeout": 120}
    got = subprocess.run([MPIEXEC, "-n", "2", *job, "mpi", str(tmp_path / "m.npz")], **run)
    assert got.returncode == 0, got.stderr
    ref = subprocess.run([*job, "reference", str(tmp_path / "t.npz"), "2"], **run)
    assert ref.returncode == 0, ref.stderr
    with np.load(tmp_path / "m.npz") as m, np.load(tmp_path / "t.npz") as t:
        assert m.files == t.files
        for k in m.files:
            assert np.array_equal(m[k], t[k]), k


def test_two_ranks_train_as_one_and_resume_with_either(corpus, tmp_path):
    def train(out: str, ranks: int, steps: int, *more: str) -> dict:
        got = rnnlm("train", str(corpus), "--out", str(tmp_path / out), *SMALL,
                    "--max-steps", str(steps), "--json", *more, ranks=ranks)  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert got.stdout.count("best valid ppl") == 1  # rank 0 speaks for the job
        return json.loads(got.stdout.strip().splitlines()[-1])

    one, two = train("one", 1, 40), train("two", 2, 40)
    assert two["best_valid_ppl"] == pytest.approx(one["best_valid_ppl"], rel=1e-6)
    assert two["test_ppl"] == one["test_ppl"] is None
    assert_close(params(tmp_path / "two/last.npz"), params(tmp_path / "one/last.npz"), 1e-4)
    train("a", 2, 20)  # saved by two ranks, resumed by one
    train("a", 1, 40, "--resume")
    train("b", 1, 20)  # and the reverse
    train("b", 2, 40, "--resume")
    for run in ("a", "b"):
        assert_close(params(tmp_path / run / "last.npz"), params(tmp_path / "one/last.npz"), 1e-4)


def test_workers_flag_launches_mpiexec(corpus, tmp_path):
    got = rnnlm("train", str(corpus), "--out", str(tmp_path / "w"), *SMALL, "--max-steps", "10",
                "--workers", "2", "--json")  # fmt: skip
    assert got.returncode == 0, got.stderr
    ref = rnnlm("train", str(corpus), "--out", str(tmp_path / "m"), *SMALL, "--max-steps", "10",
                "--json", ranks=2)  # fmt: skip
    assert ref.returncode == 0, ref.stderr
    assert_close(params(tmp_path / "w/last.npz"), params(tmp_path / "m/last.npz"), 0)


def test_streams_that_do_not_divide_are_refused(corpus, tmp_path):
    got = rnnlm("train", str(corpus), "--out", str(tmp_path / "r"), "--batch-size", "3", ranks=2)
    assert got.returncode != 0
    # (an error line may share a line with mpiexec's own Abort message, both on stderr)
    errors = [line for line in got.stderr.splitlines() if "error:" in line]
    assert errors and all("--batch-size 3 is not divisible by the 2 workers" in e for e in errors)
    assert not (tmp_path / "r").exists()  # rank 0 removed the folder its lock made


def assert_resumable(corpus: Path, out: Path) -> None:
    from rnnlm.training import checkpoint

    step = checkpoint.load(out / "last.npz").progress["step"]
    got = rnnlm("train", str(corpus), "--out", str(out), "--resume", "--max-steps", str(step + 2))
    assert got.returncode == 0, got.stderr


@pytest.mark.parametrize(("rank", "what", "says"), [
    (1, "raise", "error: (rank 1) injected failure"),
    (0, "disk", "No space left"),
])  # fmt: skip
def test_a_failing_rank_ends_the_job_with_the_last_checkpoint_intact(
    corpus, tmp_path, rank, what, says
):
    out = tmp_path / "f"
    job = [sys.executable, "-m", "tests.mpi_job", "fault", str(rank), what, "--", "train",
           str(corpus), "--out", str(out), *SMALL, "--save-every", "2"]  # fmt: skip
    t0 = time.monotonic()
    got = subprocess.run([MPIEXEC, "-n", "2", *job], capture_output=True, text=True, timeout=60,
                         env=ENV, cwd=ROOT)  # fmt: skip
    assert got.returncode != 0 and time.monotonic() - t0 < 30
    assert says in got.stderr
    assert_resumable(corpus, out)


def rank_pids(out: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = proc.name.isdigit() and b"rnnlm" in cmd and str(out).encode() in cmd
        if ours and Path(cmd[0].decode()).name.startswith("python"):  # a rank, not mpiexec
            pids.append(int(proc.name))
    return pids


def start_long(corpus: Path, out: Path) -> subprocess.Popen:
    cmd = [MPIEXEC, "-n", "2", sys.executable, "-m", "rnnlm", "train", str(corpus), "--out",
           str(out), *SMALL, "--epochs", "500", "--save-every", "3"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV, cwd=ROOT, start_new_session=True)  # fmt: skip
    t0 = time.monotonic()
    while not (out / "last.npz").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 60
        time.sleep(0.05)
    return proc


def test_a_killed_rank_ends_the_job(corpus, tmp_path):
    out = tmp_path / "k"
    proc = start_long(corpus, out)
    pids = rank_pids(out)
    assert len(pids) == 2
    os.kill(max(pids), signal.SIGKILL)
    proc.communicate(timeout=30)  # the job ends instead of waiting for the dead rank
    assert proc.returncode != 0
    assert_resumable(corpus, out)


def test_ctrl_c_to_mpiexec_saves_and_says_how_to_resume(corpus, tmp_path):
    out = tmp_path / "c"
    proc = start_long(corpus, out)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: mpiexec and its proxy
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.count("Resume with:") == 1 and "--resume" in err
    assert_resumable(corpus, out)


def test_ranks_whose_parameters_differ_are_stopped():
    from rnnlm.training.distributed import RankMismatchError, ThreadGroup, check_same

    group, outcome = ThreadGroup(2), {}

    def rank(r: int, value: float) -> None:
        try:
            check_same(group.comm(r), {"w": np.full(3, value)})
            outcome[r] = "same"
        except RankMismatchError:
            outcome[r] = "differ"

    for values, expected in (((1.0, 1.0), "same"), ((1.0, 1.5), "differ")):
        threads = [threading.Thread(target=rank, args=(r, v)) for r, v in enumerate(values)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcome == {0: expected, 1: expected}


def test_threads_per_rank_share_the_machine(monkeypatch):
    from rnnlm.training import launcher

    for name in (*launcher.THREAD_VARS, "RNNLM_THREADS", *launcher.LOCAL_SIZE_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setenv("MPI_LOCALNRANKS", "4")
    launcher.configure_threads()
    assert os.environ["OPENBLAS_NUM_THREADS"] == os.environ["RNNLM_THREADS"] == "4"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")  # the user's choice is kept
    monkeypatch.setenv("MPI_LOCALNRANKS", "2")
    launcher.configure_threads()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "3"


def test_a_signal_to_one_rank_only_stops_every_rank(corpus, tmp_path):
    out = tmp_path / "one"
    proc = start_long(corpus, out)
    pids = rank_pids(out)
    assert len(pids) == 2
    os.kill(max(pids), signal.SIGTERM)  # as `kill` aimed at one process: mpiexec forwards nothing
    _, err = proc.communicate(timeout=60)  # (it hung here: the other rank did not know)
    assert proc.returncode == 143, err
    assert err.count("Resume with:") == 1
    assert_resumable(corpus, out)
