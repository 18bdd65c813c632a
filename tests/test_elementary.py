"""Accuracy of the vectorizable log, sin/cos (float32 Box-Muller) and inverse normal CDF."""

import numba
import numpy as np
import pytest
import scipy.special

from fastinit import _elementary as E

PI_LD = np.longdouble("3.14159265358979323846264338327950288")


@numba.njit(error_model="numpy")
def _log32(x, out):
    for i in range(x.size):
        out[i] = E.log_f32(x[i])


@numba.njit(error_model="numpy")
def _log64(x, out):
    for i in range(x.size):
        out[i] = E.log_f64(x[i])


@numba.njit(error_model="numpy")
def _sincos32(k, s, c):
    for i in range(k.size):
        s[i], c[i] = E.sincos_turns_f32(k[i])


def ulp_error(got, exact, dtype):
    """|got - exact| in units of the spacing of dtype at |exact|."""
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.longdouble)
    return np.abs(got.astype(np.longdouble) - exact) / spacing


def test_log_f32_accuracy():
    rng = np.random.default_rng(1)
    x = np.concatenate([
        rng.integers(1, 2**32, 2**20).astype(np.float32) * np.float32(2.0**-32),
        np.float32([2.0**-33, 0.5, 0.70710677, 0.70710683, 1.4142135, 2.0, 2.0**-126, 3.0e38]),
    ]).astype(np.float32)
    got = np.empty_like(x)
    _log32(x, got)
    exact = np.log(x.astype(np.longdouble))
    assert np.max(ulp_error(got, exact, np.float32)) <= 2.0
    assert _log_one(np.float32) == 0.0


def _log_one(dtype):
    out = np.empty(1, dtype)
    (_log32 if dtype == np.float32 else _log64)(np.ones(1, dtype), out)
    return out[0]


def test_log_f64_accuracy():
    rng = np.random.default_rng(2)
    x = np.concatenate([
        rng.random(2**19), 10.0 ** rng.uniform(-307, 307, 2**19),
        [2.2250738585072014e-308, 1.7976931348623157e308, 0.7071067811865476, 1.4142135623730951, 2.0**-53],
    ])
    got = np.empty_like(x)
    _log64(x, got)
    exact = np.log(x.astype(np.longdouble))
    assert np.max(ulp_error(got, exact, np.float64)) <= 2.0
    assert _log_one(np.float64) == 0.0


def _sincos_errors(bits, k):
    dtype = np.float32
    s = np.empty(k.size, dtype)
    c = np.empty(k.size, dtype)
    _sincos32(k, s, c)
    angle = 2 * PI_LD * k.astype(np.longdouble) / np.longdouble(2.0**bits)
    errors = []
    for got, exact in ((s, np.sin(angle)), (c, np.cos(angle))):
        big = np.abs(exact) > 1e-3
        # relative (ulp) error away from zeros, absolute error near them
        errors.append((np.max(ulp_error(got[big], exact[big], dtype)),
                       np.max(np.abs(got - exact)) / np.longdouble(np.finfo(dtype).eps)))
    return errors, s, c


def test_sincos_accuracy():
    bits = 24
    rng = np.random.default_rng(bits)
    dtype = np.uint64
    k = np.concatenate([
        rng.integers(0, 2**bits, 2**20, dtype=np.uint64),
        np.arange(0, 2**bits, 2 ** (bits - 5), dtype=np.uint64),  # multiples of pi/16
        np.arange(64, dtype=np.uint64), 2**bits - 1 - np.arange(64, dtype=np.uint64),
    ]).astype(dtype)
    errors, s, c = _sincos_errors(bits, k)
    for ulps, absolute in errors:
        assert ulps <= 2.5
        assert absolute <= 1.5
    # exact values at the quadrant points
    quarter = np.array([0, 1, 2, 3], dtype=np.uint64) * np.uint64(2 ** (bits - 2))
    _, s, c = _sincos_errors(bits, quarter)
    assert s.tolist() == [0.0, 1.0, 0.0, -1.0]
    assert c.tolist() == [1.0, 0.0, -1.0, 0.0]


