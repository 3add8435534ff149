"""Does the GPU path work on this machine, and how fast is it? One run on an NVIDIA GPU.

    python -m benchmarks.gpu_check                  # every check, a few minutes
    python -m benchmarks.gpu_check --skip-speed     # correctness only (--checks picks any)
    python -m benchmarks.gpu_check --data-dir DIR   # the folder holding ptb/ (default $RNNLM_DATA)

It prints the GPU's name, then one line per check, PASS or FAIL with its figures:

1. layers: every model of ``rnnlm.nn.gradcheck.VARIANTS`` (each cell, dropout, variational
   dropout, weight drop, tied weights, the class softmax) run forward and backward with numpy
   and with CuPy from the same weights and dropout masks, over two windows (the second from the
   carried state), in the tanh RNN loop's plain and transposed layouts: every loss, per-token
   loss, gradient, carried state and score within rtol 1e-4 in float32 and 1e-10 in float64.
2. training: the default recipe (``ptb-rnn``: tanh RNN 256, Adam, dropout 0.3) for 200 steps
   on PTB on the CPU and on the GPU from the same seed: every step's loss within 1%. Without
   PTB (or with ``--synthetic``), a synthetic Zipfian corpus, as the line says.
3. resume: the same run stopped on the CPU at step 60, resumed on the GPU to 120, resumed on
   the CPU to 180, through its ``last.npz``: every loss within 1% of the uninterrupted CPU run.
4. speed (measured, never pass/fail): training tokens/s as ``rnnlm bench`` measures them at M
   and L (tanh RNN) and L (LSTM), against PyTorch on the same GPU when a CUDA build of torch is
   importable (otherwise one line says why not).

Exit status: 0 every check passed, 1 a check failed, 2 nothing could run (no CuPy or no GPU,
said in one line).
"""

import argparse
import contextlib
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from rnnlm.backend import to_host, use_device
from rnnlm.errors import ConfigError

RTOL = {np.float32: 1e-4, np.float64: 1e-10}
LOSS_RTOL = 0.01
SPEED = "M:rnn,L:rnn,L:lstm"
CHECKS = "layers,training,speed"  # (training includes the resume check)
# the synthetic corpus when there is no PTB: tokens per split, and its vocabulary
SYNTHETIC = {"train": 300_000, "valid": 20_000, "test": 20_000}
SYNTHETIC_VOCAB = 10_000


class Report:
    """PASS/FAIL lines as the checks finish; ``failed`` names the failures."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, detail: str) -> None:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)
        if not ok:
            self.failed.append(name)

    def note(self, name: str, detail: str) -> None:
        print(f"      {name}: {detail}", flush=True)

    def run(self, name: str, check: Callable[[], None]) -> None:
        """Run ``check``; an exception is a failure (its traceback on stderr)."""
        try:
            check()
        except Exception as exc:
            traceback.print_exc()
            self.check(name, False, f"raised {type(exc).__name__}: {exc}")


def header() -> str:
    import cupy

    from rnnlm.bench import device_name

    def version(get: Callable[[], int]) -> str:
        try:
            v = int(get())
        except Exception:  # (a runtime that cannot say)
            v = -1
        return f"{v // 1000}.{v % 1000 // 10}" if v > 0 else "?"

    rt = cupy.cuda.runtime
    runtime = version(getattr(rt, "runtimeGetVersion", lambda: -1))
    driver = version(getattr(rt, "driverGetVersion", lambda: -1))
    return (
        f"GPU: {device_name('cuda')} | CuPy {cupy.__version__} (CUDA runtime {runtime}, driver "
        f"{driver}) | numpy {np.__version__} | {os.cpu_count()} CPUs"
    )


# --- 1. layers ----------------------------------------------------------------------------


@contextlib.contextmanager
def transposed(on: bool) -> Iterator[None]:
    """The tanh RNN loop's transposed (multi-thread BLAS) layout at any size, while inside."""
    from rnnlm.nn.cells import recurrent

    saved = recurrent.blas_threads, recurrent.TRANSPOSE_MIN, recurrent.TRANSPOSE_MIN_STEPS
    if on:
        recurrent.blas_threads = lambda: 2
        recurrent.TRANSPOSE_MIN, recurrent.TRANSPOSE_MIN_STEPS = 0, 1
    try:
        yield
    finally:
        recurrent.blas_threads, recurrent.TRANSPOSE_MIN, recurrent.TRANSPOSE_MIN_STEPS = saved


