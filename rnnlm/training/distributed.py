"""Data parallelism: K processes (ranks) train one model on disjoint blocks of the N streams.

    mpiexec -n 2 rnnlm train ptb --batch-size 20 ...      # or: rnnlm train ptb --workers 2

The semantics make K change the speed and nothing else (PyTorch DDP's recipe, on mpi4py):

- ``--batch-size`` is the global number of streams N; rank r owns streams
  ``[r N/K, (r+1) N/K)`` and their hidden states, which never leave it.
- Every rank starts from the same seed; rank 0's initial parameters are broadcast anyway.
  Dropout masks are drawn for all N streams on every rank and each keeps its own rows, so a
  stream's mask does not depend on K.
- After backward, all gradients go into one flat buffer (with the step's loss and the stop
  flag at its end) and one ``Allreduce`` sums it; dividing by K gives the gradient of the mean
  loss over the global N·T tokens. Clipping uses the global norm; every rank then takes the
  same optimizer step, so the parameters stay identical without being sent again.
- Only rank 0 logs, draws progress and writes files; a checksum of the parameters is compared
  across ranks at every save.

``Comm`` is the single-process case (every collective is the identity), ``MPIComm`` wraps
mpi4py's COMM_WORLD and ``ThreadComm`` runs K ranks as threads of one process: the in-process
reference that tests compare ``mpiexec`` against, bit for bit.

With ``--device cuda`` each rank takes the GPU of its local rank (``backend.use_device``) and
every message goes through host memory: the gradients are gathered into one flat GPU buffer,
copied to the host, reduced, and copied back (a CUDA-aware MPI, or NCCL, could reduce GPU
buffers in place; not done yet).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnnlm.backend import HOST, array_module, copy_into, to_device, to_host
from rnnlm.errors import ConfigError, RnnlmError
from rnnlm.eval.perplexity import EvalResult, evaluate
from rnnlm.nn.model import RNNLM
from rnnlm.training.launcher import launched_size

SAVE_SECONDS = 300.0  # the periodic last.npz: every this many seconds unless --save-every


class RankMismatchError(RnnlmError):
    """Ranks that should hold identical parameters do not."""


ABORT_FLUSH_S = 0.2  # seconds for mpiexec to forward a failing rank's last line


def abort_job(code: int) -> None:
    """End every rank of this job now (a failing rank must not leave the others waiting)."""
    if launched_size() > 1:
        sys.stderr.flush()
        # mpiexec forwards a rank's output from a pipe; an abort tears the job down at once,
        # and what the pipe still held (this rank's one-line error) could be lost with it
        time.sleep(ABORT_FLUSH_S)
        world().abort(code)


class Comm:
    """One process alone: rank 0 of 1, every collective the identity."""

    rank = 0
    size = 1

    def allreduce(self, buf: np.ndarray) -> None:
        """Sum ``buf`` over all ranks, in place (contiguous)."""

    def bcast(self, buf: np.ndarray, root: int = 0) -> None:
        """Overwrite ``buf`` with root's, in place."""

    def allgather(self, arr: np.ndarray) -> list[np.ndarray]:
        """Every rank's ``arr`` (1-D, any length), in rank order."""
        return [arr]

    def gather(self, arr: np.ndarray) -> np.ndarray | None:
        """Rank 0: every rank's ``arr`` joined along axis 0 in rank order; others: None."""
        return arr

    def barrier(self) -> None:
        """Wait until every rank is here."""

    def abort(self, code: int) -> None:
        """End every rank of the job now (a failing rank must not leave the others waiting)."""

    @property
    def is_root(self) -> bool:
        return self.rank == 0


