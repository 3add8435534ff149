"""Checkpoints written by rnnlm 0.1.0 (tests/fixtures) still load, score and resume."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnlm.cli import app

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_old_checkpoint_gives_the_same_perplexity(name):
    result = CliRunner().invoke(
        app, ["eval", str(FIXTURES / name), str(FIXTURES / "tiny.txt"), "--json"]
    )
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["tokens"] == EXPECTED[name]["tokens"]
    assert got["perplexity"] == pytest.approx(EXPECTED[name]["perplexity"], rel=1e-9)


def test_old_last_checkpoint_resumes(tmp_path):
    run = tmp_path / "lstm"
    run.mkdir()
    shutil.copy(FIXTURES / "v0.1-lstm-word-last.npz", run / "last.npz")
    args = ["train", str(FIXTURES / "tiny.txt"), "--out", str(run), "--resume", "--epochs", "2"]
    args += ["--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["epochs"] == 2 and got["steps"] == 54
