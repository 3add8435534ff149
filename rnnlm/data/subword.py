"""Subword units: a byte-level BPE (Hugging Face ``tokenizers``) and the vocabulary it defines.

Byte-level: every UTF-8 byte is a token of the initial alphabet (shown as one of 256 printable
characters, GPT-2's table), so any text encodes, and decodes back exactly, without ``<unk>``:
emoji, control characters and scripts the training text never had included. Merges are learned
from the training split only. A line is the unit of encoding (the pre-tokenizer first cuts the
text after every ``\\n``), so a text encodes to the same ids whole or in pieces that end at line
ends, and the newline is a token of its own (``Ċ``, byte 10) that stands for the line end
(there is no ``<eos>``). ``<unk>`` is id 0 as in every rnnlm vocabulary; it is never needed,
and the literal text ``<unk>`` (as PTB writes its unknown words) encodes to it.

The tokenizer is kept as its JSON text (``SubwordVocabulary.json``), which travels inside
checkpoints and prepared folders; ``tokenizers`` is an optional extra (``rnnlm-numpy[bpe]``)
needed to learn and to encode, not to read a checkpoint.
"""

import codecs
import contextlib
import functools
import json
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from rnnlm.data.text import UNK
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import RnnlmError

BPE = "bpe"
MAX_AUTO_VOCAB = 8000
MIN_VOCAB = 257  # <unk> and the 256 bytes
NEWLINE = "Ċ"  # byte 10 in the byte-level alphabet: the line end
MISSING_EXTRA = (
    "--unit bpe needs the Hugging Face tokenizers package: pip install 'rnnlm-numpy[bpe]'"
)


def tokenizers_module() -> Any:
    """The ``tokenizers`` package, or an RnnlmError naming the extra that provides it."""
    try:
        import tokenizers
    except ImportError:
        raise RnnlmError(MISSING_EXTRA) from None
    return tokenizers


@functools.cache
def byte_chars() -> dict[str, int]:
    """The byte-level alphabet: printable character -> the byte it stands for (GPT-2's table:
    printable Latin-1 bytes stand for themselves, the others for 256 + their rank)."""
    kept = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    kept += range(ord("®"), ord("ÿ") + 1)
    chars, extra = {}, 0
    for b in range(256):
        if b in kept:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def auto_vocab_size(chars: int) -> int:
    """``--subword-vocab 0``: min(8000, 257 + round(sqrt(characters of the training file))):
    about 300 for a few pages, 1,300 for Tiny Shakespeare, 2,500 for PTB, 8,000 from 60 MB."""
    return min(MAX_AUTO_VOCAB, MIN_VOCAB + round(math.sqrt(max(chars, 0))))


def _expected_parts() -> dict[str, Any]:
    """The pre-tokenizer and decoder every rnnlm BPE tokenizer has (as its JSON writes them)."""
    return {
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": "\n"}, "behavior": "MergedWithPrevious",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        ]},
        "decoder": {"type": "ByteLevel"},
    }  # fmt: skip