class MPIComm(Comm):
    """COMM_WORLD of mpi4py (``pip install 'rnnlm-numpy[mpi]'``)."""

    def __init__(self) -> None:
        try:
            from mpi4py import MPI
        except ImportError:
            raise ConfigError(
                "running under mpiexec needs mpi4py: pip install 'rnnlm-numpy[mpi]'"
            ) from None
        self._mpi = MPI
        self._comm = MPI.COMM_WORLD
        self.rank, self.size = self._comm.Get_rank(), self._comm.Get_size()

    def allreduce(self, buf: np.ndarray) -> None:
        self._comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)

    def bcast(self, buf: np.ndarray, root: int = 0) -> None:
        self._comm.Bcast(buf, root=root)

    def allgather(self, arr: np.ndarray) -> list[np.ndarray]:
        return self._comm.allgather(np.ascontiguousarray(arr))

    def gather(self, arr: np.ndarray) -> np.ndarray | None:
        parts = self._comm.gather(np.ascontiguousarray(arr), root=0)
        return np.concatenate(parts, axis=0) if parts is not None else None

    def barrier(self) -> None:
        self._comm.Barrier()

    def abort(self, code: int) -> None:
        self._comm.Abort(code)


class ThreadGroup:
    """K ranks as threads of one process; ``comm(r)`` is rank r's ``ThreadComm``.

    Collectives meet at a barrier; sums are taken in rank order, which for K = 2 is exactly
    what an MPI sum of two buffers gives (float addition of two numbers is commutative).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size)
        self.slots: list[np.ndarray | None] = [None] * size

    def comm(self, rank: int) -> ThreadComm:
        return ThreadComm(self, rank)


class ThreadComm(Comm):
    def __init__(self, group: ThreadGroup, rank: int) -> None:
        self.group, self.rank, self.size = group, rank, group.size

    def _exchange(self, arr: np.ndarray) -> list[np.ndarray]:
        g = self.group
        g.slots[self.rank] = np.array(arr, copy=True)
        g.barrier.wait()
        parts = list(g.slots)
        g.barrier.wait()  # nobody overwrites a slot before everyone has read them all
        return parts

    def allreduce(self, buf: np.ndarray) -> None:
        parts = self._exchange(buf)
        total = parts[0].copy()
        for p in parts[1:]:
            total += p
        buf[...] = total

    def bcast(self, buf: np.ndarray, root: int = 0) -> None:
        buf[...] = self._exchange(buf)[root]

    def allgather(self, arr: np.ndarray) -> list[np.ndarray]:
        return self._exchange(arr)

    def gather(self, arr: np.ndarray) -> np.ndarray | None:
        parts = self._exchange(arr)
        return np.concatenate(parts, axis=0) if self.rank == 0 else None

    def abort(self, code: int) -> None:
        self.group.barrier.abort()


@functools.cache
def world() -> Comm:
    """The communicator this process was started with: MPI under a launcher, else alone."""
    return MPIComm() if launched_size() > 1 else Comm()


@dataclass(frozen=True)
class Shard:
    """The block of streams ``[lo, hi)`` of ``streams`` that one rank owns."""

    lo: int
    hi: int
    streams: int

    @classmethod
    def of(cls, streams: int, comm: Comm) -> Shard:
        if streams % comm.size:
            raise ConfigError(
                f"batch_size {streams} is not divisible by the {comm.size} workers: each "
                "worker owns an equal block of the streams",
                ("batch_size",),
            )
        per = streams // comm.size
        return cls(comm.rank * per, (comm.rank + 1) * per, streams)


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """A digest of every array's bytes, in name order: equal on ranks that agree."""
    h = hashlib.sha1()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(to_host(arrays[name])).tobytes())
    return h.hexdigest()


def check_same(comm: Comm, arrays: dict[str, np.ndarray]) -> None:
    """Raise ``RankMismatchError`` unless every rank holds the same ``arrays``."""
    if comm.size == 1:
        return
    mine = np.frombuffer(bytes.fromhex(checksum(arrays)), dtype=np.uint8)
    if any(not np.array_equal(mine, other) for other in comm.allgather(mine)):
        raise RankMismatchError(
            "the workers' parameters differ (a rank diverged from the others); stopped "
            "without saving"
        )


