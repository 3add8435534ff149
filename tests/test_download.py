"""Named-corpus download against a local HTTP server on 127.0.0.1 (never the internet)."""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from rnnlm.data.download import fetch
from rnnlm.data.named import data_dir, named_corpus_files, registry
from rnnlm.errors import DownloadError

BODY = b"hello world\n" * 1000


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/good.txt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/partial.txt":  # promises more than it sends, then hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[:100])
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


SHA = hashlib.sha256(BODY).hexdigest()


def test_download_verifies_and_caches(server, tmp_path):
    dest = tmp_path / "c" / "good.txt"
    seen = []
    fetch(f"{server}/good.txt", dest, SHA, on_progress=lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == BODY
    assert seen[-1] == (len(BODY), len(BODY))
    fetch(f"{server}/missing", dest, SHA)  # cached: no request made, no error


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    dest = tmp_path / "good.txt"
    with pytest.raises(DownloadError, match="wrong sha256"):
        fetch(f"{server}/good.txt", dest, "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_partial_download_leaves_nothing(server, tmp_path):
    dest = tmp_path / "p.txt"
    with pytest.raises(DownloadError):
        fetch(f"{server}/partial.txt", dest, SHA, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_http_error_and_unreachable(server, tmp_path):
    with pytest.raises(DownloadError, match="cannot download"):
        fetch(f"{server}/missing", tmp_path / "m.txt", SHA)
    with pytest.raises(DownloadError, match="cannot download"):
        fetch("http://127.0.0.1:9/x", tmp_path / "m.txt", SHA, timeout=2)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_with_wrong_checksum_is_reported(tmp_path):
    dest = tmp_path / "x.txt"
    dest.write_text("tampered")
    with pytest.raises(DownloadError, match="delete it"):
        fetch("http://127.0.0.1:9/x", dest, SHA)


def test_named_corpus_downloads_into_data_dir(server, tmp_path):
    spec = {
        "unit": "word",
        "files": {"train": {"name": "t.txt", "url": f"{server}/good.txt", "sha256": SHA}},
    }
    paths = named_corpus_files("mini", tmp_path, spec)
    assert paths["train"] == tmp_path / "mini" / "t.txt" and paths["train"].read_bytes() == BODY


def test_registry_has_the_named_corpora():
    reg = registry()
    assert {"ptb", "wikitext-2", "tinyshakespeare"} <= set(reg)
    for spec in reg.values():
        assert spec["unit"] in ("word", "char")
        for f in spec["files"].values():
            assert f["url"].startswith("https://") and len(f["sha256"]) == 64


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNLM_DATA", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("RNNLM_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == Path(tmp_path / "cache" / "rnnlm")


def test_failed_download_leaves_no_new_folders(tmp_path):
    dest = tmp_path / "new" / "corpus" / "m.txt"
    with pytest.raises(DownloadError, match="cannot download"):
        fetch("http://127.0.0.1:9/x", dest, SHA, timeout=2)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_data_folder_is_one_clear_error(monkeypatch, tmp_path):
    """A read-only file system: the part file cannot be made, nor (EROFS, not ENOENT)
    unlinked; the error names the folder, and nothing but a DownloadError escapes."""
    import errno
    import os

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "open", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    with pytest.raises(DownloadError, match=r"cannot write in .*: Read-only file system"):
        fetch("http://127.0.0.1:9/x", tmp_path / "m.txt", SHA, timeout=2)


def test_interrupted_download_removes_its_part_file(server, tmp_path):
    from rnnlm.cli.console import Interrupted

    def stop(done, total):
        raise Interrupted(15)  # SIGTERM arriving mid-download

    with pytest.raises(Interrupted):
        fetch(f"{server}/good.txt", tmp_path / "c" / "good.txt", SHA, on_progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_missing_named_corpus_says_where_it_looked(monkeypatch, tmp_path):
    from rnnlm.data import corpus

    spec = {
        "unit": "word",
        "files": {"train": {"name": "t.txt", "url": "http://127.0.0.1:9/x", "sha256": SHA}},
    }
    monkeypatch.setattr(corpus, "registry", lambda: {"mini": spec})
    monkeypatch.setenv("RNNLM_DATA", str(tmp_path / "typo"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DownloadError) as info:
        corpus.resolve_files("mini")
    message = str(info.value)
    assert "cannot download" in message and str(tmp_path / "typo") in message
    assert "$RNNLM_DATA" in message
    assert not (tmp_path / "typo").exists()  # no empty folders left behind


def test_a_run_folder_named_like_a_corpus_does_not_hide_it(monkeypatch, tmp_path):
    """`rnnlm train mini --out mini` makes a folder `mini`; resuming must still find the
    corpus `mini`, not refuse the run folder as a corpus without a training file."""
    from rnnlm.data import corpus

    data = tmp_path / "data"
    (data / "mini").mkdir(parents=True)
    (data / "mini" / "t.txt").write_bytes(BODY)
    spec = {
        "unit": "word",
        "files": {"train": {"name": "t.txt", "url": "http://127.0.0.1:9/x", "sha256": SHA}},
    }
    monkeypatch.setattr(corpus, "registry", lambda: {"mini": spec})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "metrics.jsonl").write_text("")
    files, unit = corpus.resolve_files("mini", data)
    assert files == {"train": data / "mini" / "t.txt"} and unit == "word"
    (tmp_path / "mini" / "train.txt").write_text("a b\n")  # a corpus folder wins, as before
    files, unit = corpus.resolve_files("mini", data)
    assert files == {"train": Path("mini") / "train.txt"} and unit is None
