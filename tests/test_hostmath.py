"""fastinit._hostmath: the host-side normal CDF, bit for bit against 80-digit mpmath.

The truncated normal's interval probabilities were once the C library's
``erfc``, whose last bits differ between platforms (glibc on aarch64 against
x86-64 at 42 of 3,501 arguments in [-8, 27]). Here they must be the float64
rounding of the exact value at every point tried, on any machine.
"""

import decimal
import math

import numpy as np
import pytest

from fastinit import _hostmath
from tests import reference

SQRT2 = math.sqrt(2.0)

# erfc's arguments z on the grid where glibc's builds disagree, as Phi's x = -sqrt(2) z,
# and the arguments at which glibc's FMA and non-FMA code paths differ on x86-64 itself
ERFC_GRID = [-SQRT2 * z for z in np.linspace(-8.0, 27.0, 3501)] + [-SQRT2 * 9.94, -SQRT2 * 11.57]
# the mirrored interval ends of the two streams that differed between x86-64 and aarch64
STREAM_ENDS = [(-2.0 - 0.1) / 1.5, (3.5 - 0.1) / 1.5, -(3.5 - 0.1) / 1.5, -(-2.0 - 0.1) / 1.5, -3.5, -2.9, 2.9, 3.5]


@pytest.mark.parametrize("points", [ERFC_GRID, STREAM_ENDS], ids=["erfc-grid", "stream-ends"])
def test_normal_cdf_is_correctly_rounded(points):
    wrong = [(x, _hostmath.normal_cdf(x), reference.normal_cdf(x)) for x in points
             if _hostmath.normal_cdf(x) != reference.normal_cdf(x)]
    assert not wrong, wrong[:5]


def test_normal_cdf_is_correctly_rounded_at_random_points():
    rng = np.random.default_rng(20261203)
    points = np.concatenate([rng.uniform(-39.5, 9.0, 1500), rng.normal(0.0, 2.0, 500),
                             rng.uniform(-1e-3, 1e-3, 100), [0.0, -0.0, 5e-324, -5e-324, -39.0, -38.6]])
    wrong = [x for x in map(float, points) if _hostmath.normal_cdf(x) != reference.normal_cdf(x)]
    assert not wrong, wrong[:5]


def test_normal_cdf_far_tails_and_subnormals():
    assert _hostmath.normal_cdf(-40.0) == 0.0 == reference.normal_cdf(-40.0)
    assert _hostmath.normal_cdf(1e300) == 1.0 and _hostmath.normal_cdf(-1e300) == 0.0
    # subnormal results, rounded once
    for x in (-37.6, -38.0, -38.4):
        got = _hostmath.normal_cdf(x)
        assert 0.0 < got < 2.2250738585072014e-308 and got == reference.normal_cdf(x)


def test_normal_cdf_width_is_correctly_rounded():
    rng = np.random.default_rng(7)
    pairs = [tuple(sorted(rng.uniform(-38.0, 8.0, 2))) for _ in range(300)]
    pairs += [(x, x + d) for x in rng.uniform(-10, 6, 100) for d in (1e-9,)]
    pairs += [(-2.0, 2.0), (-3.0, 3.0), (-6.0, -5.0), (5.0, 6.0), (-37.5, 0.5), (-1.0, 1.0), (0.0, 1.0),
              (-1.4, -2.1 / 1.5 + 3.0), ((-2.0 - 0.1) / 1.5, (3.5 - 0.1) / 1.5), (-3.5, -2.9)]
    wrong = [(lo, hi) for lo, hi in pairs if _hostmath.normal_cdf_width(lo, hi) != reference.normal_cdf_width(lo, hi)]
    assert not wrong, wrong[:5]


def test_continued_fraction_depth_suffices():
    # the continued fraction from its fixed depth equals the one from twice the depth to
    # far beyond float64 precision, wherever it is used (z >= 4, up to Phi's cut at 39 / sqrt 2)
    context = decimal.Context(prec=_hostmath.DIGITS + 30)
    for z in (4.0, 4.25, 5.0, 7.5, 11.0, 16.0, 22.0, 27.6):
        zd = decimal.Decimal(z)
        depth = _hostmath._continued_fraction_depth(zd)
        with decimal.localcontext(context):
            f = zd
            for k in range(2 * depth, 0, -1):
                f = zd + decimal.Decimal(k) / 2 / f
            twice = (-zd * zd).exp() / (_hostmath._SQRT_PI * f)
        with decimal.localcontext(_hostmath._CONTEXT):
            once = _hostmath._erfc(zd)
        assert abs(once - twice) / twice < decimal.Decimal(10) ** -(_hostmath.DIGITS - 2), z


def test_the_callers_decimal_context_is_left_alone():
    with decimal.localcontext() as mine:
        mine.prec = 5
        _hostmath.normal_cdf.cache_clear()
        _hostmath.normal_cdf(-1.234)
        assert decimal.getcontext().prec == 5 and decimal.Decimal(1) / 3 == decimal.Decimal("0.33333")
