"""``rnnlm eval``: perplexity of a checkpoint on text files, beside n-gram baselines."""

import dataclasses
import io
import json
import math
import os
import stat
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rnnlm import memory
from rnnlm.api import LanguageModel, Score, load
from rnnlm.backend import use_device
from rnnlm.cli.console import echo, err, user_errors, warn, write
from rnnlm.cli.flags import CheckpointArg, Device, DeviceFlag, ForceFlag
from rnnlm.cli.score_progress import ScoreProgress
from rnnlm.data.corpus import eval_ids
from rnnlm.data.encode import encode_file
from rnnlm.data.named import registered_file
from rnnlm.errors import ConfigError, CorpusError
from rnnlm.eval.dynamic import DynamicEval
from rnnlm.eval.metrics import TextCounts, comparable, oov_note, scored_counts
from rnnlm.eval.ngram import NGramStats
from rnnlm.eval.perplexity import EvalResult

OOV_WARN, OOV_REFUSE = 0.05, 0.5


def eval_command(
    checkpoint: CheckpointArg,
    files: Annotated[
        list[Path], typer.Argument(help="Text files to score, each from its start; - reads stdin.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
    per_token: Annotated[
        Path | None,
        typer.Option(
            help="Write one JSON line per token (file, token, id, logprob, surprisal "
            "in bits) to this file (default: none)."
        ),
    ] = None,
    baseline_from: Annotated[
        Path | None,
        typer.Option(
            help="Fit the unigram/bigram baselines on this training file instead of "
            "the counts stored in the checkpoint (default: stored counts)."
        ),
    ] = None,
    dynamic_lr: Annotated[
        float,
        typer.Option(
            help="Dynamic evaluation: after scoring each window, take an SGD step of this "
            "rate per token on it, so the model adapts to the text as it reads (Mikolov "
            "2010, Krause 2017); every token is still predicted from earlier ones only. "
            "0 scores with the trained weights (off).",
        ),
    ] = 0.0,
    dynamic_window: Annotated[
        int | None,
        typer.Option(
            help=f"Dynamic evaluation: tokens per adaptation step (default: {DynamicEval.window}).",
            show_default=False,
        ),
    ] = None,
    dynamic_decay: Annotated[
        float | None,
        typer.Option(
            help="Dynamic evaluation: after each step, move the weights this fraction of the "
            "way back to the trained ones (default: 0, none).",
            show_default=False,
        ),
    ] = None,
    force: ForceFlag = False,
    device: DeviceFlag = Device("cpu"),
    allow_oov: Annotated[
        bool,
        typer.Option(
            "--allow-oov",
            help=f"Score a file even if over {OOV_REFUSE:.0%} "
            "of its tokens are unknown (likely the wrong checkpoint).",
        ),
    ] = False,
) -> None:
    """Report perplexity, token count and OOV rate, with unigram and add-0.1 bigram baselines
    from the training data, and scores comparable across units (word, char, bpe): bits per
    character and word perplexity, the same total over the text's characters and over its
    words (whitespace-split, plus one per line as <eos>).

    Every token of a file is predicted from all before it (the first from a line start).
    With --dynamic-lr the model also adapts to each file as it reads it, starting every file
    from the trained weights; the checkpoint is never changed.
    Example: rnnlm eval runs/ptb/best.npz ptb.test.txt ptb.valid.txt
    """  # fmt: skip
    with user_errors():
        use_device(device.value)  # no CuPy or no GPU: said before anything is read
        if sum(str(f) == "-" for f in files) > 1:
            raise ConfigError("standard input (-) can be scored once per command")
        located = {shown: _locate(shown) for shown in files}
        if per_token is not None:
            inputs = [checkpoint, *files, *located.values(), baseline_from]
            _check_not_an_input(per_token, inputs)
        dynamic = _dynamic(dynamic_lr, dynamic_window, dynamic_decay)
        memory.check_eval(checkpoint, list(located.values()), dynamic, force)
        lm = load(checkpoint, device.value)
        stats = _baseline_stats(lm, baseline_from)
        rows = []
        for shown in files:  # a file named twice is scored twice
            path = located[shown]
            ids, score = _score_file(lm, shown, path, per_token is not None, dynamic, allow_oov)
            rows.append((shown, ids, score))
        if per_token is not None:
            _write_per_token(per_token, lm, rows)
    summary = _summary(lm, rows, stats)
    summary["dynamic"] = None if dynamic is None else dataclasses.asdict(dynamic)
    if as_json:
        echo(json.dumps(summary))
    else:
        _table(summary, lm.unit)
        if dynamic is not None:
            d = dynamic
            echo(f"dynamic evaluation: lr {d.lr:g} per token, window {d.window}, decay {d.decay:g}")


def _dynamic(lr: float, window: int | None, decay: float | None) -> DynamicEval | None:
    """The dynamic evaluation the flags ask for, or None (``lr`` 0: off)."""
    if lr != 0.0:
        return DynamicEval(
            lr,
            DynamicEval.window if window is None else window,
            DynamicEval.decay if decay is None else decay,
        )
    if window is not None or decay is not None:
        raise ConfigError("--dynamic-window and --dynamic-decay need --dynamic-lr > 0")
    return None


def _score_file(
    lm: LanguageModel,
    shown: Path,
    path: Path,
    per_token: bool,
    dynamic: DynamicEval | None,
    allow_oov: bool,
) -> tuple[np.ndarray, Score]:
    """Encode and score one file (``path``, found for the ``shown`` name), under a progress
    bar; refused when more than ``OOV_REFUSE`` of it is unknown, unless ``allow_oov``."""
    if path != shown:
        note = f"{shown}: not in this folder; scoring {path}"
        err.print(note, markup=False, highlight=False)
    ids, oov = eval_ids(path, lm.vocab, lm.unit)  # (a prepared folder too)
    if len(ids) < 2:  # the first token is context only
        raise CorpusError(f"{path}: one {lm.unit} token, nothing to predict after it")
    rate = oov / max(len(ids) - (lm.boundary_id() is not None), 1)
    if rate > OOV_REFUSE and not allow_oov:
        raise CorpusError(
            f"{path}: {rate:.0%} of its tokens are not in the checkpoint's {lm.unit}-level "
            "vocabulary; wrong checkpoint? (--allow-oov scores it anyway)"
        )
    if rate > OOV_WARN:
        warn(f"{path}: {rate:.1%} of tokens are not in the vocabulary (scored as <unk>)")
    with ScoreProgress(path.name, len(ids) - 1, dynamic is not None) as bar:
        score = lm.score_ids(ids, oov, per_token, dynamic, bar.update)
    counts = scored_counts(path, ids, lm.vocab, lm.unit)  # (docs/metrics.md)
    if (note := oov_note(str(path), oov)) is not None:
        warn(note)
    return ids, dataclasses.replace(score, counts=counts)


def _locate(path: Path) -> Path:
    """``path``, or, where no such file is here and its bare name is a named corpus's file
    (``ptb.test.txt``), that corpus's copy in the data directory (``$RNNLM_DATA``)."""
    if str(path) == "-" or path.exists() or path.parent != Path("."):
        return path
    return registered_file(path.name) or path


def _baseline_stats(lm: LanguageModel, train_file: Path | None) -> NGramStats | None:
    if train_file is not None:
        ids, _ = encode_file(train_file, lm.vocab, lm.unit)
        return NGramStats.from_ids(ids, len(lm.vocab))
    return NGramStats.from_arrays(lm.ckpt.stats)


def _entry(name: str, result: EvalResult, oov: int, baselines: dict, counts: TextCounts) -> dict:
    return {
        "file": name,
        "perplexity": result.perplexity,
        "tokens": result.tokens,
        "oov_rate": oov / result.tokens if result.tokens else 0.0,
        "bits_per_token": result.bits_per_token,
        **comparable(result.nll, counts),  # bits_per_char, word_perplexity, chars, words
        **baselines,
    }


def _summary(lm: LanguageModel, rows: list, stats: NGramStats | None) -> dict:
    files = []
    for path, ids, score in rows:
        base = {}
        if stats is not None:
            base = {"unigram_perplexity": stats.unigram_perplexity(ids),
                    "bigram_perplexity": stats.bigram_perplexity(ids)}  # fmt: skip
        files.append(_entry(str(path), score.result, score.oov, base, score.counts))
    total = EvalResult(
        nll=sum(s.result.nll for _, _, s in rows),
        tokens=sum(s.result.tokens for _, _, s in rows),
    )
    counts = TextCounts(
        sum(s.counts.chars for *_, s in rows), sum(s.counts.words for *_, s in rows)
    )
    out = _entry("total", total, sum(s.oov for _, _, s in rows), {}, counts)
    del out["file"]
    out["unit"] = lm.unit
    out["files"] = files
    return out


def _table(summary: dict, unit: str) -> None:
    table = Table(box=None, header_style="bold")
    for col in ("file", "perplexity", "bits/token", "bits/char", "word ppl",
                "tokens", "OOV", "unigram ppl", "bigram ppl"):  # fmt: skip
        table.add_column(col, justify="left" if col == "file" else "right")

    def fmt(x):
        if x is None:
            return "-"
        if isinstance(x, float) and math.isfinite(x):
            return f"{x:,.2f}" if x < 1e9 else f"{x:.3g}"
        return str(x)

    entries = summary["files"] + (
        [{**summary, "file": "total"}] if len(summary["files"]) > 1 else []
    )
    for e in entries:
        table.add_row(
            Text(e["file"]),  # a file name, not markup
            fmt(e["perplexity"]),
            f"{e['bits_per_token']:.4f}",
            fmt(e["bits_per_char"]) if e["bits_per_char"] is None else f"{e['bits_per_char']:.4f}",
            fmt(e["word_perplexity"]),
            f"{e['tokens']:,}",
            f"{e['oov_rate']:.2%}",
            fmt(e.get("unigram_perplexity")),
            fmt(e.get("bigram_perplexity")),
        )
    screen = Console()  # a pipe or a file: never cut file names to 80 columns
    width = screen.width if screen.is_terminal else 200
    text = io.StringIO()  # rendered here, then written by ``write`` (its errors: one line)
    Console(file=text, highlight=False, force_terminal=screen.is_terminal, width=width).print(table)
    write(text.getvalue())


def _check_not_an_input(out: Path, inputs: list[Path | None]) -> None:
    """--per-token must not name the checkpoint or a file being read: refused before scoring."""
    if str(out) == "-" or _is_stdout(out):
        raise ConfigError(
            f"--per-token {out}: is standard output, which holds the table or the JSON; name a file"
        )
    for src in inputs:
        if src is not None and out.exists() and src.exists() and out.samefile(src):
            raise ConfigError(f"--per-token {out}: is an input ({src}); choose another file")


def _is_stdout(path: Path) -> bool:
    """Whether ``path`` is the file or pipe standard output goes to (``/dev/stdout``, the
    redirect's file), where the records would truncate or mix with the results (a terminal
    or ``/dev/null`` is harmless)."""
    try:
        a, b = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no such file; stdout not a real file
        return False
    same = (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    return same and (stat.S_ISREG(b.st_mode) or stat.S_ISFIFO(b.st_mode))


def _write_per_token(path: Path, lm: LanguageModel, rows: list) -> None:
    """Write the records to a temporary file beside ``path`` and rename it into place, so a
    failed write leaves an existing file as it was. A symbolic link, a device or a pipe is
    written through directly instead (not atomically)."""
    direct = path.is_symlink() or (path.exists() and not path.is_file())
    target = path if direct else path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(target, "w", encoding="utf-8") as f:
            for src, ids, score in rows:
                predicted = ids[1:]
                for tok_id, nll in zip(
                    predicted.tolist(), score.result.token_nll.tolist(), strict=True
                ):
                    record = {
                        "file": str(src),
                        "token": lm.vocab.tokens[tok_id],
                        "text": lm.vocab.token_text(tok_id),
                        "id": tok_id,
                        "logprob": -nll,
                        "surprisal_bits": nll / math.log(2),
                    }
                    f.write(json.dumps(record) + "\n")
        if not direct:
            os.replace(target, path)
    except OSError as exc:
        if not direct:
            target.unlink(missing_ok=True)
        raise CorpusError(f"--per-token {path}: cannot write ({exc.strerror or exc})") from None
