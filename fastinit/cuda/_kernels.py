"""The GPU fill kernels: one CUDA thread per Philox counter.

A CUDA block of ``LANES`` threads computes one block of the stream
(docs/stream-format.md): thread ``t`` of block ``b`` takes counter
``b * LANES + t`` and writes its ``E`` values to elements
``b * E * LANES + j * LANES + t``, so for each ``j`` the block's threads store
one contiguous run (coalesced). A region's rows (runs of the stream at equal
steps) are one launch, a row per block index along y. The values come from
``fastinit._kernels.counter_values``, the CPU kernels' element arithmetic per
counter, compiled here for the GPU from the same source; every element is
resolved by its own thread (the truncated normal's tails, the ziggurat's slow
paths), since its value depends on its index alone.
"""

import functools
from collections import namedtuple

import numpy as np
from numba import cuda

from .. import _kernels
from . import _compile

_compile.install()

#: Without link-time optimization (see _compile): ``cuda.jit(f, lto=False)``
#: (numba-cuda 0.30's ``cuda.jit(lto=False)(f)`` drops the option). Numba's
#: CUDA simulator, which runs the kernels' Python source, takes no such option.
jit = cuda.jit if _compile.simulated() else functools.partial(cuda.jit, lto=False)

LANES = _kernels.LANES
_U64 = np.uint64
_I64 = np.int64

#: The format argument of float32 and float64 outputs (the CPU kernels take
#: None, which a CUDA kernel cannot): values stored as computed.
Native = namedtuple("Native", ["unused"])
NATIVE = Native(0)


@jit
def fill_counters(out, params, fmt, like, k0, k1, c2, c3, first, row_step, per_block, n):
    """out[r, i] = the stream's element ``first + r * row_step + i`` for
    i < n: launched with LANES threads per block, blocks along x covering a
    row's blocks of the stream, one row per block index along y (one row for
    a contiguous run; the rows of a region otherwise, one launch for all of
    them). ``per_block`` = E * LANES; ``like`` is a scalar of the stream's
    dtype (float32 for 16-bit outputs, whose ``out`` holds their bits as
    uint16)."""
    row = _I64(cuda.blockIdx.y)
    row_first = first + _U64(row) * row_step
    head = _I64(row_first % _U64(per_block))
    block = _I64(cuda.blockIdx.x)
    t = _I64(cuda.threadIdx.x)
    counter = (row_first // _U64(per_block)) * _U64(LANES) + _U64(block * LANES + t)
    values = _kernels.counter_values(params, like, fmt, counter, k0, k1, c2, c3)
    base = block * per_block + t - head
    for j in range(len(values)):
        place = base + j * LANES
        if place >= 0 and place < n:
            out[row, place] = values[j]


@jit
def fill_value(out, value, n):
    """out[i] = value for i < n (any grid covering n threads)."""
    i = cuda.grid(1)
    if i < n:
        out[i] = value
