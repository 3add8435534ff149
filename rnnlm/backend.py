"""Where arrays live: numpy on the CPU (``--device cpu``), CuPy on an NVIDIA GPU (``cuda``).

Layers, the model, the heads, the optimizers and the loss never import an array library for
their arithmetic: they take the module from the arrays they are given, as they take the dtype
(``xp = array_module(xs)``, then ``xp.matmul``, ``xp.tanh``...), so one code runs on both, and a
numpy model and a CuPy model can live in one process (benchmarks/gpu_check.py compares them).
Work that belongs on the host says so with ``HOST`` (the run's random draws, the vocabulary's
class bounds).

CuPy is imported only by ``use_device("cuda")`` (and whatever else the user imports):
``array_module`` looks for ``cupy`` among the loaded modules, so a CPU run never loads it.

Moving data is explicit: ``to_device`` (a batch, a checkpoint's arrays), ``to_host`` (what a
checkpoint stores, what is printed), ``copy_into`` (a stored value into a live array, wherever
each lives). Checkpoints hold host arrays in one format, whatever the device of the run that
wrote them, so any checkpoint resumes, evaluates and samples on either device.
"""

import sys
from types import ModuleType
from typing import Any

import numpy

from rnnlm.errors import ConfigError
from rnnlm.training.launcher import launched_local_rank

HOST = numpy  # the host's array module
DEVICES = ("cpu", "cuda")
CUDA_EXTRA = "pip install 'rnnlm-numpy[cuda12]'"


def _cupy() -> ModuleType | None:
    """CuPy if something has imported it, else None (never imports it)."""
    return sys.modules.get("cupy")


def is_device_array(a: object) -> bool:
    """Whether ``a`` is a GPU array (a CuPy ndarray)."""
    cp = _cupy()
    return cp is not None and isinstance(a, cp.ndarray)


def array_module(*arrays: object) -> ModuleType:
    """The array module of ``arrays``: CuPy if any of them is a CuPy array, else numpy."""
    cp = _cupy()
    if cp is not None and any(isinstance(a, cp.ndarray) for a in arrays):
        return cp
    return HOST


def device_of(a: object) -> str:
    """``"cuda"`` for a GPU array, ``"cpu"`` for anything else."""
    return "cuda" if is_device_array(a) else "cpu"


def to_host(a: Any) -> Any:
    """``a`` as a host (numpy) array: a GPU array is copied to the host; a numpy array or
    scalar is returned as it is (no copy)."""
    if is_device_array(a):
        return a.get()
    return a


def to_device(a: Any, device: str) -> Any:
    """``a`` on ``device``: itself when it is already there (no copy), else a copy there."""
    if device == "cpu":
        return to_host(a)
    return _require_cupy().asarray(a)


def like(a: Any, ref: Any) -> Any:
    """``a`` on the device ``ref`` lives on (itself when already there)."""
    return to_device(a, device_of(ref))


def copy_into(dst: Any, src: Any) -> None:
    """``dst[...] = src``, wherever each lives (a host value into a GPU array is copied over)."""
    dst[...] = like(src, dst)


def scatter_add(target: Any, indices: Any, values: Any) -> None:
    """``target[indices] += values`` with repeated indices accumulating, in place
    (``numpy.add.at`` on the host, ``cupyx.scatter_add`` on a GPU)."""
    if is_device_array(target):
        import cupyx

        cupyx.scatter_add(target, indices, values)
    else:
        HOST.add.at(target, indices, values)


def scalar(x: Any) -> Any:
    """A 0-d result (a mean loss) as the caller reads it: from host arrays, a Python float;
    on a GPU, the 0-d device array, which ``float()`` brings to the host (a synchronisation)
    only where the value is needed, so a step's kernels keep queuing meanwhile."""
    return x if is_device_array(x) else float(x)


def data_pointer(a: Any) -> int:
    """The address of ``a``'s first element (to tell whether two arrays share memory)."""
    return int(a.data.ptr) if is_device_array(a) else int(a.ctypes.data)


def synchronize(device: str) -> None:
    """Wait until the device has finished the work queued so far (timings); nothing on a CPU."""
    if device != "cpu":
        _require_cupy().cuda.get_current_stream().synchronize()


def _require_cupy() -> ModuleType:
    cp = _cupy()
    if cp is None:
        raise RuntimeError("a GPU array was asked for before use_device('cuda')")
    return cp


def use_device(device: str) -> str:
    """Check that ``device`` can run here and make it current; returns it.

    ``"cuda"`` imports CuPy and picks the GPU: with several on the machine, the one of this
    process's local rank under an MPI launcher (one rank per GPU). Without CuPy, or without a
    usable GPU, a ``ConfigError`` of one line says which (and how to install the extra).
    """
    if device not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return device
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken install (missing CUDA libraries)
        why = "" if isinstance(exc, ImportError) else f" (CuPy failed to load: {exc})"
        raise ConfigError(
            f"--device cuda needs CuPy and its CUDA libraries{why}: {CUDA_EXTRA}"
        ) from None
    count, why = 0, "no NVIDIA GPU or driver found"
    try:
        if cupy.cuda.is_available():
            count = cupy.cuda.runtime.getDeviceCount()
        else:
            cupy.cuda.runtime.getDeviceCount()  # raises with the driver's own reason
    except Exception as exc:  # cupy.cuda.runtime.CUDARuntimeError and the like
        why = " ".join(str(exc).split()) or type(exc).__name__
    if count < 1:
        raise ConfigError(f"--device cuda: no usable GPU here ({why}); use --device cpu")
    cupy.cuda.Device(launched_local_rank() % count).use()
    return device
