"""Statistical tests of the distributions, with fixed seeds.

Each assertion has a false-alarm probability of about 1e-5 or less (KS and
chi-square p-values > 1e-5, |z| < 5). The generator is deterministic: a
failure here is a real change in the output, never bad luck to re-roll.
"""

import numpy as np
import pytest
import scipy.special
import scipy.stats as ss

import fastinit

N = 2**20
ALPHA = 1e-5
Z_MAX = 5.0
DTYPES = [np.float32, np.float64]


def assert_moments(sample, mean, var, kurtosis):
    """z-tests of the sample mean and variance (KS misses a 1% scale error; these do not)."""
    x = sample.astype(np.float64)
    n = x.size
    z_mean = (x.mean() - mean) / np.sqrt(var / n)
    z_var = (x.var() - var) / (var * np.sqrt((kurtosis - 1) / n))
    assert abs(z_mean) < Z_MAX, f"mean z-score {z_mean:.2f}"
    assert abs(z_var) < Z_MAX, f"variance z-score {z_var:.2f}"


def assert_chi_square(sample, ppf, bins=1000):
    """Equal-probability bins from the exact quantile function."""
    edges = ppf(np.linspace(0, 1, bins + 1)[1:-1])
    counts = np.bincount(np.searchsorted(edges, sample.astype(np.float64), side="right"), minlength=bins)
    p = ss.chisquare(counts).pvalue
    assert p > ALPHA, f"chi-square p = {p:.3g}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-0.05, 0.05), (3.0, 1000.0)])
def test_uniform(dtype, low, high):
    x = fastinit.fill_uniform(np.empty(N, dtype), low, high, seed=2026)
    dist = ss.uniform(low, high - low)
    assert ss.kstest(x.astype(np.float64), dist.cdf).pvalue > ALPHA
    assert_moments(x, dist.mean(), dist.var(), 1.8)
    assert_chi_square(x, dist.ppf)
    wide = x.astype(np.float64)
    assert wide.min() >= np.float32(low) if dtype == np.float32 else wide.min() >= low
    assert wide.max() < high


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (0.5, 0.02), (-3.0, 7.0)])
def test_normal(dtype, mean, std):
    x = fastinit.fill_normal(np.empty(N, dtype), mean, std, seed=2027)
    dist = ss.norm(mean, std)
    assert ss.kstest(x.astype(np.float64), dist.cdf).pvalue > ALPHA
    assert_moments(x, mean, std**2, 3.0)
    assert_chi_square(x, dist.ppf)


