"""Learning curves of one or more runs, from their ``metrics.jsonl``: a PNG, or a terminal line."""

import math
from pathlib import Path
from typing import Any

from rnnlm.errors import ConfigError, RnnlmError
from rnnlm.training.run_folder import RunDir

SPARKS = "▁▂▃▄▅▆▇█"
MAX_PIXELS = 2**16  # matplotlib's limit on a figure's side


def sparkline(values: list[float]) -> str:
    """A one-line curve, lowest value as ▁ and highest as █."""
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return "".join(SPARKS[round((v - lo) / span * (len(SPARKS) - 1))] for v in values)


def epoch_records(run: Path) -> list[dict]:
    """The epoch lines of a run's metrics.jsonl (step lines are left out)."""
    path = Path(run) / "metrics.jsonl" if Path(run).is_dir() else Path(run)
    if not path.exists():
        raise RnnlmError(f"{run}: no metrics.jsonl (is it a run folder written by rnnlm train?)")
    recs = [r for r in RunDir.parse_metrics(path) if r.get("kind", "epoch") == "epoch"]
    numbers = ("valid_ppl", "train_ppl")
    recs = [r for r in recs if all(isinstance(r.get(k), int | float) for k in numbers)]
    if not recs:
        raise RnnlmError(f"{path}: holds no epoch records (with train and valid perplexity) yet")
    return recs


# (split, matplotlib format, style): validation solid with dots, training dashed and lighter
CURVES = (("valid", "-o", {"ms": 3}), ("train", "--", {"alpha": 0.6}))
# (axis, record key, divisor, label)
X_AXES = ((0, "tokens_seen", 1e6, "training tokens (millions)"),
          (1, "wall_seconds", 60.0, "wall time (minutes)"))  # fmt: skip


def plot_runs(
    runs: list[Path], out: Path, width: float = 10.0, height: float = 4.0, dpi: int = 100
) -> Path:
    """Train (dashed) and validation (solid) perplexity against tokens seen and wall time.

    The file's extension picks the format (matplotlib's: png, pdf, svg, ...); without one it
    is a PNG named ``out`` + ``.png``. Returns the path written.
    """
    out = _checked_out(out, width, height, dpi)
    plt, ticker = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(width, height), dpi=dpi)
    for i, run in enumerate(runs):
        recs = epoch_records(run)
        color = f"C{i % 10}"
        for a, key, scale, _ in X_AXES:
            xs = [r.get(key, 0) / scale for r in recs]
            for split, fmt, style in CURVES:
                ys = [r[f"{split}_ppl"] for r in recs]
                label = f"{Path(run).name} {split}"
                axes[a].plot(xs, ys, fmt, color=color, label=label, **style)
    for a, _, _, xlabel in X_AXES:
        axes[a].set_xlabel(xlabel)
    for ax in axes:
        ax.set_ylabel("perplexity")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
        ax.yaxis.set_minor_formatter(ticker.ScalarFormatter())
        ax.grid(True, alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=dpi)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"--out {out}: cannot write ({why})") from None
    finally:
        plt.close(fig)
    return out


def _checked_out(out: Path, width: float, height: float, dpi: int) -> Path:
    """The file to write (``.png`` added where ``out`` has no extension), once the size and
    the path are checked."""
    if not all(math.isfinite(v) and v > 0 for v in (width, height, dpi)):
        raise ConfigError("--width, --height and --dpi must be positive numbers")
    if max(width, height) * dpi > MAX_PIXELS:
        raise ConfigError(f"--width/--height times --dpi must be at most {MAX_PIXELS:,} pixels")
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f"--out {out}: is a folder; name the file to write")
    if not out.suffix:
        out = out.with_name(out.name + ".png")
    return out


def _pyplot() -> tuple[Any, Any]:
    """matplotlib's pyplot and ticker modules, drawing off screen (Agg); an optional extra."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        raise RnnlmError(
            "rnnlm plot needs matplotlib: pip install 'rnnlm-numpy[plot]' (or matplotlib itself)"
        ) from None
    return plt, matplotlib.ticker
