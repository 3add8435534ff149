"""Every kind of input path ends in bounded memory: read in pieces, or one line and exit != 0."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlm.data import encode, limits, stream
from rnnlm.data.corpus import load_corpus
from rnnlm.data.limits import MemoryBudget
from rnnlm.data.stream import read_chunks
from rnnlm.data.text import read_text, tokenize
from rnnlm.errors import CorpusError
from tests.test_cli import assert_one_line_error, run


def rnnlm(*args, timeout=30, **kw):
    cmd = [sys.executable, "-m", "rnnlm", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def one_line(proc, *needles):
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and all(n in lines[0] for n in needles), lines[0]


def streamed_tokens(path, unit):
    return [t for piece in read_chunks(path) for t in encode.piece_tokens(piece, unit)]


TEXT = st.text(st.sampled_from(list("ab \t\n\r\x0b\x85\u2028é€😀")), max_size=60)


@given(text=TEXT, bom=st.booleans(), chunk=st.integers(1, 9))
def test_pieces_tokenise_as_the_whole_text(tmp_path_factory, text, bom, chunk):
    path = tmp_path_factory.mktemp("t") / "c.txt"
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    path.write_bytes(data)
    try:
        whole = read_text(path)
    except CorpusError as exc:
        with pytest.raises(CorpusError, match="empty"):
            list(read_chunks(path))
        assert "empty" in str(exc)
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stream, "CHUNK_BYTES", chunk)  # pieces split \r\n and multi-byte characters
        assert "".join(read_chunks(path)) == whole
        for unit in ("word", "char"):
            assert streamed_tokens(path, unit) == tokenize(whole, unit)


@pytest.mark.parametrize(
    "data, needle",
    [(b"", "file is empty"), (b"\xef\xbb\xbf \n", "file is empty"), (b"a\x00b", "binary"),
     (b"ok\nline two\ncaf\xe9\n", "not valid UTF-8 (byte 15, line 3)"),
     (b"\xef\xbb\xbfok\n\xff", "not valid UTF-8 (byte 3, line 2)")],
)  # fmt: skip
def test_errors_are_those_of_read_text(tmp_path, monkeypatch, data, needle):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(CorpusError) as old:
        read_text(path)
    for size in (1 << 20, 2):
        monkeypatch.setattr(stream, "CHUNK_BYTES", size)
        with pytest.raises(CorpusError) as new:
            list(read_chunks(path))
        assert str(new.value) == str(old.value) and needle in str(new.value)
    with pytest.raises(CorpusError, match="no such file"):
        list(read_chunks(tmp_path / "missing.txt"))
    with pytest.raises(CorpusError, match="is a folder"):
        list(read_chunks(tmp_path))


def test_a_line_longer_than_the_limit_is_refused(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("short line\n" + "x" * (limits.MAX_LINE_CHARS + 1) + "\nend\n")
    for args in (
        ("train", path, "--out", tmp_path / "r"),
        ("prepare", path, "--out", tmp_path / "p"),
    ):
        assert_one_line_error(run(*args), 1, "line 2 is longer than 1,048,576 characters", "fold")
    assert not (tmp_path / "p").exists()
    path.write_text("x" * limits.MAX_LINE_CHARS + "\n" + "y\n" * 10)  # at the limit: fine
    data = load_corpus({"train": path}, "word")
    assert len(data["train"]) + len(data["valid"]) == 22  # (x <eos>, then y <eos> ten times)


def test_a_file_growing_while_read_is_read_to_its_size_at_opening(tmp_path, monkeypatch):
    path = tmp_path / "grows.txt"
    path.write_text("a b\nc d\n")
    monkeypatch.setattr(stream, "CHUNK_BYTES", 4)
    pieces = read_chunks(path)
    first = next(pieces)
    with open(path, "a") as f:
        f.write("more text\n" * 100)
    assert first + "".join(pieces) == "a b\nc d\n"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("command", ["train", "prepare", "eval"])
def test_endless_devices_end_with_one_line(tmp_path, device, command):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    args = {"train": ("train", device, "--out", tmp_path / "r"),
            "prepare": ("prepare", device, "--out", tmp_path / "p"),
            "eval": ("eval", tmp_path / "none.npz", device)}[command]  # fmt: skip
    if command == "eval":
        assert run("train", _corpus(tmp_path), "--out", tmp_path / "m", "--max-steps", "1",
                   "--embed-dim", "4", "--hidden", "4").exit_code == 0  # fmt: skip
        args = ("eval", tmp_path / "m" / "best.npz", device)
    start = time.monotonic()
    one_line(rnnlm(*args), device, "binary")
    assert time.monotonic() - start < 20
    assert not (tmp_path / "p").exists()


def _corpus(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("the cat sat on the mat\n" * 200)
    return path


def _fifo_writer(path, chunk: bytes, stop: threading.Event, count: int | None = None):
    """Write ``chunk`` into the FIFO ``path`` ``count`` times, or until the reader goes."""

    def write():
        try:
            with open(path, "wb") as f:
                n = 0
                while not stop.is_set() and (count is None or n < count):
                    f.write(chunk)
                    n += 1
        except (BrokenPipeError, OSError):
            pass

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def test_a_fifo_of_endless_text_stops_at_the_memory_budget(fifo, monkeypatch):
    stop = threading.Event()
    writer = _fifo_writer(fifo, b"the cat sat on the mat\n" * 1000, stop)
    monkeypatch.setattr(limits, "available_memory", lambda: 20 << 20)  # 10 MiB for the ids
    start = time.monotonic()
    try:
        with pytest.raises(CorpusError, match=r"too large to load into memory.*rnnlm prepare"):
            load_corpus({"train": fifo}, "word")
    finally:
        stop.set()
    writer.join(5)
    assert time.monotonic() - start < 20


def test_a_fifo_of_finite_text_is_read_like_a_file(tmp_path, fifo):
    text = b"the cat sat\non the mat\n" * 300
    (tmp_path / "c.txt").write_bytes(text)
    writer = _fifo_writer(fifo, text, threading.Event(), count=1)
    got = load_corpus({"train": fifo}, "word")
    writer.join(5)
    want = load_corpus({"train": tmp_path / "c.txt"}, "word")
    np.testing.assert_array_equal(got["train"], want["train"])


def test_a_fifo_of_endless_binary_ends_with_one_line(tmp_path, fifo):
    writer = subprocess.Popen(["sh", "-c", f"cat /dev/zero > {fifo}"], stderr=subprocess.DEVNULL)
    try:
        one_line(rnnlm("prepare", fifo, "--out", tmp_path / "p"), "binary")
    finally:
        writer.kill()
        writer.wait()
    assert not (tmp_path / "p").exists()


def test_ctrl_c_while_waiting_on_a_fifo(tmp_path, fifo):
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnlm", "prepare", str(fifo), "--out", str(tmp_path / "p")],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)  # blocked opening the FIFO: nobody writes to it
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "interrupted" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


def test_a_corpus_too_large_for_memory_points_to_prepare(tmp_path, monkeypatch):
    path = _corpus(tmp_path)
    with pytest.raises(CorpusError, match=r"c.txt: too large .*`rnnlm prepare .*c.txt --out DIR`"):
        load_corpus({"train": path}, "word", budget=MemoryBudget(str(path), budget=1000))
    monkeypatch.setattr(limits, "available_memory", lambda: 100)
    assert_one_line_error(run("train", path, "--out", tmp_path / "r"), 1, "rnnlm prepare")
    assert run("prepare", path, "--out", tmp_path / "p").exit_code == 0  # the way out
