"""``--device cuda``: the GPU path computes what the CPU path computes, moves between them only
where it says so, and fails in one line where it cannot run.

Every test taking the ``gpu`` fixture runs twice: on ``tests/fake_cupy.py`` (CuPy's behaviour
on the CPU, on every machine: it refuses implicit host/device mixing, so it checks the
plumbing) and on a real GPU, which is skipped where ``cupy.cuda.is_available()`` is False. The
error tests make CuPy absent, or present without a GPU, whatever this machine has.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnlm
from rnnlm.backend import (
    HOST,
    array_module,
    copy_into,
    scatter_add,
    to_device,
    to_host,
    use_device,
)
from rnnlm.config import ModelConfig
from rnnlm.errors import ConfigError
from rnnlm.eval.dynamic import DynamicEval
from rnnlm.nn import TimeGRU, TimeLSTM
from rnnlm.nn.gradcheck import BASE, VARIANTS, compare_devices
from rnnlm.nn.model import RNNLM, init_params
from rnnlm.training import checkpoint
from tests import fake_cupy, mpi_job
from tests.cli_helpers import SMALL, assert_one_line_error, run, script
from tests.helpers import toy_trainer

ROOT = Path(__file__).resolve().parents[1]
EXTRA = "pip install 'rnnlm-numpy[cuda12]'"


def real_gpu() -> bool:
    """CuPy imports and sees a GPU (an import that fails otherwise than absent is an error)."""
    try:
        import cupy
    except ImportError:
        return False
    return bool(cupy.cuda.is_available())


@pytest.fixture(params=["fake", "gpu"])
def gpu(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``cuda`` made current: CuPy on the CPU (fake_cupy), or a real GPU where there is one."""
    if request.param == "fake":
        fake_cupy.install(monkeypatch)
    elif not real_gpu():
        pytest.skip("no CUDA GPU here (cupy.cuda.is_available() is False or CuPy is absent)")
    use_device("cuda")
    return request.param


def host(arrays: dict) -> dict:
    return {k: to_host(v) for k, v in arrays.items()}


# --- the numpy path -------------------------------------------------------------------------


def test_on_the_cpu_nothing_moves_and_nothing_is_copied():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert array_module(a, 1.0) is HOST and to_device(a, "cpu") is a and to_host(a) is a
    b = np.zeros_like(a)
    copy_into(b, a)
    assert np.array_equal(a, b)
    dst, ref = np.zeros(4), np.zeros(4)
    scatter_add(dst, np.array([1, 1, 3]), np.array([1.0, 2.0, 3.0]))
    np.add.at(ref, [1, 1, 3], [1.0, 2.0, 3.0])
    assert np.array_equal(dst, ref)


