"""The command line as a user meets it, through typer's CliRunner: one end-to-end run, help,
parser errors, what reaches a terminal or a pipe."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import SMALL, assert_one_line_error, run, script


def test_train_eval_generate(tmp_path, word_corpus, trained):
    out, summary = trained
    assert {
        "best_valid_ppl",
        "test_ppl",
        "epochs",
        "steps",
        "tokens_per_s",
        "seconds",
        "checkpoint",
    } <= set(summary)
    assert summary["epochs"] == 2 and 1 < summary["best_valid_ppl"] < 20
    assert (out / "best.npz").exists() and (out / "last.npz").exists()
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert {
        "epoch",
        "train_loss",
        "train_ppl",
        "valid_ppl",
        "lr",
        "tokens_per_s",
        "seconds",
    } <= set(metrics[0])

    result = run("eval", out / "best.npz", word_corpus, "--json")
    assert result.exit_code == 0, result.output
    ev = json.loads(result.stdout)
    assert {"perplexity", "tokens", "oov_rate", "bits_per_token"} <= set(ev)
    assert ev["oov_rate"] == 0.0 and ev["tokens"] == len(word_corpus.read_text().split()) + 300

    result = run("eval", out / "best.npz", word_corpus)
    assert result.exit_code == 0 and "perplexity" in result.stdout

    args = ["generate", out / "best.npz", "--prompt", "the cat", "--length", "15", "--seed", "3"]
    a, b = run(*args), run(*args)
    assert a.exit_code == 0, a.output
    assert a.stdout == b.stdout and a.stdout.startswith("the cat")
    assert len(a.stdout.split()) > 2
    c = run(*args[:-1], "4")
    assert c.stdout != a.stdout


def test_user_text_is_printed_not_read_as_markup(tmp_path, word_corpus, trained):
    """File names, prompts and option names are printed as given, '[...]' and all: rich must
    not read them as markup (which dropped text, or crashed on '[/x]')."""
    out, _ = trained
    ckpt = out / "best.npz"
    got = run("generate", ckpt, "--prompt", "[/foo] the [cat]", "--length", "2")
    assert got.exit_code == 0, got.output
    assert "[/foo]" in got.stderr and "[cat]" in got.stderr
    odd = tmp_path / "br[/x]"
    odd.mkdir(parents=True)  # the folders "br[" and "x]"
    text = odd / "o.txt"
    text.write_text("zzz qqq\n" * 5)
    got = run("eval", ckpt, text, "--allow-oov")
    assert got.exit_code == 0, got.output
    assert "br[/x]/o.txt" in got.stderr
    assert_one_line_error(run("eval", ckpt, tmp_path / "no[/b]such.txt"), 1, "no[/b]such.txt")
    corpus = odd / "c[v2].txt"
    corpus.write_text(word_corpus.read_text())
    got = run("train", corpus, "--out", tmp_path / "o", *SMALL, "--max-steps", "2")
    assert got.exit_code == 0, got.output
    assert "c[v2].txt" in got.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "rnnlm", "eval", str(ckpt), str(text), "--[/b]"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert usage.returncode == 2, usage.stderr
    lines = usage.stderr.strip().splitlines()
    assert len(lines) == 1 and "--[/b]" in lines[0] and "Traceback" not in usage.stderr


def test_help_and_version():
    result = run("--help")
    assert result.exit_code == 0 and "train" in result.stdout
    for cmd in ("train", "eval", "generate"):
        result = run(cmd, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout
    assert run("train", "--help").stdout.count("default") >= 15
    assert run("--version").stdout.startswith("rnnlm ")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--preset", "nope"], "--preset"),
        (["--epochs", "abc"], "--epochs"),
        (["--bogus"], "--bogus"),
    ],
)
def test_parser_errors_are_one_line(word_corpus, args, needle):
    proc = script("train", word_corpus, *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
    assert proc.stdout == ""


def test_python_dash_m_and_version():
    proc = subprocess.run(
        [sys.executable, "-m", "rnnlm", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and re.match(r"rnnlm \d+\.\d+\.\d+", proc.stdout)
    for cmd in ("train", "eval", "generate", "info", "plot", "bench"):
        assert run(cmd, "--help").exit_code == 0


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


def test_stdout_gone_or_full(shared_run, tmp_path):
    """`| head` that stops reading ends quietly with exit 0; a full disk is one line, exit 1;
    a closed stdout is no crash."""
    corpus, out = shared_run
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
