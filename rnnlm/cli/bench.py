"""``rnnlm bench``: how fast this machine trains, evaluates and samples a model config."""

import json
import os
from typing import Annotated

import typer

from rnnlm.backend import use_device
from rnnlm.bench import CONFIGS, bench, device_name
from rnnlm.cli.console import echo, err, user_errors, warn
from rnnlm.cli.flags import CHOICE_ENUMS, Device, DeviceFlag, listed
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.errors import ConfigError

CELL, OPTIMIZER, SOFTMAX = (CHOICE_ENUMS[name] for name in ("cell", "optimizer", "softmax"))


def bench_command(
    config: Annotated[
        str,
        typer.Option(
            help=f"Named size: {', '.join(CONFIGS)} (D = H, N, T as in docs/performance.md)."
        ),
    ] = "M",
    cell: Annotated[CELL, typer.Option(help=f"Recurrent cell: {listed('cell')}.")] = CELL("rnn"),
    layers: Annotated[int, typer.Option(help="Recurrent layers.")] = 1,
    vocab: Annotated[int, typer.Option(help="Vocabulary size V.")] = 10_000,
    embed_dim: Annotated[int | None, typer.Option(help="D (default: the config's).")] = None,
    hidden: Annotated[int | None, typer.Option(help="H (default: the config's).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="N (default: the config's).")] = None,
    bptt: Annotated[int | None, typer.Option(help="T (default: the config's).")] = None,
    optimizer: Annotated[
        OPTIMIZER, typer.Option(help=f"Update rule: {listed('optimizer')}.")
    ] = OPTIMIZER("sgd"),
    softmax: Annotated[
        SOFTMAX, typer.Option(help="full or class (about sqrt(V) classes).")
    ] = SOFTMAX("full"),
    steps: Annotated[int, typer.Option(help="Training steps per timed repeat.")] = 5,
    repeats: Annotated[int, typer.Option(help="Timed repeats; the median is reported.")] = 5,
    warmup: Annotated[int, typer.Option(help="Untimed repeats first.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    device: DeviceFlag = Device("cpu"),
) -> None:
    """Measure training tokens/s, evaluation tokens/s and generation ms/token, with the
    achieved GFLOP/s against numpy's own matmul speed at the same shapes (the roofline; with
    --device cuda, CuPy's).

    Example: rnnlm bench --config M --json
    """
    cell, optimizer, softmax, device = cell.value, optimizer.value, softmax.value, device.value
    with user_errors():
        use_device(device)
        if config not in CONFIGS:
            raise ConfigError(f"unknown --config '{config}' (choose from: {', '.join(CONFIGS)})")
        if min(steps, repeats) < 1 or warmup < 0:
            raise ConfigError("--steps and --repeats must be >= 1, --warmup >= 0")
        sizes = {"embed_dim": embed_dim, "hidden": hidden, "batch_size": batch_size, "bptt": bptt}
        mcfg, tcfg = _configs(config, sizes, cell, layers, vocab, optimizer, softmax)
        err.print(
            f"benchmarking {config}: {mcfg.cell} D={mcfg.embed_dim} H={mcfg.hidden} "
            f"V={vocab} N={tcfg.batch_size} T={tcfg.bptt} on {device_name(device)} ...",
            highlight=False,
            markup=False,
        )
        result = bench(mcfg, tcfg, steps=steps, repeats=repeats, warmup=warmup, device=device)
    result["config"]["name"] = config
    result["cpus"] = os.cpu_count()
    result["device"] = device
    if device != "cpu":
        result["gpu"] = device_name(device)
    if as_json:
        echo(json.dumps(result))
    else:
        _print_result(result)


def _configs(
    config: str,
    sizes: dict[str, int | None],
    cell: str,
    layers: int,
    vocab: int,
    optimizer: str,
    softmax: str,
) -> tuple[ModelConfig, TrainConfig]:
    """The model and training configs of named size ``config`` (one of ``CONFIGS``), with the
    ``sizes`` given (not None) in place of its own."""
    if vocab < 2:
        raise ConfigError(f"--vocab must be at least 2, got {vocab}")
    size = dict(CONFIGS[config])
    size.update({key: value for key, value in sizes.items() if value is not None})
    mcfg = ModelConfig(vocab_size=vocab, embed_dim=size["embed_dim"], hidden=size["hidden"],
                       cell=cell, layers=layers, dropout=0.0, softmax=softmax,
                       class_bounds=(0, vocab) if softmax == "class" else ())  # fmt: skip
    tcfg = TrainConfig(batch_size=size["batch_size"], bptt=size["bptt"], optimizer=optimizer,
                       lr=0.1 if optimizer == "sgd" else 1e-3)  # fmt: skip
    return mcfg, tcfg


def _print_result(result: dict) -> None:
    """The measurements as lines for a person."""
    lo, hi = result["tokens_per_s_range"]
    echo(
        f"train     {result['tokens_per_s']:>10,.0f} tokens/s  (range {lo:,.0f}-{hi:,.0f}; "
        f"{result['step_ms']:.1f} ms/step)"
    )
    echo(f"eval      {result['eval_tokens_per_s']:>10,.0f} tokens/s")
    echo(f"generate  {result['generate_ms_per_token']:>10.3f} ms/token")
    if result["roofline_ratio"] is None:  # the roofline model counts a full softmax's products
        echo("compute   (no matmul roofline for the class softmax)")
        return
    rlo, rhi = result["roofline_ratio_range"]
    echo(
        f"compute   {result['gflops']:>10.1f} GFLOP/s in matmuls (median step); "
        f"{'numpy' if result['device'] == 'cpu' else 'CuPy'} matmul "
        f"alone {result['matmul_gflops']:.1f} GFLOP/s (median; "
        f"{result['roofline_tokens_per_s']:,.0f} tokens/s)"
    )
    echo(
        f"roofline  {result['roofline_ratio']:>10.0%} of roofline (range {rlo:.0%}-{rhi:.0%}: each "
        "repeat's matmuls-alone time over its step time, median of the repeats)"
    )
    if rhi > 1.0:
        warn("a step ran faster than its matmuls alone: the machine was busy; bench it idle")
