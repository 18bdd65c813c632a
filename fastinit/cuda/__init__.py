"""fastinit on NVIDIA GPUs: CUDA arrays filled in place, with the CPU's bits.

Every fill and initializer of fastinit accepts, as ``out``, a CUDA array: an
object with ``__cuda_array_interface__`` (CuPy arrays, torch CUDA tensors,
Numba device arrays) or a Numba CUDA-simulator array. It is filled on its
device by the kernels of ``fastinit.cuda._kernels`` (numba-cuda, the
``fastinit[cuda]`` extra), and holds the same bits as the same call on a
NumPy array: the element arithmetic is the CPU kernels' own source
(``fastinit._kernels.counter_values``), compiled without fused multiply-adds
(``fastinit.cuda._compile``).

Example::

    >>> import cupy, fastinit
    >>> w = cupy.empty((4096, 4096), cupy.float32)
    >>> fastinit.fill_normal(w, std=0.02, seed=0)   # on the GPU; == the NumPy fill
"""

import contextlib
import functools
import math
import threading

import numpy as np

from .. import _formats, _regions

#: Most blocks along a CUDA grid's y axis (a launch's rows of a region).
_MAX_GRID_Y = 65535

__all__ = ["is_cuda_array", "available", "empty", "stream", "synchronize"]

#: DLPack's device types of CUDA memory (kDLCUDA, kDLCUDAHost, kDLCUDAManaged).
_DLPACK_CUDA = (2, 3, 13)


def _simulated(out):
    """Whether out is an array of Numba's CUDA simulator (which has no
    ``__cuda_array_interface__``)."""
    module = type(out).__module__
    return module.startswith(("numba.cuda.simulator", "numba_cuda.numba.cuda.simulator"))


def is_cuda_array(out):
    """Whether ``out`` is memory on a CUDA device: an object with
    ``__cuda_array_interface__``, a DLPack object on a CUDA device, or an
    array of Numba's CUDA simulator."""
    if isinstance(out, np.ndarray):
        return False
    if _simulated(out):
        return True
    try:
        getattr(out, "__cuda_array_interface__")
        return True
    except AttributeError:
        pass
    except Exception:  # noqa: BLE001 - it has one but cannot give it (torch: a tensor that requires grad)
        return True
    device = getattr(out, "__dlpack_device__", None)
    if device is None:
        return False
    try:
        return device()[0] in _DLPACK_CUDA
    except Exception:  # noqa: BLE001 - not a usable DLPack object: not a CUDA array
        return False


def available():
    """Whether fastinit can fill a real GPU's memory here: numba-cuda is
    installed (``pip install fastinit[cuda]``), Numba's CUDA simulator is off
    (it can't reach a GPU's memory), and numba-cuda finds a working CUDA driver
    and device. Where this is False, ``fastinit.torch`` fills CUDA tensors
    through the host (the same bits) and ``fastinit.jax`` on the host."""
    try:
        import numba_cuda  # noqa: F401
    except ImportError:
        return False
    from ._compile import simulated
    return not simulated() and _driver_usable()


@functools.cache
def _driver_usable():
    """numba.cuda.is_available(), asked once per process (it loads the driver)."""
    from numba import cuda
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver or library: not usable
        return False


def _numba_cuda():
    """numba.cuda, from the numba-cuda package: Numba's own older CUDA target
    (still in numba, deprecated) is not used, since the exact compilation
    options (_compile) are made for numba-cuda's."""
    try:
        import numba_cuda  # noqa: F401 - makes numba.cuda numba-cuda's
        from numba import cuda
    except ImportError as error:
        raise ImportError("out is a CUDA array: filling it on the GPU needs numba-cuda "
                          "(pip install 'fastinit[cuda]')") from error
    return cuda


def _device_number(device):
    """N of ``device``: "cuda" (the current device, None), "cuda:N"; else a
    ValueError naming ``device``."""
    if device == "cuda":
        return None
    if isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        return int(device[5:])
    raise ValueError(f"device must be 'cuda' or 'cuda:N', got {device!r}")


def on_device(device):
    """A context in which Numba's current device is ``device`` ("cuda": the
    current one; "cuda:N"): arrays made and kernels launched there are on it."""
    import contextlib
    number = _device_number(device)
    if number is None:
        return contextlib.nullcontext()
    cuda = _numba_cuda()
    if number >= len(cuda.gpus):
        raise ValueError(f"device={device!r}: there are {len(cuda.gpus)} CUDA devices")
    return cuda.gpus[number]


