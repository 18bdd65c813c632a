"""The tensor a Keras initializer returns, for the active Keras backend, filled
in place by fastinit and handed over without a copy where the backend allows:

* ``jax``: on JAX's default device where it is an NVIDIA GPU and numba-cuda
  is installed, a device buffer filled there (the CPU's bits) and adopted by
  JAX through DLPack (``fastinit.jax.on_gpu``); else a 64-byte-aligned host
  buffer, adopted as is by ``jax.device_put`` on the CPU backend (another
  device gets one host-to-device copy);
* ``torch``: a ``torch.empty`` tensor on Keras' torch device, filled in place:
  through a NumPy view of its memory on the CPU (bfloat16 included), on the
  GPU for a CUDA device (``fastinit.torch._tensors.on_gpu``: fastinit.cuda, or
  the host and a copy without numba-cuda);
* ``numpy``: the filled array itself (a Keras variable then holds a copy:
  the NumPy backend's ``convert_to_tensor`` is ``np.array``);
* any other backend (TensorFlow, OpenVINO): ``keras.ops.convert_to_tensor`` of
  the filled array, which copies.
"""

import keras
import numpy as np

from .. import _formats
from .._buffers import aligned_empty

#: Keras dtype names fastinit's kernels produce.
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def float_dtype(dtype):
    """The Keras name of ``dtype`` (``None``: Keras' ``floatx()``), which must be a float dtype."""
    try:
        name = keras.backend.standardize_dtype(dtype)
    except ValueError as error:
        raise ValueError(f"dtype must be one of {', '.join(FLOAT_DTYPES)}, got {dtype!r}") from error
    if name not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(FLOAT_DTYPES)}, got {dtype!r}")
    return name


def _torch_device():
    """Where the tensor is made: Keras' torch device where it is a CUDA one,
    else the CPU (another device, MPS, gets the CPU tensor moved by Keras)."""
    try:
        from keras.src.backend.torch.core import get_device
    except ImportError:  # a Keras without that module: the CPU, moved by Keras where it must be
        return "cpu"
    device = str(get_device())
    return device if device.startswith("cuda") else "cpu"


def filled(shape, dtype, fill):
    """``fill(out)`` on a new C-contiguous host buffer of ``shape`` and the
    Keras float dtype name ``dtype``, returned as the backend's tensor."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        from ..torch._tensors import advise_huge_pages, numpy_view, on_gpu

        tensor = torch.empty(shape, dtype=getattr(torch, dtype), device=_torch_device())
        if tensor.is_cuda:
            on_gpu(tensor, fill)
        else:
            advise_huge_pages(tensor)  # a no-op unless fastinit._buffers.HUGE_PAGES
            fill(numpy_view(tensor))
        return keras.ops.convert_to_tensor(tensor)  # no copy on Keras' own device
    array_dtype = _formats.resolve_dtype(dtype)
    if backend == "jax":
        import jax

        # JAX's own narrowing: float64 is float32 unless jax_enable_x64 (as Keras' initializers give)
        from ..jax import gpu_device, on_gpu
        narrowed = jax.dtypes.canonicalize_dtype(array_dtype)
        device = gpu_device()
        if device is not None:
            return on_gpu(device, shape, narrowed, fill)
        out = aligned_empty(shape, narrowed)
        fill(out)
        return jax.device_put(out)
    out = np.empty(shape, array_dtype)
    fill(out)
    return out if backend == "numpy" else keras.ops.convert_to_tensor(out, dtype)