def test_a_cpu_run_never_imports_cupy(word_corpus):
    """rnnlm looks for CuPy among the loaded modules; a CPU run never loads it."""
    code = (
        "import sys\nfrom rnnlm.cli import main\n"
        f"sys.argv = ['rnnlm', 'train', {str(word_corpus)!r}, '--dry-run', *{SMALL!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
        "assert 'cupy' not in sys.modules, 'cupy was imported'\nprint('no cupy')"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip().endswith("no cupy")


# --- errors -------------------------------------------------------------------------------


def test_an_unknown_device_is_refused():
    with pytest.raises(ConfigError, match="--device must be one of cpu, cuda, got 'tpu'"):
        use_device("tpu")
    result = run("bench", "--device", "tpu")
    assert result.exit_code == 2 and "tpu" in result.output


def test_cuda_without_cupy_names_the_extra(monkeypatch, word_corpus, trained_ckpt):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    with pytest.raises(ConfigError, match=r"needs CuPy .*rnnlm-numpy\[cuda12\]"):
        use_device("cuda")
    with pytest.raises(ConfigError, match="needs CuPy"):
        rnnlm.load(trained_ckpt, device="cuda")
    for args in (
        ("train", word_corpus, "--out", word_corpus.parent / "r", *SMALL, "--device", "cuda"),
        ("eval", trained_ckpt, word_corpus, "--device", "cuda"),
        ("generate", trained_ckpt, "--device", "cuda"),
        ("bench", "--config", "S", "--device", "cuda"),
    ):
        assert_one_line_error(run(*args), 2, EXTRA, "--device cuda")
    assert not (word_corpus.parent / "r").exists()  # refused before the run folder is made


def test_cuda_without_a_gpu_says_so(monkeypatch, word_corpus, trained_ckpt):
    fake_cupy.install(monkeypatch, devices=0)  # CuPy present, no GPU: as on this machine
    with pytest.raises(ConfigError, match=r"no usable GPU here .*cudaErrorNoDevice"):
        use_device("cuda")
    for args in (
        ("train", word_corpus, "--out", word_corpus.parent / "r", *SMALL, "--device", "cuda"),
        ("eval", trained_ckpt, word_corpus, "--device", "cuda"),
        ("generate", trained_ckpt, "--device", "cuda"),
        ("bench", "--config", "S", "--device", "cuda"),
    ):
        assert_one_line_error(run(*args), 2, "--device cuda: no usable GPU here")


def test_the_installed_command_on_this_machine(trained_ckpt):
    """Whatever this machine has: one line naming what is missing, or (with a GPU) a sample."""
    got = script("generate", trained_ckpt, "--device", "cuda", "--length", "3")
    if real_gpu():
        assert got.returncode == 0, got.stderr
        return
    assert got.returncode == 2, got.stderr
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in got.stderr, got.stderr
    assert EXTRA in lines[0] or "no usable GPU here" in lines[0], lines[0]


def test_each_rank_takes_the_gpu_of_its_local_rank(monkeypatch):
    cupy = fake_cupy.install(monkeypatch, devices=4)
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_RANK", "6")
    assert use_device("cuda") == "cuda"
    assert cupy.cuda.current == 2  # local rank 6 of a machine with 4 GPUs


# --- the GPU path computes what the CPU path computes ---------------------------------------


@pytest.mark.parametrize("layout", ["plain", "transposed"])
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-4), (np.float64, 1e-10)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_layer_matches_numpy(gpu, variant, dtype, rtol, layout, request):
    """Loss, per-token loss, every gradient, the carried state and the scores, over two
    windows (the second from the state the first carried), from the same weights and seed."""
    if layout == "transposed":
        request.getfixturevalue("transposed_products")
    cfg = ModelConfig(**{**BASE, **VARIANTS[variant]})
    weights = init_params(cfg, np.random.default_rng(0), dtype)
    cpu = RNNLM(cfg, np.random.default_rng(1), dtype, {k: v.copy() for k, v in weights.items()})
    dev = RNNLM(cfg, np.random.default_rng(1), dtype, dict(weights), device="cuda")
    assert all(array_module(v) is not HOST for v in dev.params.values())
    rng = np.random.default_rng(2)

    def close(a, b, what):
        np.testing.assert_allclose(to_host(b), a, rtol=rtol, atol=rtol * 1e-2, err_msg=what)

    compare_devices(cpu, dev, rng, close)


def trained(trainer, steps: int):
    """``trainer`` after ``steps`` more updates, with the loss of each."""
    losses = []
    trainer.on_step = lambda report: losses.append(report.loss)
    trainer.cfg = type(trainer.cfg)(**{**trainer.cfg.__dict__, "max_steps": steps})
    trainer.fit()
    return losses