def drop_option(argv: list[str], name: str) -> list[str]:
    """``argv`` without ``name VALUE`` or ``name=VALUE``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(name + "="):
            out.append(arg)
    return out


def mpiexec_command(workers: int, argv: list[str], python: str) -> list[str]:
    """``mpiexec -n K python -m rnnlm ARGV``: what ``--workers K`` runs in its own place."""
    here = os.path.join(os.path.dirname(python), "mpiexec")  # the [mpi] extra's, in the venv
    launcher = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    if launcher is None:
        raise ConfigError(
            "--workers needs an MPI launcher (mpiexec): pip install 'rnnlm-numpy[mpi]', "
            "or use your site's MPI"
        )
    return [launcher, "-n", str(workers), python, "-m", "rnnlm", *argv]


class GradientSync:
    """Sums every gradient over the ranks in one flat buffer, one ``Allreduce`` per step.

    The buffer also carries the step's loss, two flags any rank may raise (stop: Ctrl-C or
    SIGTERM reached it; save: the periodic ``last.npz`` is due on rank 0's clock) and, for a
    sparse embedding gradient, which rows some rank touched, so every rank agrees on all of
    them without another message.
    """

    def __init__(self, comm: Comm, grads: dict[str, np.ndarray], vocab_rows: int) -> None:
        self.comm = comm
        dtype = next(iter(grads.values())).dtype
        self.size = sum(g.size for g in grads.values())
        self.rows = vocab_rows
        self.buf = np.empty(self.size + 3 + vocab_rows, dtype=dtype)  # on the host, for MPI
        xp = array_module(*grads.values())  # GPU gradients: gathered there, copied in one piece
        self.flat = None if xp is HOST else xp.empty(self.size, dtype=dtype)

    def reduce(
        self,
        grads: dict[str, np.ndarray],
        loss: float,
        flags: tuple[bool, bool],
        touched: np.ndarray | None,
    ) -> tuple[float, tuple[bool, bool], np.ndarray | None]:
        """Replace ``grads`` by their mean over the ranks (the gradient of the mean loss over
        all N·T tokens); return the mean loss, each flag raised by any rank, and the union of
        the touched rows (None when ``touched`` is None)."""
        buf, at = self.buf, 0
        flat = buf if self.flat is None else self.flat
        xp = array_module(flat)
        for g in grads.values():
            flat[at : at + g.size] = g.reshape(-1)
            at += g.size
        if self.flat is not None:
            buf[: self.size] = to_host(self.flat)
        extra = buf[self.size :]
        extra[:3] = (loss, *flags)
        extra[3:] = 0
        if touched is not None:
            extra[3 + to_host(touched)] = 1
        self.comm.allreduce(buf)
        buf[: self.size + 1] *= 1.0 / self.comm.size
        if self.flat is not None:
            copy_into(self.flat, buf[: self.size])
        at = 0
        for g in grads.values():
            xp.copyto(g, flat[at : at + g.size].reshape(g.shape))
            at += g.size
        rows = np.flatnonzero(extra[3:]) if touched is not None else None
        return float(extra[0]), (bool(extra[1] > 0), bool(extra[2] > 0)), rows

    def agree(self, flag: bool) -> bool:
        """Whether any rank raised ``flag`` (outside a step, e.g. a stop during validation)."""
        one = np.array([float(flag)])
        self.comm.allreduce(one)
        return bool(one[0] > 0)


class DataParallel:
    """The trainer's view of a data-parallel job (alone: ``active`` is False and nothing
    here runs): its block of the streams, the per-step reduction, and the decisions every
    rank must take at the same point (to stop, to save)."""

    def __init__(self, comm: Comm, model: RNNLM, batch_size: int, vocab_size: int) -> None:
        self.comm = comm
        self.shard = Shard.of(batch_size, comm)
        self.stop = False  # a stop requested on any rank, as of the last check
        self.clock_due = False  # rank 0's periodic save, as of the last step
        self.sync: GradientSync | None = None
        if comm.size > 1:
            for param in model.params.values():  # every rank starts from rank 0's weights
                host = np.ascontiguousarray(to_host(param))
                comm.bcast(host)
                copy_into(param, host)
            model.set_streams(self.shard.lo, self.shard.hi, self.shard.streams)
            rows = vocab_size if model.embed.sparse_grad else 0  # the touched rows travel too
            self.sync = GradientSync(comm, model.grads, rows)

    @property
    def active(self) -> bool:
        return self.sync is not None

    def reduce(self, model: RNNLM, loss: float, stop: bool, last_save: float) -> float:
        """Average the gradients over the ranks; agree on stopping and on the periodic save
        (due on rank 0's clock ``SAVE_SECONDS`` after ``last_save``). Returns the mean loss."""
        due = self.comm.is_root and time.monotonic() - last_save >= SAVE_SECONDS
        touched = model.embed.touched if model.embed.sparse_grad else None
        loss, (self.stop, self.clock_due), rows = self.sync.reduce(
            model.grads, loss, (stop, due), touched
        )
        if rows is not None:  # every rank's rows: cleared by the next backward, clipped, updated
            model.embed.touched = to_device(rows, model.device)
        return loss

    def agree_stop(self, requested: bool) -> bool:
        """Whether any rank was asked to stop (alone: whether this one was)."""
        if self.sync is not None:
            self.stop = self.sync.agree(requested)
            return self.stop
        return requested

    def barrier(self) -> None:
        """Wait until every rank is here (after rank 0 has written a checkpoint)."""
        self.sync.agree(False)


def gather_state(comm: Comm, state: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Rank 0: every layer's carried state for all N streams, in stream order (the
    single-process layout; streams are the second-last axis); other ranks: Nones."""
    if comm.size == 1:
        return state
    out: list[np.ndarray | None] = []
    for s in state:
        if s is None:  # every rank resets at the same moments, so all are None together
            out.append(None)
            continue
        full = comm.gather(np.ascontiguousarray(np.moveaxis(s, -2, 0)))
        out.append(None if full is None else np.moveaxis(full, 0, -2))
    return out


def own_state(state: list[np.ndarray], shard: Shard) -> list[np.ndarray]:
    """This rank's streams of a checkpoint's carried state (all N streams)."""
    return [np.ascontiguousarray(s[..., shard.lo : shard.hi, :]) for s in state]


def shared_evaluate(
    comm: Comm,
    model: RNNLM,
    ids: np.ndarray,
    batch_size: int,
    bptt: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """``evaluate`` with the same result on every rank: each scores its block of the
    ``batch_size`` streams and the sums are reduced in float64; when the streams do not
    divide among the ranks (one stream, the default), rank 0 scores them all and shares it."""
    if comm.size == 1:
        return evaluate(model, ids, batch_size, bptt, on_progress)
    progress = on_progress if comm.is_root else None
    totals = np.zeros(2)
    if batch_size % comm.size == 0:
        shard = Shard.of(batch_size, comm)
        res = evaluate(model, ids, batch_size, bptt, progress, streams=slice(shard.lo, shard.hi))
        totals[:] = res.nll, res.tokens
        comm.allreduce(totals)
    else:
        if comm.is_root:
            res = evaluate(model, ids, batch_size, bptt, progress)
            totals[:] = res.nll, res.tokens
        comm.bcast(totals)
    return EvalResult(nll=float(totals[0]), tokens=int(totals[1]))


def agreed_signal(comm: Comm, signum: int | None) -> int | None:
    """The stop signal as all ranks agree after training (the largest any rank received), so
    that a signal that reached one rank only ends every rank the same way."""
    if comm.size == 1:
        return signum
    got = comm.allgather(np.array([signum or 0], dtype=np.int64))
    return max(int(g[0]) for g in got) or None