class _Launch(threading.local):
    stream = None  # None: Numba's default stream


_launch = _Launch()


@contextlib.contextmanager
def stream(handle):
    """A context in which this thread's GPU fills run on the CUDA stream
    ``handle``, in that stream's order with the work already queued there, and
    without synchronizing the device (a strided output waits for that stream
    alone). ``handle``: a Numba stream, a torch or CuPy stream (their
    ``cuda_stream``/``ptr``), or a raw ``cudaStream_t`` as an int. Outside
    such a context the kernels run on Numba's default stream.

    Example::

        >>> s = torch.cuda.Stream()
        >>> with torch.cuda.stream(s), fastinit.cuda.stream(s):
        ...     fastinit.fill_normal(w, std=0.02, seed=0)   # queued on s
    """
    cuda = _numba_cuda()
    if isinstance(handle, bool) or handle is None:
        raise TypeError(f"stream needs a CUDA stream or its handle, got {handle!r}")
    if hasattr(handle, "auto_synchronize"):  # a Numba stream (a real one or the simulator's)
        numba_stream = handle
    else:
        raw = getattr(handle, "cuda_stream", getattr(handle, "ptr", handle))
        if not isinstance(raw, int) or raw < 0:
            raise TypeError(f"stream needs a CUDA stream or its handle, got {handle!r}")
        numba_stream = cuda.external_stream(raw) if raw else cuda.default_stream()
    previous = _launch.stream
    _launch.stream = numba_stream
    try:
        yield numba_stream
    finally:
        _launch.stream = previous


def launch_stream():
    """The Numba stream this thread's fills run on (``stream``); None: the default."""
    return _launch.stream


def synchronize():
    """Wait until this thread's GPU fills queued so far are done: the stream
    of the enclosing ``stream`` context, else Numba's default stream (where
    the fills run outside one)."""
    (_launch.stream or _numba_cuda().default_stream()).synchronize()


def empty(shape, dtype, device="cuda"):
    """An uninitialized C-contiguous Numba device array of ``shape`` and
    ``dtype`` on ``device`` ("cuda", the current device, or "cuda:N")."""
    with on_device(device):
        return _numba_cuda().device_array(shape, np.dtype(dtype))


def _cuda_array_interface(out):
    """out's ``__cuda_array_interface__``, None where it has none; a
    TypeError naming out where it has one it cannot give."""
    try:
        return out.__cuda_array_interface__
    except AttributeError:
        return None
    except Exception as error:  # noqa: BLE001 - torch: a tensor that requires grad
        raise TypeError(f"out has no usable __cuda_array_interface__ ({error}); "
                        f"for a torch parameter, pass param.detach()") from error


def device_view(out):
    """A Numba device array over ``out``'s memory (no copy), checked as
    ``check_out`` checks NumPy arrays: TypeError or ValueError naming ``out``."""
    cuda = _numba_cuda()
    if _simulated(out) or type(out).__name__ in ("DeviceNDArray", "MappedNDArray") and hasattr(out, "gpu_data"):
        view = out  # a Numba device array already (its interface would lose a bfloat16 dtype: "<V2")
    elif (interface := _cuda_array_interface(out)) is not None:
        if interface["data"][1]:
            raise ValueError("out is read-only")
        strides = interface.get("strides")
        if strides and any(st == 0 and n > 1 for st, n in zip(strides, interface["shape"])):
            raise ValueError("out has overlapping elements (a zero stride): it cannot be filled element by element")
        if not hasattr(cuda, "as_cuda_array"):
            raise TypeError("Numba's CUDA simulator fills only its own device arrays (cuda.device_array)")
        view = cuda.as_cuda_array(out)  # waits for the stream the interface names, if any
        if np.dtype(view.dtype).kind == "V" and str(getattr(out, "dtype", "")) == "torch.bfloat16":
            view = view.view(_formats.bfloat16_dtype())  # torch's interface says only "<V2"
    else:
        raise TypeError(f"out is a DLPack array on a CUDA device without __cuda_array_interface__ "
                        f"({type(out).__name__}); pass a CuPy array, a torch tensor or a Numba device array")
    if not _formats.is_supported(np.dtype(view.dtype)):
        raise TypeError(f"out must have dtype float32, float64, float16 or bfloat16, got {view.dtype}")
    return view


