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
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from dataclasses import dataclass

import numpy as np

from rnnlm.errors import ConfigError, RnnlmError

# Variables the common launchers set in every rank's environment: world size, local size.
SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_WORLDSIZE")
LOCAL_SIZE_VARS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_LOCAL_SIZE")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class RankMismatchError(RnnlmError):
    """Ranks that should hold identical parameters do not."""


def launched_size() -> int:
    """The world size a launcher announced in the environment (1 when started alone)."""
    for name in SIZE_VARS:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def configure_threads() -> None:
    """Share the machine's cores among the ranks on it, unless the user chose thread counts.

    Must run before numpy is imported (OpenBLAS reads its variables once, at load).
    """
    local = next((int(v) for k in LOCAL_SIZE_VARS if (v := os.environ.get(k, "")).isdigit()), 0)
    if local <= 1 or any(name in os.environ for name in THREAD_VARS):
        return
    per_rank = str(max(1, (os.cpu_count() or 1) // local))
    for name in THREAD_VARS:
        os.environ[name] = per_rank
    os.environ.setdefault("RNNLM_THREADS", per_rank)


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
                "worker owns an equal block of the streams"
            )
        per = streams // comm.size
        return cls(comm.rank * per, (comm.rank + 1) * per, streams)

    @property
    def whole(self) -> bool:
        return self.lo == 0 and self.hi == self.streams


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """A digest of every array's bytes, in name order: equal on ranks that agree."""
    h = hashlib.sha1()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).tobytes())
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
