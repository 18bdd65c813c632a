"""New output buffers: aligned for zero-copy hand-off, and on 4 KiB pages.

* XLA's CPU client aliases a host buffer passed to ``jax.device_put`` instead
  of copying it when the buffer is aligned to 64 bytes (its minimum
  alignment); NumPy aligns large arrays to 16 bytes only.
* NumPy asks for transparent huge pages for every large array
  (``madvise(MADV_HUGEPAGE)``). On this project's machines (virtual machines)
  the first touch of fresh huge pages is slow and erratic (the host must back
  them again), while 4 KiB pages fault in at a steady speed: three arrays
  of 512 MiB in all, made by ``fastinit.normal``/``uniform`` in a new process,
  took 0.40-1.11 s with NumPy's huge pages and 0.26-0.27 s without.

So a large buffer (at least ``MMAP_MIN_BYTES``) is its own private anonymous
mapping (page-aligned, no huge-page advice), freed when the array and its
views are; a small one comes from NumPy, over-allocated by one alignment unit
and sliced at an aligned address.
"""

import math
import mmap

import numpy as np

#: XLA's minimum buffer alignment on CPU.
ALIGNMENT = 64
#: Buffers at least this large are private anonymous mappings of their own.
MMAP_MIN_BYTES = 4 << 20


def aligned_empty(shape, dtype, alignment=ALIGNMENT):
    """An uninitialized, writable, C-contiguous array of ``shape`` and ``dtype``
    whose data starts at a multiple of ``alignment`` bytes (at most a page)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes >= MMAP_MIN_BYTES and hasattr(mmap, "MAP_PRIVATE"):
        memory = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        return np.frombuffer(memory, dtype=dtype).reshape(shape)
    raw = np.empty(nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes].view(dtype).reshape(shape)
