"""The training display: a rich progress bar on a terminal, plain epoch lines otherwise."""

import math
import time

from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rnnlm.cli.console import err
from rnnlm.training.loop import EpochReport, StepReport, Trainer


def fmt_ppl(ppl: float) -> str:
    return f"{ppl:.2f}" if math.isfinite(ppl) else str(ppl)


WIDE = 120  # columns that fit every field of the bar


def columns(width: int) -> list:
    """The bar's columns for a terminal ``width`` wide: below ``WIDE`` the window count, lr and
    elapsed time go and the bar shrinks, so that speed, loss, perplexity and ETA still show
    (an 80-column terminal cut the ETA off)."""
    wide = width >= WIDE
    cols = [
        TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
        BarColumn(bar_width=min(40, max(5, width - 66))),
        TextColumn("{task.fields[window]}") if wide else None,
        TextColumn("{task.fields[tps]:>7,.0f} tok/s"),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TextColumn("ppl {task.fields[ppl]:>8.2f}"),
        TextColumn("lr {task.fields[lr]:.3g}") if wide else None,
        TimeElapsedColumn() if wide else None,
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    return [c for c in cols if c is not None]


class TrainDisplay:
    """Trainer callbacks: one bar for the whole run (ETA to the end) and a line per epoch.

    On a terminal the bar is live; otherwise (a log file, a pipe) a plain progress line is
    printed every ``log_every`` seconds, with no control characters.
    """

    def __init__(self, epochs: int, unit: str) -> None:
        self.epochs = epochs
        self.unit = unit
        self.live = err.is_terminal
        self.progress = Progress(*columns(err.width), console=err, disable=not self.live)
        self.task = None
        self.windows = 1
        self.log_every = 60.0
        self._last_log = time.monotonic()

    def __enter__(self) -> "TrainDisplay":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def start(self, trainer: Trainer) -> None:
        """One task spanning every remaining window of the run."""
        self.windows = trainer.windows_per_epoch
        st = trainer.state
        done = st.epoch * self.windows + st.window
        self.task = self.progress.add_task(
            "train", total=self.epochs * self.windows, completed=done, epoch=st.epoch + 1,
            epochs=self.epochs, window="", tps=0.0, loss=float("nan"), ppl=float("nan"),
            lr=trainer.optimizer.lr,
        )  # fmt: skip

    def step(self, r: StepReport) -> None:
        if not self.live:
            now = time.monotonic()
            if now - self._last_log >= self.log_every:
                self._last_log = now
                eta = (r.windows - r.window) * (r.epoch_seconds / max(r.window, 1))
                self.progress.console.print(
                    f"epoch {r.epoch:>3} | window {r.window:,}/{r.windows:,} | loss {r.loss:.3f} "
                    f"| {r.tokens_per_s:,.0f} tok/s | epoch eta {eta:.0f} s",
                    highlight=False,
                )
            return
        if self.task is None:
            return
        self.progress.update(
            self.task, completed=(r.epoch - 1) * r.windows + r.window, epoch=r.epoch,
            window=f"{r.window:,}/{r.windows:,}", tps=r.tokens_per_s, loss=r.loss,
            ppl=math.exp(min(r.loss, 700.0)), lr=r.lr,
        )  # fmt: skip

    def epoch(self, r: EpochReport) -> None:
        best = " *" if r.improved else ""
        extra = "" if r.valid_bits_per_char is None else f" | valid bpc {r.valid_bits_per_char:.3f}"
        if r.valid_word_ppl is not None and self.unit != "word":
            extra += f" | word ppl {fmt_ppl(r.valid_word_ppl)}"
        self.progress.console.print(
            f"epoch {r.epoch:>3} | train ppl {fmt_ppl(r.train_ppl):>8} | valid ppl "
            f"{fmt_ppl(r.valid_ppl):>8}{best}{extra} | lr {r.lr:.4g} | "
            f"{r.tokens_per_s:,.0f} tok/s | {r.seconds:.1f} s"
            + (" (partial)" if r.partial else ""),
            highlight=False,
        )