def _matches(actual: Any, expected: Any) -> bool:
    """Whether ``actual`` holds every key and value of ``expected`` (recursively; lists
    element by element); other keys are free (``tokenizers`` may add some)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _matches(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return actual == expected


def check_tokenizer_json(text: str) -> list[str]:
    """The tokens, by id, of an rnnlm byte-level BPE tokenizer's JSON; ValueError saying what
    is wrong with anything else (not JSON, not BPE, not byte-level, ids not 0..V-1 ...)."""
    try:
        spec = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError("not JSON") from None
    model = spec.get("model") if isinstance(spec, dict) else None
    if not isinstance(model, dict) or model.get("type") != "BPE":
        raise ValueError("not a BPE tokenizer")
    if spec.get("normalizer") is not None or not all(
        _matches(spec.get(k), v) for k, v in _expected_parts().items()
    ):
        raise ValueError("not rnnlm's byte-level BPE (other normalizer, pre-tokenizer, decoder)")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not all(
        isinstance(t, str) and type(i) is int for t, i in vocab.items()
    ):
        raise ValueError("malformed vocabulary")
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(len(tokens))) or tokens[:1] != [UNK]:
        raise ValueError("vocabulary ids are not 0..V-1 with <unk> first")
    alphabet = byte_chars()
    if not set(alphabet) <= set(tokens):
        raise ValueError("vocabulary lacks some of the 256 bytes")
    if not all(c in alphabet for t in tokens[1:] for c in t):
        raise ValueError("a token is not made of bytes")
    added = spec.get("added_tokens") or []
    if [(a.get("id"), a.get("content")) for a in added if isinstance(a, dict)] != [(0, UNK)]:
        raise ValueError("unexpected added tokens")
    return tokens


class SubwordVocabulary(Vocabulary):
    """A byte-level BPE's tokens by id (``<unk>`` first), with its tokenizer's JSON."""

    def __init__(self, tokenizer_json: str) -> None:
        super().__init__(check_tokenizer_json(tokenizer_json))
        self.json = tokenizer_json
        chars = byte_chars()
        # the bytes of each id (<unk>: its own text, so decoding is exact whatever the ids)
        self.bytes = [UNK.encode()] + [bytes(chars[c] for c in t) for t in self.tokens[1:]]
        self.newline_id = self.index[NEWLINE]
        self._tokenizer: Any = None
        # built now, so that a tokenizer that does not load is refused on reading; without the
        # extra, the missing package is named when first needed (encoding)
        with contextlib.suppress(RnnlmError):
            self.tokenizer  # noqa: B018

    @property
    def tokenizer(self) -> Any:
        """The ``tokenizers.Tokenizer`` (built on first use; needs the extra)."""
        if self._tokenizer is None:
            module = tokenizers_module()
            try:
                self._tokenizer = module.Tokenizer.from_str(self.json)
            except Exception as exc:  # the Rust side names what it could not read
                raise ValueError(f"tokenizer does not load ({exc})") from None
        return self._tokenizer

    def encode_text(self, text: str) -> np.ndarray:
        """Text -> int32 ids (L,); any text, nothing unknown."""
        if not text:
            return np.zeros(0, np.int32)
        return np.asarray(self.tokenizer.encode(text).ids, dtype=np.int32)

    def decode_text(self, ids: Iterable[int]) -> str:
        """Ids -> text; bytes that are not UTF-8 (a sample cut mid-character) become U+FFFD."""
        return b"".join(self.bytes[int(i)] for i in ids).decode("utf-8", errors="replace")

    def token_text(self, i: int) -> str:
        """The text of token ``i``: its bytes as UTF-8 ("Ġthe" is " the"); part of a character
        split over tokens shows as U+FFFD."""
        return self.bytes[int(i)].decode("utf-8", errors="replace")

    def text_pieces(self, ids: Iterable[int]) -> Iterator[str]:
        """The text of each id as it comes, a character split over ids given once complete."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for i in ids:
            yield decoder.decode(self.bytes[int(i)])
        yield decoder.decode(b"", final=True)


def learn(texts: Iterable[str], vocab_size: int) -> SubwordVocabulary:
    """A byte-level BPE of at most ``vocab_size`` tokens (``<unk>`` and the 256 bytes included)
    learned from ``texts``, an iterable of pieces that end at line ends, streamed through
    (``tokenizers`` keeps the distinct words and their counts, not the text). The same text
    gives the same tokenizer, byte for byte."""
    tk = tokenizers_module()
    if vocab_size < MIN_VOCAB:
        raise ValueError(f"a byte-level BPE needs at least {MIN_VOCAB} tokens")
    tok = tk.Tokenizer(tk.models.BPE())
    tok.pre_tokenizer = tk.pre_tokenizers.Sequence([
        tk.pre_tokenizers.Split("\n", behavior="merged_with_previous"),
        tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])  # fmt: skip
    tok.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[UNK],
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(iter(texts), trainer)
    return SubwordVocabulary(tok.to_str())