def test_moment_tests_detect_a_half_percent_scale_error():
    # The negative control for assert_moments: at this N the KS test passes a
    # 0.5% error in std (its statistic is about half the critical value), the
    # variance z-test (z about 7) must not.
    x = fastinit.fill_normal(np.empty(N, np.float64), 0.0, 1.005, seed=2027)
    assert ss.kstest(x, ss.norm().cdf).pvalue > ALPHA
    with pytest.raises(AssertionError, match="variance"):
        assert_moments(x, 0.0, 1.0, 3.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_normal_tail_counts(dtype):
    # Counts beyond 3, 4, 5 sigma (both sides) against the binomial expectation, N = 2**24.
    n = 2**24
    x = np.abs(fastinit.fill_normal(np.empty(n, dtype), seed=2028).astype(np.float64))
    for k in (3.0, 4.0, 5.0):
        p = 2 * ss.norm.sf(k)
        count = np.count_nonzero(x > k)
        z = (count - n * p) / np.sqrt(n * p * (1 - p))
        assert abs(z) < Z_MAX, f"{count} values beyond {k} sigma, expected {n * p:.1f}"
    assert x.max() < (6.77 if dtype == np.float32 else 8.58)


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_correlation_between_neighbours_in_the_layout(dtype):
    # Lags 1, 128 (LANES), 256 and 512 (block sizes) are where a layout bug
    # would repeat or correlate values.
    x = fastinit.fill_uniform(np.empty(N, dtype), seed=2029).astype(np.float64) - 0.5
    for lag in (1, 2, 3, 4, 127, 128, 129, 256, 512, 1024):
        r = np.corrcoef(x[:-lag], x[lag:])[0, 1]
        assert abs(r) * np.sqrt(N - lag) < Z_MAX, f"lag {lag}: r = {r:.2e}"
    z = fastinit.fill_normal(np.empty(N, dtype), seed=2029).astype(np.float64)
    # Box-Muller pairs sit side by side in slot pairs: they must be uncorrelated too
    for lag in (1, 128, 256):
        r = np.corrcoef(z[:-lag], z[lag:])[0, 1]
        assert abs(r) * np.sqrt(N - lag) < Z_MAX, f"normal lag {lag}: r = {r:.2e}"
    r2 = np.corrcoef(z[:-128] ** 2, z[128:] ** 2)[0, 1]  # shared radius would correlate squares
    assert abs(r2) * np.sqrt(N) < Z_MAX


def expected_distinct(a, b, n):
    """Expected number of distinct float32 values in n draws from the standard
    normal truncated to [a, b] (a >= 0 or b <= 0): each float32 v in [a, b] is
    drawn with the probability of the cell that rounds to it."""
    lo, hi = sorted((abs(a), abs(b)))  # by symmetry, work on the positive side
    start = np.float32(lo) if np.float32(lo) >= lo else np.nextafter(np.float32(lo), np.float32(np.inf))
    stop = np.float32(hi) if np.float32(hi) <= hi else np.nextafter(np.float32(hi), np.float32(0))
    first, last = np.array([start, stop], np.float32).view(np.int32)
    values = np.arange(first, last + 1, dtype=np.int32).view(np.float32).astype(np.float64)
    edges = np.concatenate([[values[0]], (values[1:] + values[:-1]) / 2, [values[-1]]])
    tail = scipy.special.ndtr(-edges)  # upper-tail probabilities keep their precision
    p = -np.diff(tail) / (tail[0] - tail[-1])
    return np.sum(-np.expm1(n * np.log1p(-p))), values.size


TRUNCATIONS = [(-2.0, 2.0), (0.0, 1.0), (2.0, 3.0), (3.0, 5.0), (5.0, 6.0), (-1.0, 3.0),
               (-3.0, -2.5), (-6.0, -5.0), (-40.0, 0.3), (7.0, 9.0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a, b", TRUNCATIONS)
def test_truncated_normal(dtype, a, b):
    mean, std = 0.0, 1.0
    x = fastinit.fill_truncated_normal(np.empty(N, dtype), mean, std, a, b, seed=2030)
    wide = x.astype(np.float64)
    assert np.all((wide >= a) & (wide <= b))
    dist = ss.truncnorm(a, b)
    assert ss.kstest(wide, dist.cdf).pvalue > ALPHA
    m, v, _, excess = dist.stats(moments="mvsk")
    assert_moments(x, float(m), float(v), float(excess) + 3)
    assert_chi_square(x, dist.ppf, bins=256)


@pytest.mark.parametrize("a, b", [(5.0, 6.0), (2.0, 3.0), (-6.0, -5.0), (7.0, 9.0)])
def test_truncated_normal_distinct_values_in_float32(a, b):
    # JAX's float32 inverse-CDF sampler returns 10 distinct values on [5, 6];
    # here the count must match what exact sampling then rounding to float32 gives.
    x = fastinit.fill_truncated_normal(np.empty(N, np.float32), 0.0, 1.0, a, b, seed=2031)
    expected, cells = expected_distinct(a, b, N)
    observed = len(np.unique(x))
    assert abs(observed - expected) < Z_MAX * np.sqrt(expected), (observed, expected, cells)


def test_truncated_normal_with_shift_and_scale():
    # torch semantics: a and b are absolute bounds, here 1.5 std below and 2 std above the mean
    x = fastinit.fill_truncated_normal(np.empty(N), 10.0, 4.0, 4.0, 18.0, seed=2032)
    dist = ss.truncnorm(-1.5, 2.0, loc=10.0, scale=4.0)
    assert ss.kstest(x, dist.cdf).pvalue > ALPHA
    m, v, _, excess = dist.stats(moments="mvsk")
    assert_moments(x, float(m), float(v), float(excess) + 3)
    assert x.std() == pytest.approx(float(np.sqrt(v)), rel=0.01)


def test_truncated_standard_deviation_constant():
    # The constant the schemes layer divides by (Keras/JAX truncated_normal).
    x = fastinit.fill_truncated_normal(np.empty(N), seed=2033)
    assert x.std() == pytest.approx(0.87962566103423978, abs=Z_MAX * 0.88 / np.sqrt(2 * N) * 1.2)
