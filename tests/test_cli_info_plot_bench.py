"""rnnlm info, plot and bench."""

import json
import sys

import pytest

from rnnlm.training import checkpoint
from tests.cli_helpers import assert_one_line_error, run


def test_info(shared_run):
    _, out = shared_run
    result = run("info", out / "best.npz", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["vocab_size"] == 15 and info["unit"] == "word" and info["format"] == 1
    assert info["parameters"] == 15 * 8 + 8 * 8 + 8 * 8 + 8 + 8 * 15 + 15
    assert info["step"] > 0 and info["best_valid_ppl"] > 1 and info["file_bytes"] > 0
    assert info["model"]["hidden"] == 8 and info["train"]["optimizer"] == "sgd"
    assert run("info", out / "last.npz", "--json").stdout.count('"resumable": true') == 1
    text = run("info", out / "best.npz").stdout
    assert "parameters" in text and "best valid ppl" in text

    ck = checkpoint.load(out / "best.npz")
    full = dict(ck.progress)
    for drop in ("lr", "best_valid_ppl"):  # progress may lack either (e.g. a foreign writer)
        ck.progress = {k: v for k, v in full.items() if k != drop}
        checkpoint.save(out / "partial.npz", ck)
        partial = run("info", out / "partial.npz")
        assert partial.exit_code == 0, partial.output
        assert ("lr now" in partial.stdout) == (drop != "lr")


def test_plot_writes_a_png(shared_run, tmp_path):
    pytest.importorskip("matplotlib")
    _, out = shared_run
    png = tmp_path / "c.png"
    result = run("plot", out, out, "--out", png, "--width", "6", "--height", "3", "--dpi", "50")
    assert result.exit_code == 0, result.output
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (300, 150)
    assert_one_line_error(run("plot", tmp_path, "--out", png), 1, "metrics.jsonl")
    bare = run("plot", out, "--out", tmp_path / "curves", "--dpi", "20")  # no extension: .png
    assert bare.exit_code == 0, bare.output
    assert bare.stdout.strip() == str(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert_one_line_error(run("plot", out, "--out", tmp_path), 2, "is a folder")
    text = tmp_path / "notes.txt"
    text.write_text("keep me\n")
    assert_one_line_error(run("plot", out, "--out", text), 2, "cannot write")
    assert text.read_text() == "keep me\n"
    for bad in (["--width", "inf"], ["--height", "nan"], ["--width", "1e6"], ["--dpi", "0"]):
        assert_one_line_error(run("plot", out, "--out", png, *bad), 2, "--dpi")


def test_plot_without_matplotlib(shared_run, tmp_path, monkeypatch):
    _, out = shared_run
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_one_line_error(run("plot", out, "--out", tmp_path / "c.png"), 1, "pip install")


def test_plot_skips_records_without_both_perplexities(tmp_path):
    pytest.importorskip("matplotlib")
    metrics = tmp_path / "m.jsonl"
    metrics.write_text('{"kind": "epoch", "valid_ppl": 5}\n')
    got = run("plot", metrics, "--out", tmp_path / "p.png")
    assert_one_line_error(got, 1, str(metrics), "no epoch records")


@pytest.mark.parametrize("softmax", ["full", "class"])
def test_bench_json_has_the_documented_keys(softmax):
    """Figures themselves are timings (never asserted); their presence and sanity are."""
    tiny = ["bench", "--config", "S", "--vocab", "60", "--embed-dim", "8", "--hidden", "8",
            "--batch-size", "2", "--bptt", "3", "--steps", "2", "--repeats", "2",
            "--warmup", "1", "--softmax", softmax]  # fmt: skip
    table = run(*tiny)
    assert table.exit_code == 0, table.output
    assert ("of roofline" in table.stdout) == (softmax == "full")
    result = run(*tiny, "--json")
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    for key in ("tokens_per_s", "eval_tokens_per_s", "generate_ms_per_token", "config"):
        assert r[key] and (key == "config" or r[key] > 0), key
    assert r["config"]["hidden"] == 8 and r["config"]["vocab"] == 60
    lo, hi = r["tokens_per_s_range"]
    assert lo <= r["tokens_per_s"] <= hi
    if softmax == "full":
        assert r["gflops"] > 0 and r["matmul_gflops"] > 0
        lo, hi = r["roofline_ratio_range"]
        assert 0 < lo <= r["roofline_ratio"] <= hi
    else:  # the roofline model counts a full softmax's products only
        assert r["roofline_ratio"] is None and r["config"]["classes"] > 1
    assert_one_line_error(run(*tiny[:3], "--vocab", "1"), 2, "--vocab")