def test_ndtri_against_scipy():
    rng = np.random.default_rng(3)
    p = np.concatenate([
        10.0 ** -np.linspace(0.302, 300, 2**17),   # lower tail down to 1e-300
        rng.random(2**17) * 0.5 + 1e-17,
        [0.5, 0.075, 0.0749999, 0.0750001, 1.3887943864964021e-11, 0.025, 0.975, 1 - 1e-16],
        1 - rng.random(2**12) * 0.5,               # upper half via symmetry
    ])
    got = np.empty_like(p)
    E.ndtri_array(p, got)
    exact = scipy.special.ndtri(p)
    nonzero = exact != 0
    assert np.max(np.abs(got[nonzero] - exact[nonzero]) / np.abs(exact[nonzero])) <= 2e-15
    assert np.all(got[~nonzero] == 0)
    assert np.all(np.diff(got[: 2**17]) < 0)  # monotone along the decreasing grid


def _mantissa_hash(coefficients):
    """Wichura's transcription check: the sum of the coefficients' mantissas
    (each written as m * 10**e with 1 <= m < 10)."""
    total = 0.0
    for c in coefficients:
        if c == 1.0:
            continue  # the leading 1 of each denominator is not a published coefficient
        exponent = np.floor(np.log10(abs(c)))
        total += abs(c) / 10.0**exponent
    return total


@pytest.mark.parametrize("numerator, denominator, published", [
    (E.AS241_A, E.AS241_B, 55.8831928806149014439),
    (E.AS241_C, E.AS241_D, 49.33206503301610289036),
    (E.AS241_E, E.AS241_F, 47.52583317549289671629),
])
def test_as241_coefficients_match_published_hash_sums(numerator, denominator, published):
    assert _mantissa_hash(numerator + denominator) == pytest.approx(published, rel=1e-14)


@numba.njit(error_model="numpy")
def _central32(q, out):
    for i in range(q.size):
        out[i] = E.ndtri_central_f32(q[i])


def _central_samples():
    rng = np.random.default_rng(7)
    limit = E.CENTRAL_LIMIT_F32
    edge = np.nextafter(limit, np.float32(0)) - np.arange(2**16, dtype=np.float32) * np.spacing(limit)
    return np.concatenate([
        rng.uniform(-limit, limit, 4 * 10**6).astype(np.float32),
        np.linspace(0.47, limit, 10**6, dtype=np.float32),             # the steep end
        edge, -edge, [limit, -limit],
        (10.0 ** -np.linspace(1, 37, 2**12)).astype(np.float32),       # down to tiny q
        np.float32(0.0)[None],
    ]).astype(np.float32)


def test_central_quantile_f32_within_8_ulp():
    q = _central_samples()
    got = np.empty_like(q)
    _central32(q, got)
    wide = q.astype(np.float64)
    # 0.5 + q is exact in float64 down to |q| = 2**-29; below, the Taylor series
    # sqrt(2 pi) q (1 + pi q**2 / 3) is exact to float64 rounding
    exact = np.where(np.abs(wide) > 1e-5, scipy.special.ndtri(0.5 + wide),
                     np.sqrt(2 * np.pi) * wide * (1 + np.pi * wide**2 / 3))
    ulps = np.abs(got - exact) / np.spacing(np.abs(exact).astype(np.float32))
    assert np.max(ulps[q != 0]) <= 8
    assert np.mean(ulps[q != 0]) <= 1.5
    assert got[q == 0].tolist() == [0.0]


def test_central_quantile_f32_is_odd():
    q = _central_samples()
    got, mirrored = np.empty_like(q), np.empty_like(q)
    _central32(q, got)
    _central32(-q, mirrored)
    np.testing.assert_array_equal(mirrored, -got)


