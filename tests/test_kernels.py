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


# The float32 uniform's vector block (uniform_block_f32, and its streaming
# twin) computes _uniform_f32 in LLVM vector code from the words in
# registers: a second writing of the element arithmetic, checked here against
# NumPy's float32 operations (each one IEEE-rounded, none fused) on the
# reference Philox words.
UNIFORM_BLOCK_PARAMS = [
    (0.0, 1.0, float(np.nextafter(np.float32(1), np.float32(0)))),
    (1.0, 0.5, float(np.nextafter(np.float32(1.5), np.float32(0)))),  # low + span * u rounds up to high
    (-2.0, 4.0, float(np.nextafter(np.float32(2), np.float32(0)))),
    (-3e38, float("inf"), 3e38),  # the span overflows: inf * u, NaN where u is 0, then top
    (0.0, 1e-45, 1e-45),  # a subnormal span
    (-0.125, 0.25, -0.0625),  # top below high: many values clamped
]


@pytest.fixture(scope="module")
def uniform_blocks():
    @numba.njit
    def ordinary(dst, start, first, c2, c3, k0, k1, low, span, top):
        _kernels.uniform_block_f32(dst, start, first, 256, c2, c3, k0, k1, low, span, top)

    @numba.njit
    def streamed(dst, start, first, c2, c3, k0, k1, low, span, top):
        _kernels.uniform_block_f32_streamed(dst, start, first, 256, c2, c3, k0, k1, low, span, top, 0,
                                            np.zeros(32, np.float32))
        _kernels.store_fence()

    @numba.njit
    def streamed_blocks(dst, start, first, c2, c3, k0, k1, low, span, top, lead, carry, blocks):
        for b in range(blocks):
            _kernels.uniform_block_f32_streamed(dst, start + 1024 * b, first + np.uint64(256 * b), 256, c2, c3, k0,
                                                k1, low, span, top, lead, carry)
        _kernels.store_fence()
    return {"ordinary": ordinary, "streamed": streamed, "streamed blocks": streamed_blocks}


