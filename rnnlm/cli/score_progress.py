"""The bar shown while ``rnnlm eval`` scores a file (on a terminal only; gone when done)."""

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from rnnlm.cli.console import err


class ScoreProgress:
    """A transient bar on stderr over ``total`` tokens; ``update(done, total)`` is the
    scorer's progress callback. Draws nothing when stderr is not a terminal."""

    def __init__(self, name: str, total: int, adapting: bool = False) -> None:
        self.progress = Progress(
            TextColumn(f"[bold]{'adapting to' if adapting else 'scoring'}[/] {_literal(name)}"),
            BarColumn(),
            TextColumn("{task.completed:,}/{task.total:,} tokens"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self.task = self.progress.add_task("score", total=max(total, 0))

    def __enter__(self) -> "ScoreProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def update(self, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total)


def _literal(text: str) -> str:
    """``text`` as it is inside a TextColumn, which reads markup and then ``str.format``."""
    return escape(text).replace("{", "{{").replace("}", "}}")
