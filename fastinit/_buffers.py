"""New output buffers: aligned for zero-copy hand-off, and on 4 KiB pages.

* XLA's CPU client aliases a host buffer passed to ``jax.device_put`` instead
  of copying it when the buffer is aligned to 64 bytes (its minimum
  alignment); NumPy aligns large arrays to 16 bytes only.
* NumPy asks for transparent huge pages for every large array
  (``madvise(MADV_HUGEPAGE)``). On virtual machines whose host takes back
  freed memory, the first touch of fresh huge pages is slow and erratic (the
  host must back them again), while 4 KiB pages fault in at a steady speed:
  three arrays of 512 MiB in all, made by ``fastinit.normal``/``uniform`` in a
  new process, took 0.40-1.11 s with NumPy's huge pages and 0.26-0.27 s
  without (docs/performance.md, "Fresh memory").

So a large buffer (at least ``MMAP_MIN_BYTES``) is its own private anonymous
mapping (page-aligned, no huge-page advice unless ``HUGE_PAGES``), freed when
the array and its views are; a small one comes from NumPy, over-allocated by
one alignment unit and sliced at an aligned address.

``HUGE_PAGES`` (off; ``FASTINIT_HUGE_PAGES=1`` in the environment turns it on
at import) asks for transparent huge pages before the first touch of fresh
memory: these buffers, and the torch tensors fastinit.torch fills. Measured on
such a virtual machine (``bench/fresh_memory.py``, ``bench/gpt2_first_build.py``):
memory it recycles within seconds faults in at 1.3x the warm fill with huge
pages, against 3.1x on 4 KiB pages; but its host takes back free 2 MiB blocks
within seconds, and a new process's huge pages then fault far slower, so a
GPT-2-small first build under ``fast_init`` took 0.69 s with them and 0.16 s
without. Machines that keep their memory (bare metal) are where the switch pays.
"""

import ctypes
import ctypes.util
import math
import mmap
import os

import numpy as np

#: XLA's minimum buffer alignment on CPU.
ALIGNMENT = 64
#: Buffers at least this large are private anonymous mappings of their own.
MMAP_MIN_BYTES = 4 << 20


#: Ask for transparent huge pages before filling fresh memory (see above).
HUGE_PAGES = os.environ.get("FASTINIT_HUGE_PAGES", "") == "1"
#: With HUGE_PAGES, buffers at least this large ask for them.
HUGE_PAGE_MIN_BYTES = 4 << 20
_HUGE = 2 << 20
_MADV_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", 14)
_libc = None


def _madvise():
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
            _libc = libc.madvise
        except (OSError, AttributeError):  # not Linux/glibc: nothing to advise
            _libc = False
    return _libc


def advise_huge_pages(address, nbytes):
    """With ``HUGE_PAGES`` on, ask the kernel to back the 2 MiB-aligned
    interior of ``nbytes`` of memory at ``address`` with transparent huge
    pages (``madvise(MADV_HUGEPAGE)``), before its first touch. The values
    written later are unchanged; where the call is not available or fails
    (another OS, file-backed memory), nothing happens."""
    if not HUGE_PAGES or nbytes < HUGE_PAGE_MIN_BYTES:
        return
    madvise = _madvise()
    if not madvise:
        return
    first = (address + _HUGE - 1) & ~(_HUGE - 1)
    last = (address + nbytes) & ~(_HUGE - 1)
    if last > first:
        madvise(first, last - first, _MADV_HUGEPAGE)


def aligned_empty(shape, dtype, alignment=ALIGNMENT):
    """An uninitialized, writable, C-contiguous array of ``shape`` and ``dtype``
    whose data starts at a multiple of ``alignment`` bytes (at most a page)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes >= MMAP_MIN_BYTES and hasattr(mmap, "MAP_PRIVATE"):
        memory = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        array = np.frombuffer(memory, dtype=dtype).reshape(shape)
        advise_huge_pages(array.ctypes.data, nbytes)
        return array
    raw = np.empty(nbytes + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes].view(dtype).reshape(shape)
