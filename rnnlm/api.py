"""The library interface: load a checkpoint, score text, sample text."""

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnlm.backend import use_device
from rnnlm.data.corpus import boundary_id, scored
from rnnlm.data.subword import SubwordVocabulary
from rnnlm.data.text import EOS, detokenize, tokenize
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import CorpusError
from rnnlm.eval.dynamic import DynamicEval, dynamic_evaluate
from rnnlm.eval.metrics import TextCounts, comparable, count_text
from rnnlm.eval.perplexity import EvalResult, evaluate
from rnnlm.eval.sampling import continuation_logprob, sample
from rnnlm.nn.model import RNNLM
from rnnlm.training import checkpoint


@dataclass(frozen=True)
class Score:
    """Perplexity of a text: ``result`` over ``result.tokens`` predicted tokens, ``oov`` unknown."""

    result: EvalResult
    oov: int
    counts: TextCounts | None = None  # characters and words of the text scored

    @property
    def comparable(self) -> dict:
        """``bits_per_char``, ``word_perplexity``, ``chars``, ``words`` (docs/metrics.md)."""
        return comparable(self.result.nll, self.counts or TextCounts())

    @property
    def perplexity(self) -> float:
        return self.result.perplexity

    @property
    def oov_rate(self) -> float:
        return self.oov / self.result.tokens if self.result.tokens else 0.0


