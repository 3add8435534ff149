"""What the command-line tests share: a runner, tiny options for in-process runs (``SMALL``) and
for a subprocess long enough to be signalled (``ARGS``), and the one-line error check. The
trained runs they evaluate, sample and inspect are fixtures in conftest.py."""

import subprocess
import sys

from typer.testing import CliRunner

from rnnlm.cli import app

runner = CliRunner()


SMALL = [
    *("--embed-dim", "8", "--hidden", "8", "--batch-size", "4", "--bptt", "6", "--epochs", "2"),
    *("--optimizer", "sgd", "--lr", "1", "--clip", "5", "--dropout", "0"),
]


ARGS = ["--embed-dim", "16", "--hidden", "16", "--batch-size", "8", "--bptt", "10",
        "--optimizer", "sgd", "--lr", "1", "--clip", "5", "--epochs", "50"]  # fmt: skip


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def script(*args):
    """The installed entry point itself (``python -m rnnlm``), for errors typer's parser raises."""
    cmd = [sys.executable, "-m", "rnnlm", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def assert_one_line_error(result, code, *needles):
    assert result.exit_code == code, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0]