def test_training_matches_and_resumes_across_devices(gpu, tmp_path):
    """A run started on one device resumes on the other, and ends where a CPU run ends that
    was never interrupted; the checkpoints in between hold host arrays, as a CPU run's. (On a
    GPU, float32 rounding differs from the CPU's and compounds over the steps.)"""
    tol = 1e-4 if gpu == "fake" else 2e-3
    kw = {"cell": "lstm", "optimizer": "adam", "lr": 0.01, "ema": 0.9, "epochs": 2}
    whole = toy_trainer(**kw)
    ref = trained(whole, 120)
    for first, second in (("cuda", "cpu"), ("cpu", "cuda")):
        a = toy_trainer(device=first, **kw)
        losses = trained(a, 50)
        np.testing.assert_allclose(losses, ref[:50], rtol=tol)
        path = tmp_path / f"{first}.npz"
        checkpoint.save(path, a.checkpoint())
        with np.load(path, allow_pickle=False) as z:
            assert all(type(z[k]) is np.ndarray for k in z.files)
        b = toy_trainer(device=second, **kw)
        b.restore(checkpoint.load(path))
        np.testing.assert_allclose(trained(b, 120), ref[50:], rtol=tol)
        assert b.state.step == whole.state.step
        for name, value in whole.model.params.items():
            got = to_host(b.model.params[name])
            where = f"{first} -> {second}: {name}"
            np.testing.assert_allclose(got, value, rtol=tol, atol=tol * 1e-2, err_msg=where)


def test_a_gpu_checkpoint_is_a_cpu_checkpoint(gpu, tmp_path):
    """Same keys, dtypes and shapes: nothing in a file says where it was trained."""
    files = {}
    for device in ("cpu", "cuda"):
        t = toy_trainer(device=device, optimizer="adam", cell="gru")
        trained(t, 3)
        checkpoint.save(tmp_path / f"{device}.npz", t.checkpoint())
        with np.load(tmp_path / f"{device}.npz") as z:
            files[device] = {k: (z[k].dtype, z[k].shape) for k in z.files if k != "meta"}
            meta = json.loads(str(z["meta"]))  # (its timings differ in length, not its keys)
        files[device]["meta"] = {k: sorted(v) if isinstance(v, dict) else v for k, v in meta.items()
                                 if k not in ("progress", "extra")}  # fmt: skip
        files[device]["progress"] = sorted(meta["progress"])
    assert files["cpu"] == files["cuda"]


def test_eval_and_generate_a_checkpoint_on_either_device(gpu, trained_ckpt, word_corpus):
    text = word_corpus.read_text(encoding="utf-8")[:2000]
    cpu, dev = rnnlm.load(trained_ckpt), rnnlm.load(trained_ckpt, device="cuda")
    assert dev.perplexity(text).perplexity == pytest.approx(cpu.perplexity(text).perplexity,
                                                            rel=1e-5)  # fmt: skip
    ids, oov = cpu.encode(text)
    a, b = cpu.score_ids(ids, oov, per_token=True), dev.score_ids(ids, oov, per_token=True)
    np.testing.assert_allclose(b.result.token_nll, a.result.token_nll, rtol=1e-4, atol=1e-6)
    adapt = DynamicEval(lr=0.1)
    assert dev.perplexity(text, dynamic=adapt).perplexity == pytest.approx(
        cpu.perplexity(text, dynamic=adapt).perplexity, rel=1e-4
    )
    for kw in ({"greedy": True}, {"seed": 5, "temperature": 0.9, "top_k": 4}):
        assert dev.generate("the cat", length=12, **kw) == cpu.generate("the cat", length=12, **kw)
    assert dev.score("the cat", "sat on")[0] == pytest.approx(cpu.score("the cat", "sat on")[0],
                                                              rel=1e-5)  # fmt: skip


