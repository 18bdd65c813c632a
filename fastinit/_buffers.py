"""Output buffers that frameworks can adopt without a copy.

XLA's CPU client aliases a host buffer passed to ``jax.device_put`` instead of
copying it when the buffer is aligned to 64 bytes (its minimum alignment);
NumPy aligns large arrays to 16 bytes only. ``aligned_empty`` over-allocates
by one alignment unit and returns the aligned view, so a fill followed by
``jax.device_put`` hands the filled memory over as is.
"""

import math

import numpy as np

#: XLA's minimum buffer alignment on CPU.
ALIGNMENT = 64


def aligned_empty(shape, dtype, alignment=ALIGNMENT):
    """An uninitialized C-contiguous array of ``shape`` and ``dtype`` whose data
    starts at a multiple of ``alignment`` bytes."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes].view(dtype).reshape(shape)
