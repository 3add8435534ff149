"""info, eval's table/baselines/per-token, generate's options, plot, dry-run, logs and pipes."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli import SMALL, assert_one_line_error, run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests.conftest import write_word_corpus

    tmp = tmp_path_factory.mktemp("tools")
    corpus = write_word_corpus(tmp / "tiny.txt")
    out = tmp / "run"
    result = run("train", corpus, "--out", out, *SMALL, "--epochs", "3", "--log-every", "40")
    assert result.exit_code == 0, result.output
    return corpus, out


def test_info(trained):
    _, out = trained
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
    from rnnlm.training import checkpoint

    ck = checkpoint.load(out / "best.npz")
    full = dict(ck.progress)
    for drop in ("lr", "best_valid_ppl"):  # progress may lack either (e.g. a foreign writer)
        ck.progress = {k: v for k, v in full.items() if k != drop}
        checkpoint.save(out / "partial.npz", ck)
        partial = run("info", out / "partial.npz")
        assert partial.exit_code == 0, partial.output
        assert ("lr now" in partial.stdout) == (drop != "lr")


def test_eval_table_baselines_and_per_token(trained, tmp_path):
    corpus, out = trained
    other = tmp_path / "other.txt"
    other.write_text("the cat sat on a mat\nthe dog ran\n")
    result = run(
        "eval", out / "best.npz", corpus, other, "--json", "--per-token", tmp_path / "t.jsonl"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [f["file"] for f in summary["files"]] == [str(corpus), str(other)]
    assert summary["tokens"] == sum(f["tokens"] for f in summary["files"])
    first = summary["files"][0]
    # a trained model beats a unigram model on its own training text
    assert first["perplexity"] < first["unigram_perplexity"]
    assert first["bigram_perplexity"] > 1
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert len(lines) == summary["tokens"]
    assert lines[-3:] == [
        {**lines[-3], "token": "dog"},
        {**lines[-2], "token": "ran"},
        {**lines[-1], "token": "<eos>"},
    ]
    mean_bits = sum(x["surprisal_bits"] for x in lines) / len(lines)
    assert mean_bits == pytest.approx(summary["bits_per_token"], rel=1e-6)
    table = run("eval", out / "best.npz", corpus, other).stdout
    assert "unigram ppl" in table and "total" in table


def test_per_token_never_clobbers_an_input_or_a_previous_file(trained, tmp_path, monkeypatch):
    corpus, out = trained
    ckpt = out / "best.npz"
    before = ckpt.read_bytes()
    for target in (ckpt, corpus):
        got = run("eval", ckpt, corpus, "--per-token", target)
        assert_one_line_error(got, 2, "is an input")
    assert ckpt.read_bytes() == before
    previous = tmp_path / "prev.jsonl"
    previous.write_text("earlier results\n")

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    target = tmp_path / "real.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)  # written through, the link kept (as /dev/stdout would be)
    assert run("eval", ckpt, corpus, "--per-token", link).exit_code == 0
    assert link.is_symlink() and target.read_text().count("\n") > 10
    link.unlink()
    target.unlink()
    assert_one_line_error(run("eval", ckpt, corpus, "--per-token", "-"), 2, "--per-token")
    log = tmp_path / "log.txt"  # stdout appended to a file, and that file as --per-token
    log.write_text("earlier output\n")
    with open(log, "a") as out:
        same = subprocess.run(
            [sys.executable, "-m", "rnnlm", "eval", str(ckpt), str(corpus), "--per-token",
             "/dev/stdout"], stdout=out, stderr=subprocess.PIPE, text=True, timeout=60,
        )  # fmt: skip
    assert same.returncode == 2 and "is standard output" in same.stderr, same.stderr
    assert log.read_text() == "earlier output\n"
    log.unlink()
    monkeypatch.setattr("rnnlm.cli.evaluate.os.replace", disk_full)
    got = run("eval", ckpt, corpus, "--per-token", previous)
    assert_one_line_error(got, 1, "cannot write", "No space left")
    assert previous.read_text() == "earlier results\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prev.jsonl"]  # no temporary left


def test_eval_reads_stdin(trained):
    from tests.test_cli import app, runner

    corpus, out = trained
    text = corpus.read_text()
    piped = runner.invoke(app, ["eval", str(out / "best.npz"), "-", "--json"], input=text)
    assert piped.exit_code == 0, piped.output
    from_file = json.loads(run("eval", out / "best.npz", corpus, "--json").stdout)
    assert json.loads(piped.stdout)["perplexity"] == from_file["perplexity"]
    empty = runner.invoke(app, ["eval", str(out / "best.npz"), "-"], input="")
    assert_one_line_error(empty, 1, "<stdin>", "empty")
    twice = runner.invoke(app, ["eval", str(out / "best.npz"), "-", "-"], input=text)
    assert_one_line_error(twice, 2, "standard input (-) can be scored once")
    # only eval reads '-': for train it is a file name like any other
    assert_one_line_error(run("train", corpus, "--valid", "-", "--out", "o"), 1, "-: no such file")


def test_closed_stdin_is_one_error(monkeypatch):
    from rnnlm.data.text import read_stdin
    from rnnlm.errors import CorpusError

    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(CorpusError, match="standard input is closed"):
        read_stdin()


def test_eval_baseline_from_a_file(trained, tmp_path):
    corpus, out = trained
    result = run("eval", out / "best.npz", corpus, "--json", "--baseline-from", corpus)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["files"][0]["unigram_perplexity"] > 1


def test_eval_refuses_wrong_checkpoint_text(trained, tmp_path):
    _, out = trained
    alien = tmp_path / "alien.txt"
    alien.write_text("lorem ipsum dolor sit amet consectetur\n")
    assert_one_line_error(run("eval", out / "best.npz", alien), 1, "--allow-oov")
    assert run("eval", out / "best.npz", alien, "--allow-oov").exit_code == 0


def test_generate_options(trained):
    _, out = trained
    ck = out / "best.npz"
    many = run(
        "generate", ck, "--num-samples", "3", "--length", "30", "--stop", "<eos>", "--seed", "1"
    )
    assert many.exit_code == 0, many.output
    samples = [s for s in many.stdout.split("\n\n") if s.strip()]
    assert len(samples) == 3 and all(s.count("\n") <= 1 for s in samples)
    p1 = run("generate", ck, "--top-p", "0.0001", "--length", "8").stdout
    assert p1 == run("generate", ck, "--greedy", "--length", "8").stdout
    assert_one_line_error(run("generate", ck, "--top-p", "0"), 2, "--top-p")
    scored = json.loads(
        run("generate", ck, "--prompt", "the cat", "--score", "sat on a mat").stdout
    )
    assert scored["tokens"] == 4 and scored["logprob"] < 0
    assert scored["bits"] == pytest.approx(-scored["logprob"] / 0.6931471805599453)


def test_metrics_has_step_records(trained):
    _, out = trained
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in recs if r["kind"] == "step"]
    assert steps and all(r["step"] % 40 == 0 for r in steps)
    epochs = [r for r in recs if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3]
    assert epochs[-1]["tokens_seen"] > epochs[0]["tokens_seen"] > 0


def test_plot_writes_a_png(trained, tmp_path):
    pytest.importorskip("matplotlib")
    _, out = trained
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


def test_plot_without_matplotlib(trained, tmp_path, monkeypatch):
    _, out = trained
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_one_line_error(run("plot", out, "--out", tmp_path / "c.png"), 1, "pip install")


def test_dry_run(tmp_path, word_corpus):
    result = run("train", word_corpus, "--dry-run", "--embed-dim", "8", "--hidden", "8")
    assert result.exit_code == 0, result.output
    assert "dry run ok" in result.stdout
    assert not (tmp_path / "runs").exists()


def test_piped_output_has_no_control_characters(tmp_path, word_corpus):
    """Logs and pipes get plain lines: no cursor movement, no colour."""
    cmd = [sys.executable, "-m", "rnnlm", "train", str(word_corpus), "--out", str(tmp_path / "r"),
           *SMALL]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "epoch   1" in proc.stderr and "best valid ppl" in proc.stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", proc.stderr + proc.stdout)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "rnnlm", "train", str(bad)], capture_output=True,
                          text=True, timeout=60, env={"NO_COLOR": "1", "PATH": ""})  # fmt: skip
    assert proc.returncode == 1 and "\x1b" not in proc.stderr


def test_stdout_gone_or_full(trained, tmp_path):
    """`| head` that stops reading ends quietly with exit 0; a full disk is one line, exit 1;
    a closed stdout is no crash."""
    corpus, out = trained
    cmd = [sys.executable, "-m", "rnnlm", "generate", str(out / "best.npz"), "--length", "20000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()  # the reader goes away mid-stream
    assert proc.wait(timeout=60) == 0
    assert b"Traceback" not in proc.stderr.read()
    proc.stderr.close()
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            done = subprocess.run([*cmd[:5], "--length", "5"], stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=60)  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert (
            done.stderr.strip()
            == "error: cannot write the results to stdout (No space left on device)"
        )
    if Path("/dev/full").exists():  # the eval table too
        with open("/dev/full", "w") as full:
            table = subprocess.run(
                [*cmd[:3], "eval", str(out / "best.npz"), str(corpus)],
                stdout=full, stderr=subprocess.PIPE, text=True, timeout=60,
            )  # fmt: skip
        assert table.returncode == 1 and "Traceback" not in table.stderr, table.stderr
    closed = subprocess.run([*cmd[:5], "--length", "5"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, timeout=60,
                            preexec_fn=lambda: os.close(1))  # fmt: skip
    assert closed.returncode == 0 and "Traceback" not in closed.stderr


def test_python_dash_m_and_version():
    proc = subprocess.run(
        [sys.executable, "-m", "rnnlm", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and re.match(r"rnnlm \d+\.\d+\.\d+", proc.stdout)
    for cmd in ("train", "eval", "generate", "info", "plot", "bench"):
        assert run(cmd, "--help").exit_code == 0


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


def test_dry_run_oov_rates_are_those_of_a_real_run(tmp_path):
    """The dry run scores a slice of the validation text; its OOV rate is still the whole
    text's (it once divided the whole text's OOV count by the slice's length: "583%")."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in rng.zipf(1.3, 6000) % 500]
    text = tmp_path / "zipf.txt"
    text.write_text("\n".join(" ".join(words[i : i + 20]) for i in range(0, 6000, 20)) + "\n")
    opts = ("--embed-dim", "8", "--hidden", "8", "--max-vocab", "20")
    result = run("train", text, "--dry-run", *opts)
    assert result.exit_code == 0, result.output
    assert "not in the training vocabulary" not in result.stderr