def test_the_commands_on_cuda(gpu, word_corpus, tmp_path):
    """train, eval, generate and bench with --device cuda; a GPU run resumes on the CPU."""
    trained_on = {}
    for device in ("cpu", "cuda"):
        got = run("train", word_corpus, "--out", tmp_path / device, *SMALL, "--device", device,
                  "--json")  # fmt: skip
        assert got.exit_code == 0, got.output
        trained_on[device] = json.loads(got.stdout.strip().splitlines()[-1])
    assert trained_on["cuda"]["best_valid_ppl"] == pytest.approx(
        trained_on["cpu"]["best_valid_ppl"], rel=1e-4
    )
    best = tmp_path / "cuda" / "best.npz"
    scores = {}
    for device in ("cpu", "cuda"):
        got = run("eval", best, word_corpus, "--device", device, "--json")
        assert got.exit_code == 0, got.output
        scores[device] = json.loads(got.stdout)["perplexity"]
        got = run("generate", best, "--device", device, "--seed", "3", "--length", "8")
        assert got.exit_code == 0, got.output
        scores[f"{device} text"] = got.stdout
    assert scores["cuda"] == pytest.approx(scores["cpu"], rel=1e-5)
    assert scores["cuda text"] == scores["cpu text"]
    got = run("train", word_corpus, "--out", tmp_path / "cuda", "--resume", "--epochs", "3")
    assert got.exit_code == 0, got.output  # resumed on the CPU
    got = run("bench", "--config", "S", "--vocab", "60", "--embed-dim", "8", "--hidden", "8",
              "--batch-size", "2", "--bptt", "3", "--steps", "2", "--repeats", "2",
              "--warmup", "1", "--device", "cuda", "--json")  # fmt: skip
    assert got.exit_code == 0, got.output
    result = json.loads(got.stdout)
    assert result["device"] == "cuda" and result["gpu"] and result["tokens_per_s"] > 0


