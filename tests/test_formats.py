"""float16 and bfloat16 outputs: the float32 stream rounded to nearest even."""

import ml_dtypes
import numba
import numpy as np
import pytest
import scipy.stats as ss

import fastinit
from fastinit import _elementary as E
from fastinit import _formats

BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
LOW_PRECISION = [F16, BF16]


@numba.njit(error_model="numpy")
def _encode(x, f16, bf16):
    for i in range(x.size):
        f16[i] = E.f32_to_f16_bits(x[i])
        bf16[i] = E.f32_to_bf16_bits(x[i])


def test_encoders_round_to_nearest_even_like_numpy_and_ml_dtypes():
    rng = np.random.default_rng(16)
    bits = np.concatenate([
        rng.integers(0, 2**31, 2**21, dtype=np.uint64),
        np.arange(0, 2**31, 2**13 - 1, dtype=np.uint64),                          # every exponent
        (np.arange(2**17, dtype=np.uint64) << np.uint64(13)) | np.uint64(0x1000),   # float16 ties
        (np.arange(2**15, dtype=np.uint64) << np.uint64(16)) | np.uint64(0x8000),   # bfloat16 ties
    ]).astype(np.uint32)
    x = np.concatenate([bits, bits | np.uint32(0x80000000)]).view(np.float32)
    x = x[np.isfinite(x)]
    f16, bf16 = np.empty(x.size, np.uint16), np.empty(x.size, np.uint16)
    _encode(x, f16, bf16)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(f16, x.astype(F16).view(np.uint16))
        np.testing.assert_array_equal(bf16, x.astype(BF16).view(np.uint16))


def every_value(dtype):
    """All finite values of a 16-bit dtype, sorted, as float64."""
    patterns = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    finite = np.isfinite(patterns.view(dtype).astype(np.float32))
    return np.unique(patterns[finite].view(dtype).astype(np.float64))


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_bounds_helpers_against_every_representable_value(dtype):
    every = every_value(dtype)
    rng = np.random.default_rng(3)
    xs = np.concatenate([[0.1, -0.1, 1.0, 1.0 + 1e-9, 3.0, -2.5, 1e-6, 0.0, 65504.0, -1e-30],
                         rng.normal(0, 10, 200), rng.choice(every, 50)])
    for x in xs:
        assert _formats.smallest_at_least(x, dtype) == every[every >= x].min()
        assert _formats.largest_at_most(x, dtype) == every[every <= x].max()
        assert _formats.largest_below(x, dtype) == every[every < x].max()
    assert _formats.max_finite(dtype) == every.max()


FILLS = {
    "uniform": lambda out, **kw: fastinit.fill_uniform(out, -0.5, 2.0, **kw),
    "normal": lambda out, **kw: fastinit.fill_normal(out, 0.25, 3.0, **kw),
    "truncated_normal": lambda out, **kw: fastinit.fill_truncated_normal(out, 0.1, 1.5, -2.0, 3.4, **kw),
}
# The interval each fill's values must stay in: [-0.5, 2.0), none, [-2.0, 3.4].
INTERVALS = {
    "uniform": lambda every: (every[every >= -0.5].min(), every[every < 2.0].max()),
    "normal": lambda every: (every.min(), every.max()),
    "truncated_normal": lambda every: (every[every >= -2.0].min(), every[every <= 3.4].max()),
}


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("name", FILLS)
def test_low_precision_is_the_float32_stream_rounded_then_clamped(dtype, name):
    for offset, n in [(0, 1), (511, 3), (2**34 - 700, 1500), (123, 100_003)]:
        got = FILLS[name](np.empty(n, dtype), seed=5, offset=offset)
        rounded = FILLS[name](np.empty(n, np.float32), seed=5, offset=offset).astype(dtype)
        low, high = INTERVALS[name](every_value(dtype))
        expected = np.clip(rounded.astype(np.float64), low, high).astype(dtype)  # exact: bounds representable
        np.testing.assert_array_equal(got.view(np.uint16), expected.view(np.uint16))


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_low_precision_threads_shards_and_views(dtype):
    numba.set_num_threads(1)
    try:
        one = fastinit.fill_normal(np.empty(100_001, dtype), seed=9)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    two = fastinit.fill_normal(np.empty(100_001, dtype), seed=9)
    np.testing.assert_array_equal(one.view(np.uint16), two.view(np.uint16))
    shards = [fastinit.fill_normal(np.empty(b - a, dtype), seed=9, offset=a)
              for a, b in [(0, 7), (7, 50_000), (50_000, 100_001)]]
    np.testing.assert_array_equal(np.concatenate(shards).view(np.uint16), two.view(np.uint16))
    view = np.zeros((100, 1001), dtype)[:, ::2]  # 50100 elements, strided
    fastinit.fill_normal(view, seed=9)
    np.testing.assert_array_equal(view.ravel().view(np.uint16), two[: view.size].view(np.uint16))


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("low, high", [(1.0, 1.5), (0.0, 1.0), (-1.0, 1.0), (0.1, 0.3)])
def test_low_precision_uniform_stays_in_the_interval(dtype, low, high):
    x = fastinit.fill_uniform(np.empty(2**20, dtype), low, high, seed=1).astype(np.float64)
    assert x.min() >= low and x.max() < high
    assert x.max() == _formats.largest_below(high, dtype)


