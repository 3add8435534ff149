"""A stand-in for CuPy on the CPU, so that the GPU code path runs in the tests of every machine.

``install(monkeypatch)`` puts modules named ``cupy`` and ``cupyx`` into ``sys.modules`` (what
``rnnlm.backend`` looks for). Their arrays, ``DeviceArray``, are numpy arrays underneath, so
results are numpy's, but they behave as CuPy's do where it matters to rnnlm, and are stricter
where CuPy is lenient:

- an operation that mixes a device array with a host (numpy) array raises: operands, ``out=``,
  assignment and index arrays (CuPy refuses numpy operands too);
- a numpy function called on a device array raises (rnnlm must use its array module ``xp``,
  where CuPy would dispatch it quietly), and so does ``numpy.savez`` (a checkpoint must hold
  host arrays);
- moving is explicit and copies: ``cupy.asarray`` to the device, ``.get()``/``cupy.asnumpy``
  to the host; reductions and scalar indexing give 0-d device arrays, as CuPy's do;
- every read of the device from the host (``.get()``, ``float()``, ``int()``, ``bool()``,
  ``tolist()``, and the calls whose result size only the device knows: ``unique``,
  ``flatnonzero``, ``nonzero``) is counted in ``FakeCupy.reads``, so tests can bound a step's
  synchronisations.

It checks the plumbing, not CUDA: kernels, memory and speed need a GPU (benchmarks/gpu_check.py).
"""

import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

SYNCING = ("unique", "flatnonzero", "nonzero", "argwhere", "count_nonzero")
EXPLICIT_MOVES = ("asarray", "array")  # host data to the device, as CuPy's


class HostArrayError(TypeError):
    """A host array met a device array (CuPy raises a TypeError too)."""


class DeviceArray(np.ndarray):
    """A numpy array playing a GPU array (see the module's docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _refuse_host(ufunc.__name__, inputs)
        if out is not None:
            _refuse_host(ufunc.__name__, out)
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = getattr(ufunc, method)(*(_plain(x) for x in inputs), **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types, args, kwargs):
        raise HostArrayError(f"numpy.{func.__name__} called on a device array: use xp")

    def __getitem__(self, index):
        _refuse_host("indexing", _index_arrays(index))
        return _wrap(np.ndarray.__getitem__(self, _plain_index(index)))  # views keep ``base``

    def __setitem__(self, index, value):
        _refuse_host("assignment", (value, *_index_arrays(index)))
        np.ndarray.__setitem__(self, _plain_index(index), _plain(value))

    @property
    def data(self) -> types.SimpleNamespace:
        """The memory's address as CuPy gives it (``a.data.ptr``)."""
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])

    def get(self, out: np.ndarray | None = None) -> np.ndarray:
        """A host copy (into ``out`` if given), as ``cupy.ndarray.get``."""
        FakeCupy.reads += 1
        if out is None:
            return np.array(_plain(self), copy=True)
        out[...] = _plain(self)
        return out

    def set(self, arr: np.ndarray) -> None:
        """Copy the host array ``arr`` in, as ``cupy.ndarray.set``."""
        _plain(self)[...] = arr

    def _read(self) -> np.ndarray:
        FakeCupy.reads += 1
        return _plain(self)

    def __float__(self) -> float:
        return float(self._read())

    def __int__(self) -> int:
        return int(self._read())

    def __bool__(self) -> bool:
        return bool(self._read())

    def __index__(self) -> int:
        return self._read().__index__()

    def tolist(self):
        return self._read().tolist()

    def item(self, *args):
        return self._read().item(*args)


def _plain(x: Any) -> Any:
    return x.view(np.ndarray) if isinstance(x, DeviceArray) else x


def _plain_index(index: Any) -> Any:
    return tuple(_plain(i) for i in index) if isinstance(index, tuple) else _plain(index)


def _index_arrays(index: Any) -> tuple:
    return index if isinstance(index, tuple) else (index,)


def _refuse_host(where: str, objects: Any) -> None:
    for x in objects:
        if isinstance(x, list | tuple):
            _refuse_host(where, x)
        elif isinstance(x, np.ndarray) and not isinstance(x, DeviceArray):
            raise HostArrayError(f"{where}: a host (numpy) array {x.shape} among device arrays")


