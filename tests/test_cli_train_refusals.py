"""rnnlm train refuses what cannot work, before training and in one line: missing or bad
corpora, bad option values, an existing run, a file where a folder is expected."""

import pytest

from tests.cli_helpers import SMALL, assert_one_line_error, run


def test_missing_and_unknown_corpus(tmp_path):
    assert_one_line_error(
        run("train", tmp_path / "nope.txt", "--out", tmp_path / "o"), 1, "not a known corpus", "ptb"
    )
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "content, needle",
    [(b"", "empty"), (b"\x00\x01binary", "binary"), (b"caf\xe9 au lait\n", "UTF-8")],
)
def test_bad_corpus_files(tmp_path, content, needle):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    assert_one_line_error(run("train", bad, "--out", tmp_path / "o"), 1, needle)


def test_corpus_shorter_than_a_window(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("a b c\nd e f\n" * 3)
    assert_one_line_error(run("train", short, "--out", tmp_path / "o"), 1, "window")


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--lr", "nan"),
        ("--lr", "-1"),
        ("--hidden", "0"),
        ("--batch-size", "-2"),
        ("--bptt", "0"),
        ("--dropout", "1.5"),
        ("--weight-drop", "1"),
        ("--ema", "1"),
        ("--ema", "-0.5"),
        ("--weight-drop", "-0.1"),
        ("--clip", "-1"),
        ("--epochs", "0"),
        ("--max-vocab", "1"),
        ("--seed", "-1"),
        ("--init-scale", "inf"),
        ("--init-scale", "1e300"),
        ("--classes", "-5"),
        ("--classes", "5"),  # without --softmax class
    ],
)
def test_bad_option_values(tmp_path, word_corpus, flag, value):
    assert_one_line_error(run("train", word_corpus, "--out", tmp_path / "o", flag, value), 2, flag)


def test_refuses_to_clobber_an_existing_run(tmp_path, word_corpus, trained):
    out, _ = trained
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert_one_line_error(run("train", word_corpus, "--out", out, *SMALL), 2, "--resume")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_tie_weights_needs_equal_sizes(tmp_path, word_corpus):
    result = run("train", word_corpus, "--tie-weights", "--embed-dim", "4", "--hidden", "8")
    assert_one_line_error(result, 2, "--tie-weights")


def test_failed_start_leaves_no_folder(tmp_path, word_corpus):
    out = tmp_path / "never"
    result = run("train", word_corpus, "--out", out, "--tie-weights", "--embed-dim", "4")
    assert result.exit_code == 2 and not out.exists()
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert_one_line_error(run("train", word_corpus, "--out", blocked / "sub"), 2, "not a writable")


def test_too_short_test_text_is_refused_before_training(tmp_path, char_corpus):
    one = tmp_path / "one.txt"
    one.write_text("a")  # char level: one token, nothing to predict
    got = run("train", char_corpus, "--unit", "char", "--test", one, "--out", tmp_path / "o")
    assert_one_line_error(got, 1, "test text", "one.txt", "too few to score")
    assert not (tmp_path / "o").exists()  # refused before any training or writing


def test_folder_where_a_file_is_expected(tmp_path, word_corpus):
    result = run("train", word_corpus, "--valid", tmp_path, "--out", tmp_path / "o")
    assert_one_line_error(result, 1, "is a folder")
    assert not (tmp_path / "o").exists()


def test_valid_fraction_is_refused_where_the_corpus_has_validation_text(split_folder, tmp_path):
    got = run("train", split_folder, "--valid-fraction", "0.2", "--out", tmp_path / "o")
    assert_one_line_error(got, 2, "--valid-fraction", "x.valid.txt")
    assert not (tmp_path / "o").exists()
