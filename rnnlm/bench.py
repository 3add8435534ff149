"""Measuring this machine: training, evaluation and generation speed of a model config.

Training speed is tokens per second of full steps (``Trainer.step``: forward, backward,
clipping, update) on a synthetic token stream; the matmul roofline is the time numpy needs for
the same step's matrix products alone, at the same shapes, so ``roofline_ratio`` says how close
the step gets to it. On a GPU (``device="cuda"``) the model, the step and the roofline's
products run there, and every timing waits for the device to finish its queued work.
"""

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from rnnlm.backend import HOST, array_module, synchronize, to_device
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.data.batching import batchify, windows
from rnnlm.data.vocab import Vocabulary
from rnnlm.eval.perplexity import evaluate
from rnnlm.eval.sampling import sample
from rnnlm.nn.cells import CELLS
from rnnlm.nn.heads.class_softmax import frequency_classes
from rnnlm.nn.model import RNNLM
from rnnlm.training.loop import Trainer

# Seconds between two libraries' timed runs: PyTorch's OpenMP threads and OpenBLAS's spin after
# their last call, and would take the cores from the other side's first step.
SETTLE_S = 0.2

# The sizes of issue #3's table: D = H, batch N, window T, vocabulary 10,000 (PTB).
CONFIGS = {
    "S": {"embed_dim": 100, "hidden": 100, "batch_size": 20, "bptt": 35},
    "M": {"embed_dim": 256, "hidden": 256, "batch_size": 32, "bptt": 35},
    "L": {"embed_dim": 650, "hidden": 650, "batch_size": 20, "bptt": 35},
}


@dataclass(frozen=True)
class Timing:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: list[float]) -> "Timing":
        return cls(float(np.median(samples)), float(min(samples)), float(max(samples)))


def repeat(fn: Callable[[], float], repeats: int, warmup: int) -> Timing:
    """Run ``fn`` (which returns seconds) warmup + repeats times; keep the last ``repeats``."""
    for _ in range(warmup):
        fn()
    return Timing.of([fn() for _ in range(repeats)])