def _docs_script(name):
    """A script of docs/ (the fits of the format's constants), as a module."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).parent.parent / "docs" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_central_coefficients_are_the_documented_fit():
    fit = _docs_script("truncated_central_fit")
    num, den, err = fit.fit()
    assert err < 1e-7
    assert fit.CENTRAL_LIMIT == float(E.CENTRAL_LIMIT_F32) or np.float32(fit.CENTRAL_LIMIT) == E.CENTRAL_LIMIT_F32
    # the committed float32 values, up to float32 rounding of another LAPACK's fit
    np.testing.assert_allclose(num[::-1], np.array(E._CENTRAL_NUM_F32), rtol=1e-6)
    np.testing.assert_allclose(den[::-1], np.array(E._CENTRAL_DEN_F32), rtol=1e-6)
    num, den, err = fit.fit_band()
    assert err < 1e-8
    assert np.float32(fit.BAND_LOW_F32) == E.BAND_LOW_F32 and np.float32(fit.BAND_SCALE_F32) == E.BAND_SCALE_F32
    np.testing.assert_allclose(num[::-1], np.array(E._BAND_NUM_F32), rtol=1e-6)
    np.testing.assert_allclose(den[::-1], np.array(E._BAND_DEN_F32), rtol=1e-6)


@numba.njit(error_model="numpy")
def _rational32(q, p, out):
    for i in range(q.size):
        out[i] = E.ndtri_rational_f32(q[i], p[i])


def test_rational_f32_is_the_central_quantile_and_the_band():
    q = _central_samples()
    got, central = np.empty_like(q), np.empty_like(q)
    _rational32(q, np.full_like(q, 0.01), got)
    _central32(q, central)
    np.testing.assert_array_equal(got, central)  # the padded central rational, bit for bit
    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(E.BAND_LOW_F32, 0.0225, 2 * 10**6),
                        np.linspace(E.BAND_LOW_F32, 0.0225, 10**6), [E.BAND_LOW_F32, 0.0225]]).astype(np.float32)
    outside = np.full_like(p, -0.49)  # |q| beyond the central limit: the band
    band = np.empty_like(p)
    _rational32(outside, p, band)
    exact = scipy.special.ndtri(p.astype(np.float64))
    ulps = np.abs(band - exact) / np.spacing(np.abs(exact).astype(np.float32))
    assert np.max(ulps) <= 8 and np.mean(ulps) <= 1.5


@numba.njit(error_model="numpy")
def _band64(p, out):
    for i in range(p.size):
        out[i] = E.ndtri_band_f64(p[i])


def test_band_quantile_f64_against_scipy():
    rng = np.random.default_rng(11)
    band = np.concatenate([np.linspace(0.0225, 0.075, 2**17, endpoint=False), rng.uniform(0.0225, 0.075, 2**18),
                           [0.0225, np.nextafter(0.075, 0)]])
    central = np.concatenate([rng.uniform(0.075, 0.5, 2**16), [0.075, 0.5]])
    got_band, got_central = np.empty_like(band), np.empty_like(central)
    _band64(band, got_band)
    _band64(central, got_central)
    exact = scipy.special.ndtri(band)
    assert np.max(np.abs(got_band - exact) / np.abs(exact)) <= 2e-15
    as241 = np.empty_like(central)
    E.ndtri_array(central, as241)
    np.testing.assert_array_equal(got_central, as241)  # AS 241's central branch, bit for bit


def test_band_coefficients_are_the_documented_fit():
    fit = _docs_script("truncated_band_fit")
    num, den, err = fit.fit()
    assert err < 1e-16
    assert fit.BAND_LOW == E.BAND_LOW and fit.BAND_SCALE == E.BAND_SCALE
    assert 0.5 - fit.BAND_LOW == float(E.CENTRAL_LIMIT_F32) or np.float32(0.5 - fit.BAND_LOW) == E.CENTRAL_LIMIT_F32
    # mpmath's fit is platform independent: the committed float64 values exactly
    assert num[::-1] == list(E._BAND_NUM)
    assert den[::-1] == list(E._BAND_DEN)
