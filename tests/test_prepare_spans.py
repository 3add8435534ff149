"""``rnnlm prepare`` on several cores writes the bytes that one core writes, and fails alike.

The first pass reads a large file in spans cut at line ends, one per forked process
(rnnlm/data/scratch.py), and the second counts n-grams in a forked child (prepare.py). Here the
spans are made tiny so that a small corpus with every awkward kind of text is cut many times,
at every kind of place, and the result is compared byte for byte with one process's.
"""

import itertools
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from rnnlm.data import forked, scratch, stream
from rnnlm.data import prepare as prepare_mod
from rnnlm.data.corpus import load_corpus
from rnnlm.data.prepare import prepare_corpus
from rnnlm.data.prepared import load_prepared
from rnnlm.data.stream import line_spans, read_chunks
from rnnlm.data.text import read_text
from rnnlm.errors import CorpusError

OUTPUTS = ("train.ids", "valid.ids", "test.ids", "stats.npz", "meta.json")


def tricky_text(seed: int = 0) -> bytes:
    """Blank lines, CRLF and lone CR line ends, tabs and the other ASCII spaces, non-ASCII
    words and spaces (which str.split splits on), words longer than the table's keys, a
    byte-order mark inside the text (a word there, not a mark), a very long line, and no
    newline at the end."""
    rnd = np.random.default_rng(seed)
    words = ["the", "cat", "sat", "é", "naïve", "😀", "日本語", "x" * 40, "über-long-word",
             "a\u00a0b", "c\u2028d", "\ufeffmark", "<unk>", "<eos>", "tab\tbed",
             "f\x1cg"]  # fmt: skip
    ends = ["\n", "\n", "\n", "\r\n", "\r", "\n\n", " \n", "\t\n", "\x0b\n", "\x0c\n"]
    lines = []
    for i in range(700):
        n = int(rnd.integers(0, 9))
        line = " ".join(words[int(k)] for k in rnd.integers(0, len(words), n))
        if i == 350:
            line = " ".join(["long"] * 30_000)  # (150 KB: longer than the spans here)
        lines.append(line + ends[int(rnd.integers(0, len(ends)))])
    return ("\ufeff" + "".join(lines) + "the end without a newline").encode("utf-8")


def spread(monkeypatch, span_bytes: int = 3000, workers: int = 4) -> list:
    """Make prepare cut even small files into spans, on ``workers`` processes; returns the list
    of children it forks, which fills as it runs."""
    monkeypatch.setattr(scratch, "cores", lambda: workers)
    monkeypatch.setattr(prepare_mod, "cores", lambda: workers)
    monkeypatch.setattr(scratch, "SPAN_BYTES", span_bytes)
    monkeypatch.setattr(scratch, "WORKERS", workers)
    monkeypatch.setattr(prepare_mod, "PIECE", 1000)  # (several pieces: the n-grams' halves)
    children = []
    real = forked.start

    def counted(*args):
        child = real(*args)
        children.append(child)
        return child

    monkeypatch.setattr(scratch, "start", counted)
    monkeypatch.setattr(prepare_mod, "start", counted)
    return children


def prepared_bytes(folder) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in OUTPUTS if (folder / name).exists()}


@pytest.mark.parametrize("unit, chunk", [("word", 1 << 20), ("word", 777), ("char", 1 << 20)])
@pytest.mark.parametrize("separate", [False, True])  # valid split off the text, or its own file
def test_spans_write_the_bytes_of_one_process(tmp_path, monkeypatch, unit, chunk, separate):
    corpus = tmp_path / "tricky.txt"
    corpus.write_bytes(tricky_text())
    extra = {}
    if separate:
        valid = tmp_path / "valid.txt"
        text = tricky_text(seed=1)
        valid.write_bytes(text[: text.index(b"\n", 20_000) + 1])
        extra = {"valid": valid, "test": valid}
    monkeypatch.setattr(stream, "CHUNK_BYTES", chunk)
    with monkeypatch.context() as one:
        one.setattr(scratch, "cores", lambda: 1)
        one.setattr(prepare_mod, "cores", lambda: 1)
        one.setattr(prepare_mod, "PIECE", 1000)
        prepare_corpus(str(corpus), tmp_path / "one", unit=unit, **extra)
    children = spread(monkeypatch)
    prepare_corpus(str(corpus), tmp_path / "many", unit=unit, **extra)
    assert len(children) >= 4  # (spans of the training text, and the n-gram half)
    one, many = prepared_bytes(tmp_path / "one"), prepared_bytes(tmp_path / "many")
    assert set(one) == set(many) and len(one) == (5 if separate else 4)
    for name in one:
        assert many[name] == one[name], name
    files = {"train": corpus, **extra}
    want = load_corpus(files, unit)  # (and both are what the text loaded in memory gives)
    got = load_prepared(tmp_path / "many")
    assert got.vocab.tokens == want.vocab.tokens
    for split in want.splits:
        np.testing.assert_array_equal(got[split], want[split])


