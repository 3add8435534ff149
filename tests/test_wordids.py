"""``WordTable``: the ids of text found with numpy equal those of ``str.split`` and a dict."""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlm.data import wordids
from rnnlm.data.encode import Provisional, piece_tokens
from rnnlm.data.wordids import SPACE_RUNS, WIDE_SPACES, WordTable

# ASCII whitespace of every kind, a wide space, NULs, multi-byte letters, words of 8, 9, 16
# and 17 bytes (the key's edges), the end-of-line token written in the text itself
ALPHABET = "ab \t\x0b\x0c\x1c\x1f\né€😀"
PIECES = ["the cat\n", "12345678 123456789\n", "abcdefghijklmnop abcdefghijklmnopq\n",
          "<eos> x\n\n  \n", "héllo wörld 😀😀😀😀😀\n", "\0 \0\0 a\0\n", "\x1cx\x1fy\x0bz\x0c\n",
          "no newline at the end"]  # fmt: skip


def _both(pieces: list[str]) -> tuple[list[np.ndarray], list[np.ndarray], Provisional]:
    """(ids by ``encode_piece``, ids by ``str.split``, the first encoder)."""
    fast, slow = Provisional(), Provisional()
    got = [fast.encode_piece(p, "word") for p in pieces]
    want = [slow.encode(piece_tokens(p, "word")) for p in pieces]
    assert fast.tokens == slow.tokens  # (also in the same order of first sight)
    return got, want, fast


def _assert_same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype == np.uint32
        np.testing.assert_array_equal(g, w)


def test_the_words_are_those_of_str_split():
    got, want, fast = _both(PIECES * 3)
    _assert_same(got, want)
    assert fast._words is not None and fast._words.held > 5  # (the table was used)


@given(st.lists(st.text(ALPHABET, max_size=60), min_size=1, max_size=6))
def test_any_text_gives_the_ids_of_str_split(pieces):
    _assert_same(*_both([p + "\n" for p in pieces])[:2])


def test_a_piece_with_a_wide_space_is_split_as_a_string():
    piece = "a\u3000b c\xa0d\n"
    assert WordTable({}).encode(piece) is None and WordTable({}).encode("a\0 b\n") is None
    _assert_same(*_both([piece, "a b\n"])[:2])


def test_words_whose_slot_is_taken_still_get_their_ids(monkeypatch):
    monkeypatch.setattr(wordids, "MIN_BITS", 1)
    monkeypatch.setattr(wordids, "MAX_BITS", 2)  # four slots for dozens of words
    words = [f"w{i}" for i in range(40)]
    pieces = [" ".join(words[i::3]) + "\n" for i in range(3)] * 4
    got, want, fast = _both(pieces)
    _assert_same(got, want)
    assert fast._words.held <= 4


def test_the_table_grows_and_keeps_words_numbered_elsewhere():
    prov = Provisional()
    first = [" ".join(f"w{i}" for i in range(k, k + 500)) + "\n" for k in range(0, 5000, 500)]
    for piece in first:
        prov.encode_piece(piece, "word")
    prov.encode(["x", "y"])  # numbered without the table
    assert prov._words.bits > wordids.MIN_BITS
    ids = prov.encode_piece("x y w7 x\n", "word")
    x, y = prov.ids["x"], prov.ids["y"]
    assert (x, y) == (5001, 5002)  # (after w0..w499, <eos>, w500..)
    np.testing.assert_array_equal(ids, [x, y, prov.ids["w7"], x, prov.ids["<eos>"]])
    assert prov._words.encode("x\n") is not None and prov._words.synced == len(prov.ids)


@pytest.mark.skipif(sys.maxunicode < 0x10FFFF, reason="narrow build")
def test_the_whitespace_tables_are_those_of_str_isspace():
    ascii_spaces = {c for c in map(chr, range(128)) if c.isspace()}
    assert ascii_spaces == {chr(a + i) for a, n in SPACE_RUNS for i in range(n)}
    assert set(WIDE_SPACES) == {c for c in map(chr, range(128, 0x110000)) if c.isspace()}