def compare_model(kw: dict, dtype: type, rtol: float) -> tuple[float, list[str]]:
    """numpy against CuPy on one model: (worst relative difference, what is beyond rtol)."""
    from rnnlm.config import ModelConfig
    from rnnlm.nn.gradcheck import BASE, compare_devices
    from rnnlm.nn.model import RNNLM, init_params

    cfg = ModelConfig(**{**BASE, **kw})
    weights = init_params(cfg, np.random.default_rng(0), dtype)
    cpu = RNNLM(cfg, np.random.default_rng(1), dtype, {k: v.copy() for k, v in weights.items()})
    gpu = RNNLM(cfg, np.random.default_rng(1), dtype, dict(weights), device="cuda")
    rng = np.random.default_rng(2)
    worst, beyond = 0.0, []

    def compare(a: object, b: object, what: str) -> None:
        nonlocal worst
        a, b = np.asarray(a, dtype=np.float64), np.asarray(to_host(b), dtype=np.float64)
        scale = max(float(np.abs(a).max()), 1e-30)
        worst = max(worst, float(np.abs(a - b).max()) / scale)
        if not np.allclose(b, a, rtol=rtol, atol=rtol * 1e-2):
            beyond.append(what)

    compare_devices(cpu, gpu, rng, compare)
    return worst, beyond


def check_layers(report: Report) -> None:
    from rnnlm.nn.gradcheck import VARIANTS

    for dtype, rtol in RTOL.items():
        worst, beyond = 0.0, []
        for layout in ("plain", "transposed"):
            with transposed(layout == "transposed"):
                for name, kw in VARIANTS.items():
                    err, bad = compare_model(kw, dtype, rtol)
                    worst = max(worst, err)
                    beyond += [f"{name} ({layout}): {', '.join(bad)}"] if bad else []
        detail = (
            f"{len(VARIANTS)} models x 2 layouts, worst relative difference {worst:.1e} "
            f"(rtol {rtol:g})" + (f"; beyond it: {'; '.join(beyond)}" if beyond else "")
        )
        report.check(f"layers {np.dtype(dtype).name}", not beyond, detail)


# --- 2 and 3. training and resume ---------------------------------------------------------


def corpus(data_dir: str | None, synthetic: bool, tmp: Path) -> tuple[str, str]:
    """(CORPUS argument, its description): PTB if found, else a synthetic Zipfian corpus."""
    from rnnlm.bench import zipf_stream

    base = data_dir or os.environ.get("RNNLM_DATA")
    ptb = Path(base or ".") / "ptb"
    if not synthetic and base and (ptb / "ptb.train.txt").exists():
        return str(ptb), f"PTB ({ptb})"  # a folder of ptb.{train,valid,test}.txt
    folder = tmp / "zipf"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in SYNTHETIC.items():
        ids = zipf_stream(SYNTHETIC_VOCAB, n, rng).reshape(-1, 20)
        lines = (" ".join(f"w{i}" for i in row) for row in ids)
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    why = "--synthetic" if synthetic else f"no ptb/ptb.train.txt under '{base or '(unset)'}'"
    return str(folder), f"a synthetic Zipfian corpus ({why})"


def train_to(
    corpus_arg: str, out: Path, device: str, steps: int, resume: bool = False
) -> tuple[list[float], float]:
    """Train (or resume) the ptb-rnn recipe in ``out`` up to ``steps`` updates on ``device``:
    (each new step's loss, seconds of training and validation)."""
    from rnnlm.presets import preset_sections
    from rnnlm.training.run import prepare
    from rnnlm.training.run_folder import run_lock

    sections = preset_sections("ptb-rnn")
    train = {**sections.get("train", {}), "max_steps": steps, "eval_batch_size": 20}
    losses: list[float] = []
    with run_lock(out):
        run = prepare(
            corpus_arg, out, data=sections.get("data", {}), model=sections.get("model", {}),
            train=train, resume=resume, device=device, on_step=lambda r: losses.append(r.loss),
        )  # fmt: skip
        t0 = time.perf_counter()
        run.fit()
    return losses, time.perf_counter() - t0


def worst_difference(got: list[float], ref: list[float]) -> float:
    if len(got) != len(ref):
        return float("inf")
    return max(abs(g - r) / abs(r) for g, r in zip(got, ref, strict=True))


