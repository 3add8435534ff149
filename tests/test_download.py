"""Named-corpus download against a local HTTP server on 127.0.0.1 (never the internet)."""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from rnnlm.datasets import data_dir, named_corpus_files, registry
from rnnlm.download import fetch
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
