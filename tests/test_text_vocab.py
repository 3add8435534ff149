"""Tokenisation, reading files and the vocabulary, with property-based tests."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlm.data import stream
from rnnlm.data.corpus import find_split_files
from rnnlm.data.text import EOS, UNK, detokenize, read_text, tokenize
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import ConfigError, CorpusError


def test_word_tokens_end_each_line_with_eos():
    assert tokenize(" a b \n\nc\n", "word") == ["a", "b", EOS, EOS, "c", EOS]
    assert tokenize("a b", "word") == ["a", "b", EOS]


def test_char_tokens_keep_newlines():
    assert tokenize("ab\nc", "char") == ["a", "b", "\n", "c"]


def test_detokenize_words():
    assert detokenize(["a", "b", EOS, "c"], "word") == "a b\nc"
    assert detokenize(["x"], "word", before="the") == " x"
    assert detokenize(["x"], "word", before="the ") == "x"


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
    ).filter(lambda t: t.removeprefix("\ufeff").encode().strip())
)
@settings(max_examples=200, deadline=None)
def test_char_round_trip_through_a_file(text):
    """Any text written as UTF-8 comes back, character for character, as one token each,
    with only its line endings normalised and a leading byte-order mark dropped; the
    vocabulary encodes and decodes it losslessly."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.txt"
        path.write_bytes(text.encode("utf-8"))
        tokens = tokenize(read_text(path), "char")
    expected = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    assert len(tokens) == len(expected)
    assert detokenize(tokens, "char") == expected
    vocab = Vocabulary.build(tokens)
    ids, oov = vocab.encode(tokens)
    assert oov == 0 and "".join(vocab.tokens[i] for i in ids) == expected


@given(st.lists(st.text(alphabet="abc xyz\n", min_size=0, max_size=30), max_size=20))
@settings(max_examples=200, deadline=None)
def test_word_tokens_match_split(lines):
    text = "\n".join(lines) + "\n"
    toks = tokenize(text, "word")
    assert toks.count(EOS) == len(text.split("\n")) - 1
    assert [t for t in toks if t != EOS] == text.split()


@given(
    st.lists(st.sampled_from([*list("abcdefghij"), EOS, UNK]), min_size=1, max_size=200),
    st.integers(0, 8),
    st.integers(1, 4),
)
@settings(max_examples=200, deadline=None)
def test_vocab_properties(tokens, max_size, min_count):
    if 0 < max_size < 2:
        with pytest.raises(ConfigError):
            Vocabulary.build(tokens, max_size, min_count)
        return
    v = Vocabulary.build(tokens, max_size, min_count)
    assert v.tokens[0] == UNK
    assert len(set(v.tokens)) == len(v)
    if max_size:
        assert len(v) <= max(max_size, 1 + (EOS in tokens))
    ids, oov = v.encode(tokens)
    assert ids.dtype == np.int32 and ids.min() >= 0 and ids.max() < len(v)
    decoded = v.decode(ids)
    for tok, back in zip(tokens, decoded, strict=True):
        assert back in (tok, UNK)
    assert oov == sum(t not in v.index for t in tokens)


def test_vocab_frequency_order_and_min_count():
    v = Vocabulary.build(["a", "b", "b", "c", "c", "c", "<eos>"], min_count=2)
    assert v.tokens == [UNK, EOS, "c", "b"]
    ids, oov = v.encode(["c", "zzz", "a"])
    assert ids.tolist() == [2, 0, 0] and oov == 2


def test_read_text_errors(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(CorpusError, match="folder"):
        read_text(tmp_path)
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(CorpusError, match="empty"):
        read_text(tmp_path / "empty.txt")
    (tmp_path / "bin").write_bytes(b"abc\x00\x01\x02")
    with pytest.raises(CorpusError, match="binary"):
        read_text(tmp_path / "bin")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="UTF-8"):
        read_text(tmp_path / "latin1.txt")


def test_read_text_normalises_line_endings(tmp_path):
    (tmp_path / "crlf.txt").write_bytes(b"a b\r\nc\r\n")
    assert read_text(tmp_path / "crlf.txt") == "a b\nc\n"


def test_unreadable_file(tmp_path, monkeypatch):
    path = tmp_path / "locked.txt"
    path.write_text("a b c\n")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(stream, "open", denied, raising=False)  # read_text opens it there
    with pytest.raises(CorpusError, match=r"cannot read.*Permission denied"):
        read_text(path)


def test_a_byte_order_mark_is_not_text(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes(b"\xef\xbb\xbfthe cat\nthe dog\n")
    assert tokenize(read_text(f), "word")[0] == "the"
    assert read_text(f) == "the cat\nthe dog\n"
    f.write_bytes(b"\xef\xbb\xbf\n")
    with pytest.raises(CorpusError, match="empty"):
        read_text(f)


def test_mikolovs_simple_examples_folder_is_read_as_words(tmp_path):
    """simple-examples/data holds ptb.train.txt beside ptb.char.train.txt (and so on)."""
    for split in ("train", "valid", "test"):
        (tmp_path / f"ptb.{split}.txt").write_text("a b\n")
        (tmp_path / f"ptb.char.{split}.txt").write_text("a _ b\n")
    found = find_split_files(tmp_path)
    assert {k: p.name for k, p in found.items()} == {
        "train": "ptb.train.txt",
        "valid": "ptb.valid.txt",
        "test": "ptb.test.txt",
    }
    (tmp_path / "wiki.train.txt").write_text("c\n")  # truly two candidates: still refused
    with pytest.raises(CorpusError, match="several train files"):
        find_split_files(tmp_path)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt", "train.txt"], "several train"),
        (["wiki.train.tokens", "wiki.valid.tokens", "train.tokens"], "several train"),
        (["ptb.char.train.txt", "ptb.char.valid.txt", "ptb.train.txt"], "no valid file named"),
    ],
)
def test_split_files_of_two_sets_are_never_mixed(tmp_path, names, message):
    for name in names:
        (tmp_path / name).write_text("a b\n")
    with pytest.raises(CorpusError, match=message):
        find_split_files(tmp_path)
