"""The per-counter element functions (_kernels.counter_values), which the GPU
kernels run one counter per thread, against the CPU's blocked kernels: the
same element arithmetic, so the same bits, tails and slow paths included."""

import numba
import numpy as np
import pytest

from fastinit import _formats, _kernels
from fastinit.bits import _key_words
from tests.stream_cases import CASES, DTYPES, fill, plan


@numba.njit
def per_counter_fill(out, params, fmt, like, k0, k1, c2, c3, offset):
    """out[i] = stream element offset + i, one counter at a time in the
    blocked layout (docs/stream-format.md), by counter_values alone."""
    n = out.size
    per_counter = _kernels._per_counter(like)
    per_block = per_counter * _kernels.LANES
    first = offset // per_block
    head = offset - first * per_block
    blocks = (head + n + per_block - 1) // per_block
    for g in range(blocks * _kernels.LANES):
        values = _kernels.counter_values(params, like, fmt, np.uint64(first * _kernels.LANES + g), k0, k1, c2, c3)
        base = (g // _kernels.LANES) * per_block + g % _kernels.LANES - head
        for j in range(per_counter):
            place = base + j * _kernels.LANES
            if 0 <= place < n:
                out[place] = values[j]


def per_counter(dtype, distribution, arguments, seed, offset, n):
    params, fmt, distribution_id = plan(distribution, arguments, dtype)
    compute = _formats.compute_dtype(dtype)
    out = np.empty(n, _formats.kernel_dtype(dtype))
    k0, k1 = _key_words(seed)
    per_counter_fill(out, params, fmt, compute.type(0), np.uint64(k0), np.uint64(k1), np.uint64(distribution_id),
                     np.uint64(8 * compute.itemsize), offset)
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("label, distribution, arguments", CASES, ids=[c[0] for c in CASES])
def test_counter_values_equal_the_blocked_kernels(dtype, label, distribution, arguments):
    n, offset, seed = 100_003, 12_345, 7  # starts and ends inside blocks
    expected = fill(np.empty(n, dtype), distribution, arguments, seed, offset)
    got = per_counter(dtype, distribution, arguments, seed, offset, n)
    stored = _formats.kernel_dtype(dtype)
    np.testing.assert_array_equal(got, expected.view(stored))


def test_the_cases_reach_the_slow_paths():
    """The float64 normal case's elements take the ziggurat's slow path, in
    wedges and in the tail, and the truncated cases cover every regime: so
    the test above compares those paths too."""
    from fastinit import _ziggurat
    from fastinit.bits import NORMAL_ID
    k0, k1 = (np.uint64(k) for k in _key_words(7))
    first, last = 12_345 // 256, (12_345 + 100_003) // 256 + 1  # the float64 blocks of the fill
    wedges = tails = 0
    for c in range(first * _kernels.LANES, last * _kernels.LANES):
        w = _kernels.philox4x32_10(np.uint64(c), np.uint64(0), np.uint64(NORMAL_ID), np.uint64(64), k0, k1)
        for d in (np.uint64(_ziggurat.draw(w[0], w[1])), np.uint64(_ziggurat.draw(w[2], w[3]))):
            if _ziggurat.fast_path(d)[1]:
                tails += int(d & np.uint64(_ziggurat.LAYERS - 1) == 0)
                wedges += int(d & np.uint64(_ziggurat.LAYERS - 1) != 0)
    assert wedges > 100 and tails > 0
    regimes = {plan("truncated_normal", c[2], dtype)[0].regime
               for c in CASES if c[1] == "truncated_normal" for dtype in (np.float32, np.float64)}
    assert regimes == {_kernels.TAILS_ONLY, _kernels.MIXED, _kernels.RATIONAL_ONLY, _kernels.CENTRAL_ONLY}