class LanguageModel:
    """A trained model with its vocabulary, as loaded from a checkpoint; ``device``: where it
    computes, "cpu" or "cuda" (rnnlm/backend.py; any checkpoint runs on either)."""

    def __init__(self, ckpt: checkpoint.Checkpoint, device: str = "cpu") -> None:
        self.ckpt = ckpt
        self.unit = ckpt.unit
        self.vocab: Vocabulary = ckpt.vocab
        self.device = use_device(device)
        self.model = RNNLM(
            ckpt.model, np.random.default_rng(0), params=ckpt.params, device=self.device
        )

    def boundary_id(self) -> int | None:
        """The token that precedes a text: ``<eos>`` (word) or newline (char), if in the vocab."""
        return boundary_id(self.vocab, self.unit)

    def encode(self, text: str) -> tuple[np.ndarray, int]:
        """Text -> (ids, OOV count), with the boundary token first so every token is scored."""
        if isinstance(self.vocab, SubwordVocabulary):
            ids, oov = self.vocab.encode_text(text), 0
        else:
            ids, oov = self.vocab.encode(tokenize(text, self.unit))
        return scored(ids, self.vocab, self.unit), oov

    def score_ids(
        self,
        ids: np.ndarray,
        oov: int = 0,
        per_token: bool = False,
        dynamic: DynamicEval | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Score:
        """Score ids (boundary token first) in order, every token from all before it;
        ``dynamic``: adapting the weights as it reads (rnnlm/eval/dynamic.py)."""
        if len(ids) < 2:
            raise CorpusError("nothing to score: the text has no token to predict")
        if dynamic is not None:
            result = dynamic_evaluate(self.model, ids, dynamic, on_progress, per_token)
        else:
            bptt = self.ckpt.train.eval_bptt
            result = evaluate(self.model, ids, 1, bptt, on_progress, per_token=per_token)
        return Score(result, oov)

    def perplexity(self, text: str, dynamic: DynamicEval | None = None) -> Score:
        """Score a whole text in order, carrying the state; ``dynamic``: adapting as it reads
        (``DynamicEval(lr=...)``, rnnlm/eval/dynamic.py; the weights are restored after)."""
        ids, oov = self.encode(text)
        score = self.score_ids(ids, oov, dynamic=dynamic)
        scored_text = text if self.boundary_id() is not None else text[1:]  # (see metrics.py)
        return dataclasses.replace(score, counts=count_text(scored_text))

    def _open_line_tokens(self, text: str) -> list[str]:
        """Tokens of text that may stop mid-line: no ``<eos>`` unless it ends with a newline."""
        toks = tokenize(text, self.unit) if text else []
        if self.unit == "word" and toks and toks[-1] == EOS and not text.endswith("\n"):
            toks.pop()
        return toks

    def text_ids(self, text: str) -> tuple[list[int], list[str]]:
        """Ids of text that may stop mid-line, and its tokens not in the vocabulary."""
        if isinstance(self.vocab, SubwordVocabulary):
            return self.vocab.encode_text(text).tolist(), []
        toks = self._open_line_tokens(text)
        unknown = [t for t in toks if t not in self.vocab.index]
        return self.vocab.encode(toks)[0].tolist(), unknown

    def prompt_ids(self, prompt: str) -> tuple[list[int], list[str]]:
        """Prompt -> (context ids, prompt tokens not in the vocabulary)."""
        ids, unknown = self.text_ids(prompt)
        start = self.boundary_id()
        context = ([start] if start is not None else []) + ids
        return (context or [self.vocab.unk_id]), unknown

    def stream(
        self,
        prompt: str = "",
        length: int = 100,
        seed: int = 0,
        temperature: float = 1.0,
        top_k: int = 0,
        greedy: bool = False,
        top_p: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> Iterator[str]:
        """Yield sampled tokens one at a time (never ``<unk>``); a BPE's as its vocabulary
        writes them (bytes as characters: ``stream_text`` gives the text)."""
        for tok in self._sample(prompt, length, seed, temperature, top_k, greedy, top_p, rng):
            yield self.vocab.tokens[tok]

    def _sample(self, prompt, length, seed, temperature, top_k, greedy, top_p, rng):
        context, _ = self.prompt_ids(prompt)
        rng = rng if rng is not None else np.random.default_rng(seed)
        banned = (self.vocab.unk_id,) if len(self.vocab) > 1 else ()
        yield from sample(
            self.model, context, length, rng, temperature, top_k, greedy, banned, top_p
        )

    def stream_text(
        self,
        prompt: str = "",
        length: int = 100,
        seed: int = 0,
        temperature: float = 1.0,
        top_k: int = 0,
        greedy: bool = False,
        top_p: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> Iterator[str]:
        """Yield the text of ``length`` sampled tokens as they come: words spaced from what
        precedes them and ``<eos>`` as a newline; subwords decoded (a character whose bytes
        span several subwords comes once complete)."""
        ids = self._sample(prompt, length, seed, temperature, top_k, greedy, top_p, rng)
        if isinstance(self.vocab, SubwordVocabulary):
            yield from self.vocab.text_pieces(ids)
            return
        last = prompt[-1:]
        for tok in ids:
            piece = detokenize([self.vocab.tokens[tok]], self.unit, before=last)
            last = piece[-1:] or last
            yield piece

    def score(self, prompt: str, continuation: str) -> tuple[float, int]:
        """(log-probability in nats, token count) of ``continuation`` right after ``prompt``."""
        context, _ = self.prompt_ids(prompt)
        ids, _ = self.text_ids(continuation)
        if not ids:
            return 0.0, 0
        logp = continuation_logprob(self.model, context, ids)
        return float(logp.sum()), len(ids)

    def generate(self, prompt: str = "", length: int = 100, seed: int = 0, **kwargs: Any) -> str:
        """The prompt followed by ``length`` sampled tokens, as text; ``kwargs``: the sampling
        options of ``stream`` (temperature, top_k, greedy, top_p, rng)."""
        return prompt + "".join(self.stream_text(prompt, length, seed, **kwargs))


def load(path: Path | str, device: str = "cpu") -> LanguageModel:
    """Load a checkpoint written by ``rnnlm train``, to compute on ``device`` ("cpu" or
    "cuda"; without CuPy or a GPU, a ``ConfigError`` says which is missing)."""
    device = use_device(device)  # checked before the file is read
    return LanguageModel(checkpoint.load(path), device)