def test_default_run_folder_is_named_after_the_corpus(tmp_path, monkeypatch):
    from rnnlm.cli.train import default_out

    (tmp_path / "shakespeare").mkdir()
    monkeypatch.chdir(tmp_path / "shakespeare")
    assert default_out(".") == Path("runs") / "shakespeare"  # not runs/ itself
    assert default_out("..") == Path("runs") / tmp_path.name
    (tmp_path / "shakespeare" / "real.txt").write_text("a\n")
    (tmp_path / "shakespeare" / "link.txt").symlink_to("real.txt")
    assert default_out("link.txt") == Path("runs") / "link"  # the name typed, as before
    assert default_out("ptb") == Path("runs") / "ptb"
    assert default_out("corpora/input.txt") == Path("runs") / "input"


@pytest.mark.parametrize(("signum", "code"), [(2, 130), (15, 143)])
def test_a_signal_before_training_is_one_line(monkeypatch, capsys, word_corpus, signum, code):
    """Ctrl-C or SIGTERM while the corpus loads (or downloads): "interrupted", exit 130/143.
    (typer turns a KeyboardInterrupt into a silent exit 130; rnnlm's handler raises its own.)"""
    import importlib
    import signal

    from rnnlm import cli
    from rnnlm.cli import console

    train_cli = importlib.import_module("rnnlm.cli.train")  # (rnnlm.cli.train is the command)

    def arrives(*args, **kwargs):
        assert signal.getsignal(signum) is console.raise_interrupted  # main()'s, while it runs
        console.raise_interrupted(signum, None)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(train_cli, "prepare", arrives)
    monkeypatch.setattr(sys, "argv", ["rnnlm", "train", str(word_corpus)])
    try:
        with pytest.raises(SystemExit) as info:
            cli.main()
        assert {s: signal.getsignal(s) for s in previous} == previous  # restored on return
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    assert info.value.code == code
    assert capsys.readouterr().err.strip() == "interrupted"