def _device(a: np.ndarray) -> DeviceArray:
    """A device array that owns a copy of the host array ``a``."""
    d = np.ndarray.__new__(DeviceArray, a.shape, a.dtype)
    np.copyto(d.view(np.ndarray), a)
    return d


def _wrap(result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, list):
        return [_wrap(r) for r in result]
    if isinstance(result, DeviceArray):
        return result
    if isinstance(result, np.generic):  # CuPy gives 0-d arrays, never scalars
        return _device(np.asarray(result))
    if isinstance(result, np.ndarray):  # new memory: owned; a view: still a view
        return _device(result) if result.flags.owndata else result.view(DeviceArray)
    return result


def _unwrap(x: Any) -> Any:
    if isinstance(x, list | tuple):
        return type(x)(_unwrap(i) for i in x)
    return _plain(x)


def _function(name: str, fn: Callable) -> Callable:
    def call(*args, **kwargs):
        if name in EXPLICIT_MOVES:  # host data onto the device: a copy, never an alias
            (data, *rest) = args
            if isinstance(data, DeviceArray) and not rest and not kwargs:
                return data
            return _device(np.asarray(_unwrap(data), *rest, **kwargs))
        _refuse_host(name, (*args, *kwargs.values()))
        if name in SYNCING:
            FakeCupy.reads += 1
        result = fn(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
        if kwargs.get("out") is not None:
            return kwargs["out"]
        return _wrap(result)

    call.__name__ = name
    return call


class _Ufunc:
    """A numpy ufunc on device arrays (calls only: rnnlm uses no ufunc method on a device)."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._call = _function(ufunc.__name__, ufunc)
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)


class _Device:
    def __init__(self, cuda: "_Cuda", index: int | None = None) -> None:
        self.cuda = cuda
        self.id = cuda.current if index is None else index

    def use(self) -> None:
        self.cuda.current = self.id

    def synchronize(self) -> None:
        pass


class _Stream:
    def synchronize(self) -> None:
        pass


class _Runtime:
    def __init__(self, cuda: "_Cuda") -> None:
        self.cuda = cuda

    def getDeviceCount(self) -> int:
        if self.cuda.count < 1:
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return self.cuda.count

    def getDeviceProperties(self, index: int) -> dict:
        return {"name": b"Fake GPU"}


class _Cuda:
    def __init__(self, count: int) -> None:
        self.count = count
        self.current = 0
        self.runtime = _Runtime(self)

    def is_available(self) -> bool:
        return self.count > 0

    def Device(self, index: int | None = None) -> _Device:
        return _Device(self, index)

    def get_current_stream(self) -> _Stream:
        return _Stream()


class FakeCupy(types.ModuleType):
    """The ``cupy`` module of the fake: numpy's names, on device arrays."""

    reads = 0  # host reads of the device, since the last install

    def __init__(self, devices: int = 1) -> None:
        super().__init__("cupy")
        self.__version__ = "0.0-fake"
        self.ndarray = DeviceArray
        self.cuda = _Cuda(devices)

    def asnumpy(self, a: Any) -> np.ndarray:
        return a.get() if isinstance(a, DeviceArray) else np.asarray(a)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(np, name)  # AttributeError for what numpy lacks too
        if isinstance(attr, np.ufunc):
            return _Ufunc(attr)
        if callable(attr) and not isinstance(attr, type):
            return _function(name, attr)
        return attr  # dtypes and constants are numpy's, as in CuPy


def _scatter_add(a: DeviceArray, indices: Any, values: Any) -> None:
    _refuse_host("scatter_add", (a, indices, values))
    np.add.at(_plain(a), _plain_index(indices), _plain(values))


def install(monkeypatch: Any, devices: int = 1) -> FakeCupy:
    """Make ``import cupy`` (and ``cupyx``) give the fake, with ``devices`` GPUs, until the
    test ends; returns the ``cupy`` module."""
    cupy = FakeCupy(devices)
    cupyx = types.ModuleType("cupyx")
    cupyx.scatter_add = _scatter_add
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    FakeCupy.reads = 0
    return cupy
