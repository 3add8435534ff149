"""Named corpora (``ptb``, ``wikitext-2``, ``tinyshakespeare``) and the data directory.

The registry lives in the project's ``data/corpora.json`` (installed as ``rnnlm.resources``).
A named
corpus is looked for in the data directory, ``<data dir>/<name>/<file>``, and downloaded there
when absent. The data directory is ``--data-dir``, else ``$RNNLM_DATA``, else the per-user cache
(``$XDG_CACHE_HOME/rnnlm`` or ``~/.cache/rnnlm``).
"""

import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from rnnlm.data.download import fetch


def registry() -> dict[str, dict[str, Any]]:
    """Name -> {description, unit, files: {split: {name, url, sha256}}}."""
    text = resources.files("rnnlm.resources").joinpath("corpora.json").read_text(encoding="utf-8")
    return json.loads(text)


def data_dir(explicit: Path | str | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("RNNLM_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "rnnlm"


def data_dir_origin(explicit: Path | str | None = None) -> str:
    """Where ``data_dir(explicit)`` came from, for messages."""
    if explicit:
        return "the data folder given by --data-dir"
    if os.environ.get("RNNLM_DATA"):
        return "the data folder given by $RNNLM_DATA"
    return "the default data folder; --data-dir or $RNNLM_DATA names another"


def named_corpus_files(
    name: str,
    root: Path,
    spec: dict[str, Any] | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> dict[str, Path]:
    """Split -> local path of each file of a named corpus, downloading what is missing."""
    spec = spec if spec is not None else registry()[name]
    paths = {}
    for split, f in spec["files"].items():
        report = (
            (lambda done, total, n=f["name"]: on_progress(n, done, total)) if on_progress else None
        )
        paths[split] = fetch(f["url"], root / name / f["name"], f["sha256"], on_progress=report)
    return paths


def registered_file(name: str, root: Path | str | None = None) -> Path | None:
    """A named corpus's file by its own name, ``ptb.test.txt``, if that copy is already in the
    data directory (checked against its sha256); None for any other name. Only names that
    start with their corpus's (``ptb.``), so that ``test.txt`` or ``input.txt`` are never taken
    for WikiText-2's or Tiny Shakespeare's; nothing is downloaded."""
    for corpus, spec in registry().items():
        for f in spec["files"].values():
            path = data_dir(root) / corpus / name
            if f["name"] == name and name.startswith(f"{corpus}.") and path.is_file():
                return fetch(f["url"], path, f["sha256"])
    return None
