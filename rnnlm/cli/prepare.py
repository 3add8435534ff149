"""``rnnlm prepare``: write a corpus's token ids to a folder that train and eval read in place."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from rnnlm.cli.allocator import keep_freed_memory
from rnnlm.cli.console import echo, err, user_errors
from rnnlm.cli.flags import CHOICE_ENUMS, CorpusArg
from rnnlm.data.prepare import prepare_corpus
from rnnlm.data.splits import VALID_FRACTION

Unit = CHOICE_ENUMS["unit"]


def prepare_command(
    corpus: CorpusArg,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Folder to write (train.ids, valid.ids, test.ids, stats.npz, meta.json); "
            "then `rnnlm train OUT` and `rnnlm eval CHECKPOINT OUT`.",
            show_default=False,
        ),
    ],
    unit: Annotated[
        Unit | None,
        typer.Option(
            help="Tokens: words (plus <eos> per line), characters, or bpe: byte-level subwords "
            "learned from the training split (needs pip install 'rnnlm-numpy\\[bpe]') "
            "(default: the named corpus's unit, else word).",
        ),
    ] = None,
    valid: Annotated[
        Path | None,
        typer.Option(
            help="Validation file (default: the corpus's own, else the last --valid-fraction "
            "of CORPUS)."
        ),
    ] = None,
    test: Annotated[
        Path | None, typer.Option(help="Test file (default: the corpus's own, else none).")
    ] = None,
    valid_fraction: Annotated[
        float, typer.Option(help="Share of a single-file corpus held out for validation.")
    ] = VALID_FRACTION,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where named corpora are kept and downloaded (default: $RNNLM_DATA, "
            "else ~/.cache/rnnlm)."
        ),
    ] = None,
    max_vocab: Annotated[
        int, typer.Option(help="Keep at most this many tokens, <unk> included (0: all).")
    ] = 0,
    min_count: Annotated[
        int, typer.Option(help="Map tokens seen fewer times than this to <unk>.")
    ] = 1,
    subword_vocab: Annotated[
        int,
        typer.Option(
            help="--unit bpe: tokens of the BPE, <unk> and the 256 bytes included (0: min(8000, "
            "257 + square root of the training file's characters))."
        ),
    ] = 0,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace OUT if it already holds a prepared corpus."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object of the results instead.")
    ] = False,
) -> None:
    """Tokenise a corpus once and write its token ids to disk, for corpora larger than memory.

    One streaming pass over the text (memory grows with the vocabulary, not the text); one
    flat uint16 file of ids per split (uint32 above 65,536 tokens), read in place by
    rnnlm train and rnnlm eval. The options mean what they mean for rnnlm train.

    Example: rnnlm prepare big.txt --out prep/big --valid v.txt; rnnlm train prep/big
    """  # fmt: skip
    keep_freed_memory()
    with user_errors(), PrepareProgress() as bar:
        meta = prepare_corpus(
            corpus, out, unit=unit.value if unit else None, max_vocab=max_vocab,
            min_count=min_count, valid=valid, test=test, valid_fraction=valid_fraction,
            data_dir=data_dir, force=force, on_progress=bar.update, subword_vocab=subword_vocab,
        )  # fmt: skip
    splits = {s: {k: v[k] for k, v in [("tokens", i), ("oov", i), ("source", i)]}
              for s, i in meta["splits"].items()}  # fmt: skip
    dtype = "uint16" if meta["dtype"].endswith("2") else "uint32"
    summary = {"out": str(out), "unit": meta["unit"], "vocab_size": meta["vocab_size"],
               "dtype": dtype, "splits": splits}  # fmt: skip
    if as_json:
        echo(json.dumps(summary))
        return
    echo(f"prepared {out}: {meta['unit']} level, vocab {meta['vocab_size']:,}, {dtype} ids")
    for split, info in meta["splits"].items():
        rate = info["oov"] / max(info["tokens"], 1)
        echo(f"  {split}: {info['tokens']:,} tokens ({rate:.2%} OOV) from {info['source']}")


class PrepareProgress:
    """A transient bar on stderr (a terminal only): bytes read, then ids written."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> "PrepareProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def update(self, what: str, done: int, total: int | None) -> None:
        if what not in self.tasks:
            self.tasks[what] = self.progress.add_task(escape(what), total=total)
        self.progress.update(self.tasks[what], completed=done, total=total)