@pytest.mark.parametrize("width", [80, 100, 132])
def test_progress_bar_fits_the_terminal_with_its_eta(width):
    import io

    from rich.console import Console
    from rich.progress import Progress

    from rnnlm.cli.progress import WIDE, columns

    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None)
    bar = Progress(*columns(width), console=console, auto_refresh=False)
    bar.add_task("train", total=39 * 1328, completed=20_000, epoch=16, epochs=39,
                 window="1,234/1,328", tps=12_345.0, loss=3.765, ppl=43.21, lr=0.0151)  # fmt: skip
    console.print(bar.make_tasks_table(bar.tasks))
    (line,) = buf.getvalue().splitlines()
    assert len(line) <= width
    assert "12,345 tok/s" in line and "loss 3.765" in line and "43.21" in line
    assert re.search(r"eta [-\d]+:[-\d]{2}:[-\d]{2}$", line), line
    assert ("lr 0.0151" in line and "1,234/1,328" in line) == (width >= WIDE)


def test_valid_fraction_is_refused_where_the_corpus_has_validation_text(split_folder, tmp_path):
    got = run("train", split_folder, "--valid-fraction", "0.2", "--out", tmp_path / "o")
    assert_one_line_error(got, 2, "--valid-fraction", "x.valid.txt")
    assert not (tmp_path / "o").exists()


def test_an_ignored_sigint_stays_ignored(monkeypatch, word_corpus):
    """A job started in the background by a script ignores SIGINT; rnnlm keeps it so."""
    import importlib
    import signal

    from rnnlm import cli
    from rnnlm.errors import ConfigError

    train_cli = importlib.import_module("rnnlm.cli.train")
    seen = {}

    def prepare(*args, **kwargs):
        seen["sigint"] = signal.getsignal(signal.SIGINT)
        raise ConfigError("stop here")

    monkeypatch.setattr(train_cli, "prepare", prepare)
    monkeypatch.setattr(sys, "argv", ["rnnlm", "train", str(word_corpus)])
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(SystemExit):
            cli.main()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen["sigint"] is signal.SIG_IGN


def test_plot_skips_records_without_both_perplexities(tmp_path):
    pytest.importorskip("matplotlib")
    metrics = tmp_path / "m.jsonl"
    metrics.write_text('{"kind": "epoch", "valid_ppl": 5}\n')
    got = run("plot", metrics, "--out", tmp_path / "p.png")
    assert_one_line_error(got, 1, str(metrics), "no epoch records")