def zipf_stream(V: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` token ids with Zipfian frequencies (p ~ 1/rank, id = rank), like natural text."""
    p = 1.0 / np.arange(1, V + 1)
    return rng.choice(V, size=n, p=p / p.sum()).astype(np.int32)


def step_flops(mcfg: ModelConfig, N: int, T: int) -> float:
    """Floating-point operations of the matrix products of one training step."""
    gates = CELLS[mcfg.cell].gates
    D, H, V, M = mcfg.embed_dim, mcfg.hidden, mcfg.vocab_size, N * T
    fwd = 2 * M * H * V
    for i in range(mcfg.layers):
        d_in = D if i == 0 else H
        fwd += 2 * M * d_in * gates * H + 2 * M * H * gates * H
    return 3.0 * fwd  # backward: two products of the same size per forward product


def device_name(device: str) -> str:
    """``cpu``, or the GPU's name as CUDA gives it (after ``backend.use_device``)."""
    if device == "cpu":
        return "cpu"
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def matmul_roofline(
    mcfg: ModelConfig, N: int, T: int, xp: ModuleType = HOST
) -> Callable[[], float]:
    """A function that runs one step's matrix products alone, at the same shapes as the
    model's, and returns the seconds they took.

    The products any implementation must make: for the output layer and each layer's input
    projection (all T steps at once) a forward, a weight-gradient and an input-gradient product;
    for each recurrence, T small forward products and T small gradient products (sequential by
    nature) and one weight-gradient product over all T steps. ``xp``: the array module the
    products run in (CuPy: on the current GPU, timed to the end of its work).
    """
    device = "cpu" if xp is HOST else "cuda"
    gates = CELLS[mcfg.cell].gates
    D, H, V, M = mcfg.embed_dim, mcfg.hidden, mcfg.vocab_size, N * T
    G = gates * H
    rng = np.random.default_rng(0)
    full = [(M, H, V)]  # (rows, inner, cols) of forward products that get all three
    small = []  # (rows, inner, cols) of the recurrence's forward product
    for i in range(mcfg.layers):
        full.append((M, D if i == 0 else H, G))
        small.append((N, H, G))

    def arrays(m: int, k: int, n: int) -> tuple[np.ndarray, ...]:
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        c = rng.random((m, n), dtype=np.float32)
        a, b, c = (to_device(x, device) for x in (a, b, c))
        return a, b, c, xp.empty_like(b), xp.empty_like(a)

    big_ops = [arrays(*shape) for shape in full]
    rec_ops = [(arrays(*shape), arrays(M, H, G)) for shape in small]

    def run() -> float:
        synchronize(device)
        t0 = time.perf_counter()
        for a, b, c, db, dx in big_ops:
            xp.matmul(a, b, out=c)  # forward
            xp.matmul(a.T, c, out=db)  # weight gradient
            xp.matmul(c, b.T, out=dx)  # input gradient
        for (h, Wh, a, _, dh), (hs, _, das, dWh, _) in rec_ops:
            for _ in range(T):
                xp.matmul(h, Wh, out=a)  # h_{t-1} Wh
            for _ in range(T):
                xp.matmul(a, Wh.T, out=dh)  # da_t Wh^T
            xp.matmul(hs.T, das, out=dWh)  # dWh over all T steps
        synchronize(device)
        return time.perf_counter() - t0

    return run


_NO_ROOFLINE = {"gflops": None, "matmul_gflops": None, "roofline_tokens_per_s": None,
                "roofline_ratio": None, "roofline_ratio_range": None}  # fmt: skip


def _roofline(
    mcfg: ModelConfig, N: int, T: int, steps: int, train_s: list[float], roof_s: list[float]
) -> dict:
    """The step's speed against the roofline: ``train_s`` (seconds of ``steps`` steps) and
    ``roof_s`` (seconds of one step's products) measured in pairs."""
    roof = Timing.of(roof_s)
    ratios = Timing.of([r * steps / t for r, t in zip(roof_s, train_s, strict=True)])
    flops = step_flops(mcfg, N, T)
    step_s = Timing.of(train_s).median / steps
    return {"gflops": flops / step_s / 1e9, "matmul_gflops": flops / roof.median / 1e9,
            "roofline_tokens_per_s": N * T / roof.median, "roofline_ratio": ratios.median,
            "roofline_ratio_range": [ratios.low, ratios.high]}  # fmt: skip


def _trainer(model: RNNLM, tcfg: TrainConfig, ids: np.ndarray, rng: np.random.Generator) -> Trainer:
    """A trainer on a synthetic stream, for its ``step`` (words ``w1``... stand for the ids)."""
    vocab = Vocabulary(["<unk>", *(f"w{i}" for i in range(1, model.cfg.vocab_size))])
    return Trainer(model, tcfg, ids, ids[: tcfg.bptt + 1], vocab, "word", rng)


def bench(
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    steps: int = 5,
    repeats: int = 5,
    warmup: int = 2,
    gen_tokens: int = 200,
    eval_tokens: int = 20_000,
    alongside: Callable[[], float] | None = None,
    device: str = "cpu",
) -> dict:
    """Measure; every figure is a median over ``repeats`` after ``warmup`` runs.

    ``alongside``: another measurement (returning seconds) to interleave with the training
    repeats, e.g. another library's step; its seconds come back as ``alongside_s``.
    ``device``: where the model computes ("cuda" after ``backend.use_device``).
    """
    rng = np.random.default_rng(tcfg.seed)
    N, T, V = tcfg.batch_size, tcfg.bptt, mcfg.vocab_size
    ids = zipf_stream(V, N * T * (steps + 1) + 1, rng)
    if mcfg.softmax == "class" and len(mcfg.class_bounds) <= 2:
        bounds = frequency_classes(np.bincount(ids, minlength=V), round(np.sqrt(V)))
        mcfg = dataclasses.replace(mcfg, class_bounds=tuple(int(b) for b in bounds))
    model = RNNLM(mcfg, rng, device=device)
    batches = list(windows(*batchify(ids, N), T))[:steps]
    trainer = _trainer(model, tcfg, ids, rng)

    def train_steps() -> float:
        model.train(True)
        synchronize(device)
        t0 = time.perf_counter()
        for xs, ts in batches:
            trainer.step(xs, ts)
        synchronize(device)
        return time.perf_counter() - t0

    # the roofline's products run right after each timed training repeat, so that the
    # machine's drift (±5-10% here, minute to minute) hits both sides of the ratio alike
    full = mcfg.softmax == "full"  # the roofline model counts a full softmax's products
    xp = array_module(model.params["embed.W"])
    roof_run = matmul_roofline(mcfg, N, T, xp) if full else None
    train_s, roof_s, other_s = [], [], []
    for k in range(warmup + repeats):
        if alongside:  # the other library's idle threads spin for a while after its last call
            time.sleep(SETTLE_S)
        t = train_steps()
        r = roof_run() if roof_run else 0.0
        if alongside:
            time.sleep(SETTLE_S)
        o = alongside() if alongside else 0.0
        if k >= warmup:
            train_s.append(t)
            roof_s.append(r)
            other_s.append(o)
    train = Timing.of(train_s)
    tokens = steps * N * T
    eval_ids = ids[: eval_tokens + 1]

    def eval_once() -> float:
        t0 = time.perf_counter()
        evaluate(model, eval_ids, tcfg.eval_batch_size, tcfg.eval_bptt)
        return time.perf_counter() - t0

    ev = repeat(eval_once, max(1, repeats // 2), 1)

    def generate_once() -> float:
        t0 = time.perf_counter()
        for _ in sample(model, [1], gen_tokens, np.random.default_rng(0)):
            pass
        return time.perf_counter() - t0

    gen = repeat(generate_once, repeats, 1)
    step_s = train.median / steps
    roofline = _roofline(mcfg, N, T, steps, train_s, roof_s) if full else _NO_ROOFLINE
    return {
        "config": {"cell": mcfg.cell, "layers": mcfg.layers, "embed_dim": mcfg.embed_dim,
                   "hidden": mcfg.hidden, "vocab": V, "batch_size": N, "bptt": T,
                   "optimizer": tcfg.optimizer, "softmax": mcfg.softmax,
                   "classes": max(len(mcfg.class_bounds) - 1, 0)},
        "tokens_per_s": tokens / train.median,
        "tokens_per_s_range": [tokens / train.high, tokens / train.low],
        "eval_tokens_per_s": eval_tokens / ev.median,
        "generate_ms_per_token": 1e3 * gen.median / gen_tokens,
        "step_ms": 1e3 * step_s,
        **roofline,
        "repeats": repeats,
        **({"train_s": train_s, "alongside_s": other_s} if alongside else {}),
    }  # fmt: skip
