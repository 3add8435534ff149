"""Scores comparable across units: bits per character and word perplexity (docs/metrics.md)."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlm.api import LanguageModel
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.data.text import tokenize
from rnnlm.data.vocab import Vocabulary
from rnnlm.eval.metrics import Counter, comparable, count_ids, count_text
from rnnlm.nn.model import RNNLM
from rnnlm.training import checkpoint

WORDS = ["the", "cat", "sat", "on", "a", "mat"]
AWKWARD = st.text(alphabet=st.sampled_from("ab é😀 \t\n\x0b\x85\u2028\u3000"), max_size=60)


def model_of(unit: str, tokens: list[str], seed: int = 0) -> LanguageModel:
    """A randomly initialised model: its scores are as good as any for counting."""
    cfg = ModelConfig(vocab_size=len(tokens), embed_dim=4, hidden=5, dropout=0.0)
    params = RNNLM(cfg, np.random.default_rng(seed)).params
    return LanguageModel(checkpoint.Checkpoint(
        model=cfg, train=TrainConfig(), unit=unit, vocab=Vocabulary(tokens), params=params
    ))  # fmt: skip


WORD_LM = model_of("word", ["<unk>", "<eos>", *WORDS])
CHAR_LM = model_of("char", ["<unk>", "\n", *"ab é😀\t"])


@given(AWKWARD)
def test_words_are_the_tokens_a_word_model_reads(text):
    counts = count_text(text)
    assert counts.words == len(tokenize(text, "word"))
    assert counts.chars == len(text)


@given(AWKWARD, st.lists(st.integers(0, 60), max_size=5))
def test_counting_in_pieces_cut_anywhere_is_counting_the_whole(text, cuts):
    counter = Counter()
    bounds = [0, *sorted(c for c in cuts if c <= len(text)), len(text)]
    for lo, hi in itertools.pairwise(bounds):
        counter.add(text[lo:hi])
    assert counter.result() == count_text(text)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from("ab é😀\t\n"), min_size=1, max_size=50))
def test_bits_per_char_times_characters_is_the_total_nll_in_bits(text):
    score = CHAR_LM.perplexity(text)
    c = score.comparable
    assert c["chars"] == len(text)  # every character is predicted (the newline goes first)
    total_bits = score.result.nll / math.log(2)
    assert c["bits_per_char"] * c["chars"] == pytest.approx(total_bits, rel=1e-12)
    assert c["bits_per_char"] == pytest.approx(score.result.bits_per_token, rel=1e-12)
    ids, _ = CHAR_LM.encode(text)
    assert count_ids(ids, CHAR_LM.vocab, "char") == count_text(text)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join), min_size=1, max_size=6),
    st.sampled_from([" ", "  ", "\t"]),
)
def test_a_word_models_word_perplexity_is_its_perplexity_without_oov(lines, space):
    text = "\n".join(line.replace(" ", space) for line in lines) + "\n"
    score = WORD_LM.perplexity(text)
    assert score.oov == 0
    assert score.comparable["words"] == score.result.tokens
    assert score.comparable["word_perplexity"] == pytest.approx(score.perplexity, rel=1e-12)


def test_comparable_of_an_empty_text_is_none():
    c = comparable(3.0, count_text(""))
    assert c["bits_per_char"] is None and c["word_perplexity"] is None


def test_an_unknown_character_counts_as_one_character():
    from rnnlm.data.vocab import Vocabulary
    from rnnlm.eval.metrics import count_ids

    vocab = Vocabulary(["<unk>", "\n", "a", "b"])
    counts = count_ids(np.array([1, 2, 0, 3, 1]), vocab, "char")  # "\n" (context) a ? b "\n"
    assert counts.chars == 4