@pytest.mark.parametrize("dtype", LOW_PRECISION)
@pytest.mark.parametrize("a, b", [(-2.0, 2.0), (0.1, 0.3), (5.0, 6.0), (-0.7000001, -0.7 + 1e-3)])
def test_low_precision_truncated_bounds(dtype, a, b):
    x = fastinit.fill_truncated_normal(np.empty(2**18, dtype), 0.0, 1.0, a, b, seed=1).astype(np.float64)
    assert x.min() >= a and x.max() <= b


@pytest.mark.parametrize("dtype, distinct", [(F16, 10_000), (BF16, 2_000)])
def test_low_precision_normal_is_well_spread(dtype, distinct):
    # Sampled in float32 and rounded: thousands of distinct values and real
    # tails, not the 128 values of a 7-bit uniform.
    n = 2**22
    x = fastinit.fill_normal(np.empty(n, dtype), seed=12)
    assert len(np.unique(x)) > distinct
    wide = np.abs(x.astype(np.float64))
    for k in (3.0, 4.0):
        p = 2 * ss.norm.sf(k)
        count = np.count_nonzero(wide > k)
        assert abs(count - n * p) < 5 * np.sqrt(n * p), (k, count, n * p)
    assert wide.max() > 4.5
    # the rounding changes the variance by far less than a float32 ulp would matter
    assert abs(x.astype(np.float64).var() - 1.0) < 5 * np.sqrt(2 / n) + 2e-4


def test_low_precision_constant_and_validation():
    for dtype in LOW_PRECISION:
        c = fastinit.fill_constant(np.empty(20_000, dtype), 0.1)
        assert np.all(c.view(np.uint16) == np.array(0.1, np.float32).astype(dtype).view(np.uint16))
        small = fastinit.fill_constant(np.empty((3, 4), dtype)[:, ::2], -2.5)
        assert np.all(small.astype(np.float64) == -2.5)
    with pytest.raises(ValueError, match="value"):
        fastinit.fill_constant(np.empty(4, F16), 1e5)
    with pytest.raises(ValueError, match="float16 range"):
        fastinit.fill_normal(np.empty(4, F16), 0.0, 1e4, seed=0)
    with pytest.raises(ValueError, match="no bfloat16 value"):
        fastinit.fill_uniform(np.empty(4, BF16), 1.001, 1.002, seed=0)
    with pytest.raises(ValueError, match="no float16 value"):
        fastinit.fill_truncated_normal(np.empty(4, F16), 0.0, 1.0, 1.0001, 1.0002, seed=0)
    out = np.full(8, 3.0, BF16)
    with pytest.raises(ValueError):
        fastinit.fill_uniform(out, 1.001, 1.002, seed=0)
    assert np.all(out.astype(np.float32) == 3.0)
