"""``rnnlm generate``: sample text from a checkpoint, or score a continuation."""

import json
import math
from collections.abc import Iterable
from typing import Annotated

import numpy as np
import typer

from rnnlm import memory
from rnnlm.api import LanguageModel, load
from rnnlm.backend import use_device
from rnnlm.cli.console import echo, user_errors, warn, write
from rnnlm.cli.flags import CheckpointArg, Device, DeviceFlag, ForceFlag
from rnnlm.data.text import EOS
from rnnlm.errors import ConfigError
from rnnlm.eval.sampling import check_sampling


def generate_command(
    checkpoint: CheckpointArg,
    prompt: Annotated[
        str, typer.Option(help="Text to continue (default: none, the start of a line).")
    ] = "",
    length: Annotated[int, typer.Option(help="Tokens to sample per sample.")] = 100,
    temperature: Annotated[
        float, typer.Option(help="Below 1 is more conservative, above 1 more random.")
    ] = 1.0,
    top_k: Annotated[int, typer.Option(help="Sample among the k most likely tokens (0: all).")] = 0,
    top_p: Annotated[
        float,
        typer.Option(
            help="Sample among the most likely tokens holding this much "
            "probability (nucleus sampling; 1: all)."
        ),
    ] = 1.0,
    greedy: Annotated[
        bool, typer.Option("--greedy", help="Always take the most likely token.")
    ] = False,
    num_samples: Annotated[int, typer.Option(help="Independent samples, one after another.")] = 1,
    stop: Annotated[
        str | None,
        typer.Option(
            help="End a sample once it produces this string or token, e.g. <eos>; \\n and "
            "\\t stand for a newline and a tab, as in --stop '\\n' (default: none)."
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Random seed (>= 0); the same seed gives the same text.")
    ] = 0,
    score: Annotated[
        str | None,
        typer.Option(
            help="Instead of sampling, print the log-probability of this continuation of --prompt "
            "(default: none)."
        ),
    ] = None,
    force: ForceFlag = False,
    device: DeviceFlag = Device("cpu"),
) -> None:
    """Continue a prompt with sampled tokens, printed as they come; word models print <eos> as
    a newline. Unknown prompt tokens are read as <unk> (with a warning).

    Example: rnnlm generate runs/ptb/best.npz --prompt "the company said" --length 50
    """  # fmt: skip
    with user_errors():
        use_device(device.value)  # no CuPy or no GPU: said before anything is read
        stop = _check_options(temperature, top_k, top_p, length, num_samples, seed, score, stop)
        memory.check_generate(checkpoint, force)
        lm = load(checkpoint, device.value)
        if stop == EOS and lm.unit == "char":
            raise ConfigError("--stop <eos>: a character model has no <eos>; use --stop '\\n'")
        _warn_unknown(lm.prompt_ids(prompt)[1], "prompt token(s)", "read")
        if score is not None:
            result = _score(lm, prompt, score)
    if score is not None:
        echo(json.dumps(result))
        return
    rng = np.random.default_rng(seed)
    stop_text = "\n" if stop == EOS else stop  # (a bpe model's line end is its newline)
    for k in range(num_samples):
        if k:
            write("\n")
        pieces = lm.stream_text(prompt, length, seed, temperature, top_k, greedy, top_p, rng=rng)
        _write_sample(prompt, pieces, stop_text)


def _check_options(
    temperature: float,
    top_k: int,
    top_p: float,
    length: int,
    num_samples: int,
    seed: int,
    score: str | None,
    stop: str | None,
) -> str | None:
    """Refuse options out of range; returns ``stop`` with its escapes read (``\\n``)."""
    check_sampling(temperature, top_k, top_p, length)
    if num_samples < 1:
        raise ConfigError(f"--num-samples must be >= 1, got {num_samples}")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if score == "":
        raise ConfigError("--score needs a continuation to score, got an empty one")
    if stop == "":
        raise ConfigError("--stop needs a string or token to stop at, got an empty one")
    return None if stop is None else unescape(stop)


def _score(lm: LanguageModel, prompt: str, continuation: str) -> dict:
    """The JSON object of ``--score``: the log-probability of ``continuation`` after ``prompt``."""
    logp, n = lm.score(prompt, continuation)
    if n == 0:
        raise ConfigError(f"--score {continuation!r}: no {lm.unit} tokens to score")
    unknown = lm.prompt_ids(continuation)[1]
    _warn_unknown(unknown, "token(s) of --score", "scored")
    return {"prompt": prompt, "continuation": continuation, "tokens": n, "logprob": logp,
            "bits": -logp / math.log(2), "perplexity": math.exp(-logp / n),
            "unknown_tokens": len(unknown)}  # fmt: skip


def _write_sample(prompt: str, pieces: Iterable[str], stop_text: str | None) -> None:
    """Write the prompt, then each piece of text as it is sampled (whatever the unit), until
    ``stop_text`` appears; end with a newline unless the sample did."""
    write(prompt)
    last, tail = prompt[-1:], ""  # the last character written; the end of the sample
    for piece in pieces:
        write(piece)
        last = piece[-1:] or last
        if stop_text:  # the stop may start in the last len(stop) - 1 characters before
            if stop_text in tail + piece:
                break
            tail = (tail + piece)[max(0, len(tail + piece) - len(stop_text) + 1) :]
    if last != "\n":
        write("\n")


def _warn_unknown(unknown: list[str], what: str, how: str) -> None:
    if unknown:
        shown = ", ".join(sorted(set(unknown))[:5])
        warn(f"{len(unknown)} {what} not in the vocabulary, {how} as <unk>: {shown}")


def unescape(text: str) -> str:
    """``\\n``, ``\\t`` and ``\\\\`` as typed in a shell -> newline, tab, backslash."""
    escapes = {"n": "\n", "t": "\t", "\\": "\\"}
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in escapes:
            out.append(escapes[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