def test_where_no_process_can_be_made_the_work_is_done_here(tmp_path, monkeypatch):
    corpus = tmp_path / "tricky.txt"
    corpus.write_bytes(tricky_text())
    with monkeypatch.context() as one:
        one.setattr(scratch, "cores", lambda: 1)
        one.setattr(prepare_mod, "cores", lambda: 1)
        prepare_corpus(str(corpus), tmp_path / "one")

    def no_process():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    children = spread(monkeypatch)
    monkeypatch.setattr(forked.os, "fork", no_process)
    prepare_corpus(str(corpus), tmp_path / "here")
    assert len(children) >= 4 and all(isinstance(c, forked.Inline) for c in children)
    assert prepared_bytes(tmp_path / "here") == prepared_bytes(tmp_path / "one")


def test_line_spans_cut_at_line_ends_and_cover_the_file(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    data = tricky_text()
    path.write_bytes(data)
    spans = line_spans(path, 8, 2000)
    assert spans is not None and len(spans) == 8
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    for (_, stop), (start, _) in itertools.pairwise(spans):
        assert stop == start and data[start - 1 : start] == b"\n"
    pieces = [p for span in spans for p in read_chunks(path, span=span)]
    assert "".join(pieces) == read_text(path)
    assert line_spans(path, 8, len(data)) is None  # (too small to cut)
    monkeypatch.setattr(stream, "CHUNK_BYTES", 1000)
    blank_start = tmp_path / "b.txt"
    blank_start.write_bytes(b"\xef\xbb\xbf" + b" \n" * 500 + b"text\n" * 1000)
    assert line_spans(blank_start, 2, 100) is None  # (only a whole read tells it from empty)
    blank_start.write_bytes(b"\xef\xbb\xbf" + b" \n" * 498 + b"text\n" * 1000)
    assert len(line_spans(blank_start, 2, 100)) == 2
    one_line = tmp_path / "one.txt"
    one_line.write_bytes(b"x" * 10_000)
    assert line_spans(one_line, 2, 100) is None
    assert line_spans("/dev/zero", 2, 1) is None and line_spans(tmp_path / "no", 2, 1) is None
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []  # (not opened: opening it would wait for a writer, so ask in a thread)
    asking = threading.Thread(target=lambda: got.append(line_spans(fifo, 2, 1)), daemon=True)
    asking.start()
    asking.join(timeout=30)
    assert got == [None]


@pytest.mark.parametrize(
    "bad, needle",
    [(b"caf\xe9 au lait\n", "not valid UTF-8"), (b"a\x00b\n", "binary"),
     (b"y" * 5000 + b"\n", "longer than 4,000 characters")],
)  # fmt: skip
def test_a_problem_in_a_late_span_is_named_as_by_one_process(tmp_path, monkeypatch, bad, needle):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good words here\n" * 2000 + bad + b"more good words\n" * 500)
    monkeypatch.setattr(stream, "MAX_LINE_CHARS", 4000)
    monkeypatch.setattr(stream, "CHUNK_BYTES", 1000)  # (a line is checked across pieces)
    with pytest.raises(CorpusError) as whole:
        list(read_chunks(path))
    children = spread(monkeypatch)
    with pytest.raises(CorpusError) as spans:
        prepare_corpus(str(path), tmp_path / "p")
    assert children and str(spans.value) == str(whole.value) and needle in str(whole.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]


def test_a_child_s_exception_reaches_the_parent_and_a_killed_child_is_one_error():
    child = forked.Forked(int, "not a number")
    with pytest.raises(ValueError, match="not a number"):
        child.result()
    assert forked.Forked(sum, [1, 2, 3]).result() == 6
    child = forked.Forked(time.sleep, 60)
    os.kill(child.pid, 9)
    with pytest.raises(forked.WorkerDiedError, match="ended early"):
        child.result()


def test_an_interrupted_wait_ends_the_child_at_once(monkeypatch):
    """Ctrl-C while waiting for a child (which ignores SIGINT) ends the child and returns,
    instead of waiting for the child's work to finish."""
    child = forked.Forked(time.sleep, 30)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        child.result()
    assert time.monotonic() - t0 < 5
    with pytest.raises(ChildProcessError):  # reaped: no such child any more
        os.waitpid(child.pid, os.WNOHANG)


def test_a_child_killed_mid_answer_is_one_error():
    """A child killed while its (large) answer fills the pipe: the parent reads a truncated
    pickle, and says so as the one-line error, not a traceback."""
    child = forked.Forked(lambda n: ["w" * 20] * n, 2_000_000)
    time.sleep(0.5)  # its answer (tens of MB) is now blocked on the full pipe
    os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(forked.WorkerDiedError, match="ended early"):
        child.result()


def test_a_failed_fork_leaks_no_file_descriptor(monkeypatch):
    def no_fork():
        raise OSError("no more processes")

    monkeypatch.setattr(os, "fork", no_fork)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(OSError):
            forked.Forked(sum, [1])
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_child_ends_when_its_parent_is_killed(tmp_path):
    code = (
        "import os, time\n"
        "from rnnlm.data import forked\n"
        "def wait():\n"
        "    while not forked.orphaned():\n"
        "        time.sleep(0.01)\n"
        "child = forked.Forked(wait)\n"
        "print(child.pid, flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    # (run() returns once the child, which holds its output open, has ended too)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    pid = int(proc.stdout)
    for _ in range(1000):  # (it notices at once; ten seconds at most)
        if not _alive(pid):
            break
        time.sleep(0.01)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, ended but not yet reaped by init, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
