"""Jobs the data-parallel tests run in separate processes (``python -m tests.mpi_job ...``).

``reference OUT K`` trains the toy model with K ranks as threads of this process (ThreadComm);
``mpi OUT`` trains it as one rank of ``mpiexec -n K``; ``alone OUT`` in one process. Each
writes the final parameters to OUT (rank 0). ``fault RANK WHAT -- ARGS``: run ``rnnlm ARGS``
with a fault injected on rank RANK (``raise`` in the 5th step, or ``disk`` at the 3rd save).
"""

import sys
import threading

import numpy as np

from rnnlm.backend import to_host
from rnnlm.config import ModelConfig, TrainConfig
from rnnlm.data.vocab import Vocabulary
from rnnlm.errors import CheckpointError, RnnlmError
from rnnlm.nn.model import RNNLM
from rnnlm.training import distributed
from rnnlm.training.loop import Trainer
from tests.helpers import toy_stream

V, STEPS = 12, 32


def toy(comm: distributed.Comm, dtype: type = np.float64, device: str = "cpu") -> Trainer:
    """The toy run every job trains: 4 streams, dropout on, Adam (on ``device``)."""
    vocab = Vocabulary(["<unk>", *[f"w{i}" for i in range(1, V)]])
    mcfg = ModelConfig(vocab_size=V, embed_dim=8, hidden=8, dropout=0.3, cell="lstm")
    tcfg = TrainConfig(batch_size=4, bptt=5, epochs=50, max_steps=STEPS, seed=3,
                       eval_batch_size=2, clip=1.0)  # fmt: skip
    rng = np.random.default_rng(tcfg.seed)
    model = RNNLM(mcfg, rng, dtype=dtype, device=device)
    ids, valid = toy_stream(3000), toy_stream(300, seed=1)
    return Trainer(model, tcfg, ids, valid, vocab, "word", rng, comm=comm)


def result(trainer: Trainer) -> dict[str, np.ndarray]:
    out = {f"param/{k}": np.array(to_host(v)) for k, v in trainer.model.params.items()}
    out["valid_ppl"] = np.array(trainer.state.best_valid_ppl)
    return out


def threads(k: int, dtype: type = np.float64, device: str = "cpu") -> dict[str, np.ndarray]:
    """K ranks as threads (on ``device``); rank 0's result."""
    group, results, errors = distributed.ThreadGroup(k), {}, []

    def rank(r: int) -> None:
        try:
            trainer = toy(group.comm(r), dtype, device)
            trainer.fit()
            results[r] = result(trainer)
        except BaseException as exc:  # reported below
            errors.append(exc)
            group.barrier.abort()

    workers = [threading.Thread(target=rank, args=(r,)) for r in range(k)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return results[0]


def fault(rank: int, what: str, argv: list[str]) -> None:
    if distributed.world().rank == rank and what == "raise":
        step = Trainer.step

        def failing(self, xs, ts):
            if self.state.step == 4:
                raise RnnlmError("injected failure")
            return step(self, xs, ts)

        Trainer.step = failing
    if distributed.world().rank == rank and what == "disk":
        from rnnlm.training.run_folder import RunDir

        save, calls = RunDir.save, []

        def full(self, which, ckpt):
            calls.append(which)
            if len(calls) == 3:
                raise CheckpointError(f"cannot write {self.path / which}.npz: No space left")
            return save(self, which, ckpt)

        RunDir.save = full
    from rnnlm.cli import main

    sys.argv = ["rnnlm", *argv]
    main()


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "fault":
        fault(int(rest[0]), rest[1], rest[3:])
    elif mode == "mpi":
        trainer = toy(distributed.world())
        trainer.fit()
        if trainer.ranks.comm.is_root:
            np.savez(rest[0], **result(trainer))
    else:
        alone = toy(distributed.Comm())
        if mode == "alone":
            alone.fit()
        np.savez(rest[0], **(threads(int(rest[1])) if mode == "reference" else result(alone)))