def test_two_ranks_on_gpus_train_as_one_process_on_the_cpu(gpu):
    """Data parallelism on GPUs: the gradients go through host memory (one flat copy each
    way per step) and the result is one CPU process's."""
    pytest.importorskip("mpi4py", reason="the [mpi] extra is not installed")
    alone = mpi_job.toy(mpi_job.distributed.Comm(), np.float32)
    alone.fit()
    two = mpi_job.threads(2, np.float32, device="cuda")
    for k, v in mpi_job.result(alone).items():
        if k in two:
            np.testing.assert_allclose(two[k], v, rtol=1e-4, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_step_reads_the_gpu_a_few_times_whatever_its_length(monkeypatch, cell):
    """No host read inside the recurrent loops: the reads of a step (the loss, the gradient
    norm's squares, the softmax's overflow rows, the embedding's touched rows) do not grow
    with T."""
    fake_cupy.install(monkeypatch)
    use_device("cuda")
    reads = {}
    for T in (3, 12):
        trainer = toy_trainer(device="cuda", cell=cell, bptt=T)
        trainer.step(*(w[:, :T] for w in (trainer.inputs, trainer.targets)))  # warm
        before = fake_cupy.FakeCupy.reads
        trainer.step(*(w[:, :T] for w in (trainer.inputs, trainer.targets)))
        reads[T] = fake_cupy.FakeCupy.reads - before
    assert reads[3] == reads[12] <= 4, reads


@pytest.fixture
def trained_ckpt(tmp_path: Path, word_corpus: Path) -> Path:
    """A checkpoint trained here on the CPU (word level, the tiny corpus)."""
    got = run("train", word_corpus, "--out", tmp_path / "ckpt", *SMALL)
    assert got.exit_code == 0, got.output
    return tmp_path / "ckpt" / "best.npz"


def test_the_fake_gpu_is_gone_once_a_test_ends():
    assert not isinstance(sys.modules.get("cupy"), fake_cupy.FakeCupy)


# --- benchmarks/gpu_check.py -----------------------------------------------------------------

QUICK = ["--steps", "6", "--synthetic", "--speed", "S:rnn", "--repeats", "1"]


def test_gpu_check_runs_every_check(monkeypatch, capsys):
    from benchmarks import gpu_check

    fake_cupy.install(monkeypatch)
    monkeypatch.setattr(gpu_check, "SYNTHETIC", {"train": 20_000, "valid": 2_000, "test": 2_000})
    monkeypatch.setattr(gpu_check, "SYNTHETIC_VOCAB", 500)
    code = gpu_check.main(QUICK)
    out = capsys.readouterr().out
    assert code == 0, out
    for line in ("GPU: Fake GPU", "PASS  layers float32", "PASS  layers float64",
                 "PASS  training: 6 steps", "PASS  resume", "speed S rnn: rnnlm",
                 "all checks passed"):  # fmt: skip
        assert line in out, out


def test_gpu_check_fails_when_the_gpu_computes_otherwise(monkeypatch, capsys):
    """A GPU whose scatter-add adds twice: the embedding's gradient is wrong, and it shows."""
    from benchmarks import gpu_check

    fake_cupy.install(monkeypatch)
    scatter = sys.modules["cupyx"].scatter_add

    def twice(a, indices, values):
        scatter(a, indices, values)
        scatter(a, indices, values)

    monkeypatch.setattr(sys.modules["cupyx"], "scatter_add", twice)
    code = gpu_check.main([*QUICK, "--checks", "layers"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL  layers float32" in out and "dembed.W" in out and "FAILED: " in out


def test_gpu_check_on_this_machine():
    """Here: one line saying what is missing (exit 2); on a GPU, the quick checks pass."""
    cmd = [sys.executable, "-m", "benchmarks.gpu_check", *QUICK]
    got = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if real_gpu():
        assert got.returncode == 0, got.stdout + got.stderr
        return
    assert got.returncode == 2, got.stdout + got.stderr
    assert got.stdout == "" and len(got.stderr.strip().splitlines()) == 1, got.stderr
    assert got.stderr.startswith("gpu_check: nothing to check, no GPU: --device cuda")


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_an_optimizer_follows_its_parameters_to_the_device(gpu, name):
    """A parameter that moves to the GPU under the same name gets a GPU temporary in the
    optimizer, not the host one its first update made (which CuPy refuses to mix; Adam's
    moments move with it too)."""
    from rnnlm.training.optimizers import OPTIMIZERS

    opt = OPTIMIZERS[name](0.1)
    W, dW = np.ones((4, 3), np.float32), np.full((4, 3), 2.0, np.float32)
    opt.step({"W": W}, {"W": dW})
    Wd = to_device(W, "cuda")
    opt.step({"W": Wd}, {"W": to_device(dW, "cuda")})
    assert array_module(Wd) is not HOST
    cpu = OPTIMIZERS[name](0.1)
    Wc = np.ones((4, 3), np.float32)
    for _ in range(2):
        cpu.step({"W": Wc}, {"W": dW})
    np.testing.assert_allclose(to_host(Wd), Wc, rtol=1e-6)


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
@pytest.mark.parametrize("N, T, D, H", [(1, 1, 5, 40), (3, 4, 5, 6)])  # Wh as it is; copied
def test_both_ways_of_the_loop_on_the_device(gpu, cls, N, T, D, H):
    """A short window (generation's) multiplies by Wh^T as it is, a longer one by a copy in
    the loop layout (the variants above only take the second): both keep to the device and
    compute what numpy computes, over carried windows."""
    rng = np.random.default_rng(3)
    shapes = [(D, cls.gates * H), (H, cls.gates * H), (cls.gates * H,)]
    params = [
        rng.standard_normal(s).astype(np.float32) for s in shapes + [(H,)] * len(cls.extra_params)
    ]
    cpu = cls(*[p.copy() for p in params], stateful=True)
    dev = cls(*[to_device(p, "cuda") for p in params], stateful=True)
    for _ in range(3):
        xs = rng.standard_normal((N, T, D)).astype(np.float32)
        dhs = rng.standard_normal((N, T, H)).astype(np.float32)
        hs = dev.forward(to_device(xs, "cuda"))
        assert array_module(hs) is not HOST
        np.testing.assert_allclose(to_host(hs), cpu.forward(xs), rtol=1e-5)
        np.testing.assert_allclose(to_host(dev.backward(to_device(dhs, "cuda"))), cpu.backward(dhs),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip
        for a, b in zip(dev.grads, cpu.grads, strict=True):
            np.testing.assert_allclose(to_host(a), b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(to_host(dev.state), cpu.state, rtol=1e-5)