def _uniform_words_formula(first, n_counters, c2, c3, key, low32, span32, top32):
    """The float32 uniform of counters first .. first + n_counters - 1 in the
    blocked layout (256 counters per block), by NumPy from the reference words."""
    from tests import reference
    out = []
    for b in range(n_counters // 256):
        base = first + 256 * b
        counters = np.array([[(base + u) & 0xFFFFFFFF, (base + u) >> 32, c2, c3] for u in range(256)], np.uint32)
        words = reference.philox4x32_10(counters, key).astype(np.uint32).T.reshape(-1)
        with np.errstate(invalid="ignore", over="ignore"):
            v = low32 + span32 * ((words >> 8).astype(np.int32).astype(np.float32) * np.float32(2.0**-24))
            out.append(np.where(v < top32, v, top32).astype(np.float32))
    return np.concatenate(out)


@pytest.mark.parametrize("stores", ["ordinary", "streamed"])
@pytest.mark.parametrize("low, span, top", UNIFORM_BLOCK_PARAMS)
@pytest.mark.parametrize("first", [0, 2**32 - 100])
def test_vector_uniform_block_equals_the_element_formula(uniform_blocks, stores, low, span, top, first):
    import fastinit
    from tests import reference
    key = np.array([0xA4093822, 0x299F31D0], np.uint32)
    room = fastinit.zeros((1024 + 64,), dtype=np.float32)  # on a 64-byte boundary
    start = 16
    low32, span32, top32 = np.float32(low), np.float32(span), np.float32(top)
    with np.errstate(invalid="ignore", over="ignore"):
        uniform_blocks[stores](room, start, np.uint64(first), np.uint64(7), np.uint64(32), np.uint64(key[0]),
                               np.uint64(key[1]), low32, span32, top32)
        counters = np.array([[(first + u) & 0xFFFFFFFF, (first + u) >> 32, 7, 32] for u in range(256)], np.uint32)
        words = reference.philox4x32_10(counters, key).astype(np.uint32).T.reshape(-1)  # word j of counter u at 256 j + u
        unit = (words >> 8).astype(np.int32).astype(np.float32) * np.float32(2.0**-24)
        v = low32 + span32 * unit
        expected = np.where(v < top32, v, top32)
    got = room[start:start + 1024]
    assert got.view(np.uint32).tolist() == expected.astype(np.float32).view(np.uint32).tolist()
    assert not room[:start].any() and not room[start + 1024:].any()
    assert (got <= top32).all() and (got >= min(low32, top32)).all()


UNIFORM_BLOCK_PARAMS_F64 = [
    (0.0, 1.0, float(np.nextafter(1.0, 0.0))),
    (1.0, 0.5, float(np.nextafter(1.5, 0.0))),  # low + span * u rounds up to high
    (-1.5e308, float("inf"), 1.5e308),  # the span overflows: inf * u, NaN where u is 0, then top
    (0.0, 5e-324, 5e-324),  # a subnormal span
    (-0.125, 0.25, -0.0625),  # top below high: many values clamped
]


@pytest.mark.parametrize("low, span, top", UNIFORM_BLOCK_PARAMS_F64)
@pytest.mark.parametrize("first", [0, 2**32 - 100])
def test_vector_uniform_block_f64_equals_the_element_formula(low, span, top, first):
    """uniform_block_f64: _uniform_f64 in LLVM vector code, against NumPy's
    float64 operations on the reference words (element j of counter u from
    its words 2j, 2j + 1 at 256 j + u)."""
    from tests import reference

    @numba.njit
    def block(dst, start, first, c2, c3, k0, k1, low, span, top):
        _kernels.uniform_block_f64(dst, start, first, 256, c2, c3, k0, k1, low, span, top)

    key = np.array([0xA4093822, 0x299F31D0], np.uint32)
    room = np.zeros(512 + 24)
    start = 9
    with np.errstate(invalid="ignore", over="ignore"):
        block(room, start, np.uint64(first), np.uint64(7), np.uint64(64), np.uint64(key[0]), np.uint64(key[1]),
              low, span, top)
        counters = np.array([[(first + u) & 0xFFFFFFFF, (first + u) >> 32, 7, 64] for u in range(256)], np.uint32)
        words = reference.philox4x32_10(counters, key).astype(np.uint64).T  # words[j][u]
        bits = np.concatenate([(words[1] << np.uint64(32) | words[0]) >> np.uint64(11),
                               (words[3] << np.uint64(32) | words[2]) >> np.uint64(11)])
        v = low + span * (bits.astype(np.float64) * 2.0**-53)
        expected = np.where(v < top, v, top)
    got = room[start:start + 512]
    assert got.view(np.uint64).tolist() == expected.view(np.uint64).tolist()
    assert not room[:start].any() and not room[start + 512:].any()
    assert (got <= top).all() and (got >= min(low, top)).all()


@pytest.mark.parametrize("lead", [0, 1, 5, 15])
@pytest.mark.parametrize("low, span, top", UNIFORM_BLOCK_PARAMS[:2])
def test_streamed_uniform_blocks_off_a_line_carry_its_ends(uniform_blocks, lead, low, span, top):
    """dst[start + lead] on a 64-byte boundary: three blocks write every whole
    line from there, the first line the last block's end (left in carry) and
    the block's first ``lead`` elements, and leave their own last 16 - lead
    elements in carry[lead:16]."""
    import fastinit
    key = np.array([0x1234567, 0x89ABCDEF], np.uint32)
    low32, span32, top32 = np.float32(low), np.float32(span), np.float32(top)
    room = fastinit.zeros((4096 + 64,), dtype=np.float32)
    start = 32 - lead
    carry = np.zeros(32, np.float32)
    before = np.arange(1, 17, dtype=np.float32) * np.float32(-1000)  # the last block's end, as carried
    carry[lead:16] = before[lead:]
    first = 2**32 - 300
    with np.errstate(invalid="ignore", over="ignore"):
        uniform_blocks["streamed blocks"](room, start, np.uint64(first), np.uint64(7), np.uint64(32),
                                          np.uint64(key[0]), np.uint64(key[1]), low32, span32, top32, lead, carry, 3)
    expected = _uniform_words_formula(first, 768, 7, 32, key, low32, span32, top32)
    held = 16 - lead if lead else 0
    written = room[start - held:start + 3072 - held]
    assert written[:held].view(np.uint32).tolist() == before[lead:].view(np.uint32).tolist()[:held]
    assert written[held:].view(np.uint32).tolist() == expected[:3072 - held].view(np.uint32).tolist()
    assert not room[:start - held].any() and not room[start + 3072 - held:].any()
    if lead:
        assert carry[lead:16].view(np.uint32).tolist() == expected[3072 - held:].view(np.uint32).tolist()
