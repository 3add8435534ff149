"""A run folder: ``best.npz``, ``last.npz`` and ``metrics.jsonl`` under ``--out``.

One process at a time: ``rnnlm train`` holds ``run_lock(out)`` (rnnlm/training/lock.py) for the
whole run, from before the folder is read for resuming.
"""

import json
import os
from pathlib import Path
from typing import Any

from rnnlm.errors import CheckpointError, ConfigError
from rnnlm.training import checkpoint
from rnnlm.training.lock import RunLock

RUN_FILES = ("best.npz", "last.npz", "metrics.jsonl")


def check_out(path: Path) -> None:
    """Raise ConfigError unless ``path`` is a folder, or can be created as one."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path}: exists and is not a folder")
    existing_parent = next(p for p in (path, *path.parents) if p.exists())
    if not existing_parent.is_dir() or not os.access(existing_parent, os.W_OK):
        raise ConfigError(f"--out {path}: {existing_parent} is not a writable folder")


def run_lock(path: Path | str) -> RunLock:
    """The lock a training run holds on its folder: ``with run_lock(out): ...`` (it refuses a
    folder another process holds, and creates a missing one, removed again if left empty)."""
    check_out(Path(path))
    return RunLock(path)


class RunDir:
    """Where a training run writes; refuses to clobber an existing run unless resuming."""

    def __init__(self, path: Path | str, resume: bool = False, clean: bool = True) -> None:
        """``clean``: remove the temporary files of a process killed mid-save. Only the
        process holding the folder's lock may (``run_lock``): another one, such as a rank of a
        job whose rank 0 has yet to find the folder taken, could delete a live run's save."""
        self.path = Path(path)
        check_out(self.path)
        existing = [n for n in RUN_FILES if (self.path / n).exists()]
        if existing and not resume:
            raise ConfigError(
                f"--out {self.path} already holds a run ({', '.join(existing)}); "
                "pass --resume to continue it or choose another --out"
            )
        if resume and not (self.path / "last.npz").exists():
            raise ConfigError(f"--resume: {self.path / 'last.npz'} does not exist")
        for stale in self.path.glob(".*.npz.tmp-*") if clean else ():
            stale.unlink(missing_ok=True)

    def _ensure(self) -> None:
        """Create the folder at the first write, so a run that fails to start leaves nothing."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out {self.path}: cannot create ({exc.strerror or exc})") from None

    @property
    def best(self) -> Path:
        return self.path / "best.npz"

    @property
    def last(self) -> Path:
        return self.path / "last.npz"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    def save(self, which: str, ckpt: checkpoint.Checkpoint) -> Path:
        self._ensure()
        path = self.path / f"{which}.npz"
        checkpoint.save(path, ckpt)
        return path

    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl and flush it to disk."""
        self._ensure()
        try:
            with open(self.metrics, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise CheckpointError(f"cannot write {self.metrics}: {exc.strerror or exc}") from None

    def truncate_metrics(self, step: int, epochs_done: int) -> None:
        """Drop the records a resume from a checkpoint at ``step``, after ``epochs_done``
        complete epochs, will write again: those past ``step``, and an epoch's end logged at
        ``step`` itself whose checkpoint was not written (the trainer logs an epoch's end
        before saving it, so a crash between the two loses no record and duplicates none)."""
        if not self.metrics.exists():
            return

        def kept(r: dict[str, Any]) -> bool:
            if r.get("step", 0) != step:
                return r.get("step", 0) < step
            redone = r.get("kind") == "epoch" and not r.get("partial")
            return not (redone and r.get("epoch", 0) > epochs_done)

        keep = [r for r in self.read_metrics() if kept(r)]
        tmp = self.metrics.with_name(".metrics.jsonl.tmp")
        try:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
            os.replace(tmp, self.metrics)
        except OSError as exc:
            raise CheckpointError(f"cannot write {self.metrics}: {exc.strerror or exc}") from None

    def read_metrics(self) -> list[dict[str, Any]]:
        return self.parse_metrics(self.metrics) if self.metrics.exists() else []

    @staticmethod
    def parse_metrics(path: Path) -> list[dict[str, Any]]:
        """Records of a metrics.jsonl; a line cut short by a crash is skipped."""
        records = []
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
        return records