def _contiguous_flat(view, stored):
    """(a flat C-order view of view's elements as ``stored``, or None where
    view is not C-contiguous)."""
    if not view.is_c_contiguous():
        return None
    flat = view.reshape(view.size) if view.ndim != 1 else view
    return flat.view(stored) if np.dtype(flat.dtype) != stored else flat


def _write_through_scratch(view, stored, fill):
    """fill(a contiguous scratch array of view's size), then copy it into
    the strided view (on the device)."""
    cuda = _numba_cuda()
    on = launch_stream()
    scratch = cuda.device_array(view.size, stored, stream=on or 0)
    fill(scratch)
    target = view.view(stored) if np.dtype(view.dtype) != stored else view
    value = scratch.reshape(view.shape)
    if hasattr(target, "setitem"):  # a Numba device array: numba's indexing takes (), not Ellipsis
        if on is None:
            cuda.synchronize()  # the scratch is filled, whichever stream target's interface named
            target.setitem((), value)
            cuda.synchronize()  # the copy is done before the scratch is freed
        else:  # in the stream's order; it alone is waited for before the scratch is freed
            target.setitem((), value, stream=on)
            on.synchronize()
    else:  # the simulator's arrays (NumPy inside)
        target[()] = value


def generate(view, params, fmt, distribution_id, seed, offset):
    """Fill the device array ``view`` (from device_view) with stream elements
    ``offset .. offset + view.size - 1`` (fastinit.distributions._generate's
    arguments)."""
    from ..bits import _key_words
    from . import _kernels
    dtype = np.dtype(view.dtype)
    stored = _formats.kernel_dtype(dtype)
    compute = _formats.compute_dtype(dtype)
    k0, k1 = _key_words(seed)
    words = (np.uint64(k0), np.uint64(k1), np.uint64(distribution_id), np.uint64(8 * compute.itemsize))
    like = compute.type(0)
    fmt = _kernels.NATIVE if fmt is None else fmt
    per_block = (4 if compute.itemsize == 4 else 2) * _kernels.LANES

    def fill(rows, first_offset, row_step=0):
        """rows (2-D, as ``stored``): row r gets stream elements first_offset + r * row_step .."""
        count, n = rows.shape
        head = first_offset % per_block
        # a row's run starts anywhere in a block: one block more than its length needs, at most
        blocks = (head + n + per_block - 1) // per_block if count == 1 else (n + 2 * per_block - 2) // per_block
        for start in range(0, count, _MAX_GRID_Y):
            part = rows[start:start + _MAX_GRID_Y]
            _kernels.fill_counters[(blocks, part.shape[0]), _kernels.LANES, launch_stream() or 0](
                part, params, fmt, like, *words, np.uint64(first_offset + start * row_step), np.uint64(row_step),
                np.int64(per_block), np.int64(n))

    if type(view) is _regions.Rows:
        rows = view.view.view(stored) if np.dtype(view.dtype) != stored else view.view
        fill(rows, offset, view.step)
        return view
    flat = _contiguous_flat(view, stored)
    if flat is not None:
        fill(flat.reshape(1, flat.size), offset)
    else:
        _write_through_scratch(view, stored, lambda scratch: fill(scratch.reshape(1, scratch.size), offset))
    return view


def fill_constant(view, stored_value):
    """view[...] = the stored pattern or value (from _formats.encode)."""
    from . import _kernels
    dtype = np.dtype(view.dtype)
    stored = _formats.kernel_dtype(dtype)
    value = stored.type(stored_value)

    def fill(flat):
        n = flat.size
        threads = 256
        _kernels.fill_value[max(1, math.ceil(n / threads)), threads, launch_stream() or 0](flat, value, np.int64(n))

    flat = _contiguous_flat(view, stored)
    if flat is not None:
        fill(flat)
    else:
        _write_through_scratch(view, stored, fill)
    return view


def copy_from_host(view, host):
    """view[...] = host (a NumPy array of view's shape and dtype)."""
    stored = _formats.kernel_dtype(np.dtype(view.dtype))
    source = np.ascontiguousarray(host).view(stored).reshape(-1)
    flat = _contiguous_flat(view, stored)
    if flat is not None:
        flat.copy_to_device(source, stream=launch_stream() or 0)
    else:
        _write_through_scratch(view, stored, lambda scratch: scratch.copy_to_device(source, stream=launch_stream() or 0))
    return view
