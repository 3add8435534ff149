"""What an MPI launcher tells each process through its environment; numpy-free, because
``rnnlm/__init__.py`` reads it before numpy loads (OpenBLAS reads its thread count once).
"""

import os

# Variables the common launchers (MPICH's hydra, Open MPI, PMIx) set in every rank
RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")
LOCAL_SIZE_VARS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_LOCAL_SIZE")
# This process's rank among those on its machine (which GPU it takes: rnnlm/backend.py)
LOCAL_RANK_VARS = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _first_number(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return default


def launched_size() -> int:
    """The job's number of ranks as the launcher announced it (1 when started alone)."""
    return max(1, _first_number(SIZE_VARS, 1))


def launched_rank() -> int:
    """This process's rank as the launcher announced it (0 when started alone)."""
    return _first_number(RANK_VARS, 0)


def launched_local_rank() -> int:
    """This process's rank among the ranks on its machine (0 when started alone)."""
    return _first_number(LOCAL_RANK_VARS, 0)


def configure_threads() -> None:
    """Share this machine's cores among the ranks on it (BLAS threads and rnnlm's own pool),
    unless the user set thread counts. Must run before numpy is imported."""
    local = _first_number(LOCAL_SIZE_VARS, 0)
    if local <= 1 or any(name in os.environ for name in THREAD_VARS):
        return
    per_rank = str(max(1, (os.cpu_count() or 1) // local))
    for name in THREAD_VARS:
        os.environ[name] = per_rank
    os.environ.setdefault("RNNLM_THREADS", per_rank)