def check_training(report: Report, args: argparse.Namespace, tmp: Path) -> None:
    corpus_arg, what = corpus(args.data_dir, args.synthetic, tmp)
    steps = args.steps
    ref, cpu_s = train_to(corpus_arg, tmp / "cpu", "cpu", steps)
    got, gpu_s = train_to(corpus_arg, tmp / "gpu", "cuda", steps)
    worst = worst_difference(got, ref)
    report.check(
        "training",
        worst <= LOSS_RTOL,
        f"{steps} steps of ptb-rnn on {what}, the same start: worst step loss difference "
        f"{worst:.2%} (limit {LOSS_RTOL:.0%}); last loss CPU {ref[-1]:.4f}, GPU {got[-1]:.4f}; "
        f"{cpu_s:.1f} s on the CPU, {gpu_s:.1f} s on the GPU (training and one validation)",
    )
    third = max(1, steps * 3 // 10)
    out, losses = tmp / "resumed", []
    for k, device in enumerate(("cpu", "cuda", "cpu")):
        more, _ = train_to(corpus_arg, out, device, third * (k + 1), resume=k > 0)
        losses += more
    worst = worst_difference(losses, ref[: 3 * third])
    report.check(
        "resume",
        worst <= LOSS_RTOL,
        f"CPU to step {third}, resumed on the GPU to {2 * third}, on the CPU to {3 * third}: "
        f"worst step loss difference from the uninterrupted CPU run {worst:.2%}",
    )


# --- 4. speed -----------------------------------------------------------------------------


def torch_runner(mcfg: object, tcfg: object, steps: int) -> tuple[Callable[[], float] | None, str]:
    """PyTorch's step on this GPU as ``bench``'s ``alongside``, or None and why not."""
    try:
        import torch
    except ImportError:
        return None, "PyTorch is not installed (pip install -e '.[torch]' with a CUDA build)"
    if not torch.cuda.is_available():
        return None, f"PyTorch {torch.__version__} sees no GPU (a CPU-only build?)"
    from benchmarks.torch_reference import torch_train_runner

    run = torch_train_runner(mcfg.vocab_size, mcfg.embed_dim, mcfg.hidden, tcfg.batch_size,
                             tcfg.bptt, mcfg.cell, steps=steps, device="cuda")  # fmt: skip
    return run, f"PyTorch {torch.__version__}"


def check_speed(report: Report, specs: str, repeats: int, steps: int) -> None:
    from rnnlm.bench import CONFIGS, bench
    from rnnlm.config import ModelConfig, TrainConfig

    for spec in specs.split(","):
        name, cell = spec.split(":")
        c = CONFIGS[name]
        mcfg = ModelConfig(vocab_size=10_000, embed_dim=c["embed_dim"], hidden=c["hidden"],
                           cell=cell, dropout=0.0)  # fmt: skip
        tcfg = TrainConfig(batch_size=c["batch_size"], bptt=c["bptt"], optimizer="sgd", lr=0.1)
        theirs, who = torch_runner(mcfg, tcfg, steps)
        r = bench(mcfg, tcfg, steps=steps, repeats=repeats, device="cuda", alongside=theirs)
        lo, hi = r["tokens_per_s_range"]
        line = (
            f"rnnlm {r['tokens_per_s']:,.0f} tokens/s ({lo:,.0f}-{hi:,.0f}), "
            f"{r['roofline_ratio']:.0%} of CuPy's matmuls alone; eval "
            f"{r['eval_tokens_per_s']:,.0f} tokens/s, generate {r['generate_ms_per_token']:.2f} "
            "ms/token"
        )
        if theirs is not None:
            tokens = steps * c["batch_size"] * c["bptt"]
            their = float(np.median([tokens / s for s in r["alongside_s"]]))
            line += f"; {who} {their:,.0f} tokens/s: rnnlm at {r['tokens_per_s'] / their:.2f}x"
        else:
            line += f"; {who}"
        report.note(f"speed {name} {cell}", line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="the folder holding ptb/ (default: $RNNLM_DATA)")
    ap.add_argument("--synthetic", action="store_true", help="train on a synthetic corpus")
    ap.add_argument("--steps", type=int, default=200, help="training steps compared")
    ap.add_argument("--checks", default=CHECKS, help=f"which to run (default {CHECKS})")
    ap.add_argument("--skip-speed", action="store_true", help="no speed (--checks layers,training)")
    ap.add_argument("--speed", default=SPEED, help=f"CONFIG:CELL,... timed (default {SPEED})")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per speed figure")
    args = ap.parse_args(argv)
    try:
        use_device("cuda")
    except ConfigError as exc:
        print(f"gpu_check: nothing to check, no GPU: {exc}", file=sys.stderr)
        return 2
    print(header(), flush=True)
    checks = set(args.checks.split(",")) - ({"speed"} if args.skip_speed else set())
    report = Report()
    if "layers" in checks:
        report.run("layers", lambda: check_layers(report))
    if "training" in checks:
        with tempfile.TemporaryDirectory(prefix="rnnlm-gpu-check-") as tmp:
            report.run("training", lambda: check_training(report, args, Path(tmp)))
    if "speed" in checks:
        report.run("speed", lambda: check_speed(report, args.speed, args.repeats, steps=10))
    print(f"{'FAILED: ' + ', '.join(report.failed) if report.failed else 'all checks passed'}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
