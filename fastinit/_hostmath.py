"""Host-side functions that the stream depends on, without the platform's libm.

The kernels compute every value with IEEE additions, multiplications,
divisions and square roots, which are correctly rounded on every machine.
The few parameters computed on the host before a fill must be too: the C
library's ``erfc``, ``exp`` or ``pow`` are not the same function everywhere
(glibc's aarch64 build, with fused multiply-adds, gives other last bits than
its x86-64 build). So the normal CDF of the truncated normal's interval is
computed here in decimal arithmetic (Python's ``decimal``: every operation,
``exp`` and ``sqrt`` included, is correctly rounded by the General Decimal
Arithmetic specification, the same on every platform) to ``DIGITS``
significant digits, and rounded once to float64 (``float(Decimal)``, Python's
correctly rounded conversion). The result is the correctly rounded value of
the true function except where that lies within about ``10**-DIGITS`` of a
rounding boundary, and in every case the same bits on every machine.
docs/stream-format.md, "Host-side computations", lists every such value.
"""

import decimal
import functools

__all__ = ["normal_cdf", "normal_cdf_width"]

#: Significant decimal digits of the computation (float64 needs 17).
DIGITS = 40

_CONTEXT = decimal.Context(prec=DIGITS + 10, rounding=decimal.ROUND_HALF_EVEN, Emin=-10**6, Emax=10**6,
                           traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
_D = decimal.Decimal
# pi to 80 digits; sqrt(pi) and sqrt(2) follow by correctly rounded square roots.
_PI = _D("3.1415926535897932384626433832795028841971693993751058209749445923078164062862090")
_SQRT_PI = _CONTEXT.sqrt(_PI)
_SQRT_2 = _CONTEXT.sqrt(_D(2))

#: |x| beyond which Phi(-|x|) rounds to 0.0 in float64 (Phi(-39) is about 1e-332).
_ZERO_BEYOND = 39.0
#: erfc(z) by the power series of erf below this z, by the continued fraction above.
_SERIES_BELOW = _D(4)


def _erfc(z):
    """erfc(z) for a Decimal z >= 0, in _CONTEXT (call inside it)."""
    if z == 0:
        return _D(1)
    if z < _SERIES_BELOW:
        # erf(z) = 2/sqrt(pi) exp(-z^2) sum_n (2 z^2)^n z / (1 3 5 ... (2n+1)): positive terms only
        two_z2 = 2 * z * z
        term = total = z
        n = 0
        limit = total.scaleb(-(DIGITS + 10))
        while True:
            n += 1
            term = term * two_z2 / (2 * n + 1)
            total += term
            if n > two_z2 and term <= limit:
                break
        return 1 - 2 * (-z * z).exp() * total / _SQRT_PI
    # Laplace's continued fraction, erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))),
    # evaluated from a fixed depth (tests/test_hostmath.py checks it against twice the depth)
    depth = _continued_fraction_depth(z)
    f = z
    for k in range(depth, 0, -1):
        f = z + _D(k) / 2 / f
    return (-z * z).exp() / (_SQRT_PI * f)


def _continued_fraction_depth(z):
    """Terms of the continued fraction for DIGITS + 10 digits at z >= 4: its
    error falls about as exp(-2 sqrt(2 k) z) with the depth k."""
    # 2 sqrt(2k) z >= (DIGITS + 12) ln 10  <=>  k >= ((DIGITS + 12) ln 10 / (2 z))**2 / 2
    need = (DIGITS + 12) * 2.302585092994046 / (2.0 * float(z))
    return int(need * need / 2.0) + 40


def _lower_tail(t):
    """Phi(-t) = erfc(t / sqrt 2) / 2 for a Decimal t >= 0 (inside _CONTEXT)."""
    return _erfc(t / _SQRT_2) / 2


def _phi(x):
    """Phi(x) as a Decimal, for a float x (inside _CONTEXT)."""
    t = _D(x)
    return _lower_tail(-t) if x <= 0 else 1 - _lower_tail(t)


@functools.lru_cache(maxsize=4096)
def normal_cdf(x):
    """The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2 of a finite
    float ``x``, rounded once to float64 (the same bits on every machine)."""
    x = float(x)
    if x < -_ZERO_BEYOND:
        return 0.0
    if x > _ZERO_BEYOND:
        return 1.0
    with decimal.localcontext(_CONTEXT):
        return float(_phi(x))


@functools.lru_cache(maxsize=4096)
def normal_cdf_width(lo, hi):
    """Phi(hi) - Phi(lo) for finite floats ``lo <= hi``, computed before
    rounding (no cancellation of two rounded values) and rounded once to float64."""
    lo, hi = float(lo), float(hi)
    if hi < -_ZERO_BEYOND or lo > _ZERO_BEYOND:
        return 0.0
    lo, hi = max(lo, -_ZERO_BEYOND - 1.0), min(hi, _ZERO_BEYOND + 1.0)  # beyond: Phi is 0 or 1 to 1e-340
    with decimal.localcontext(_CONTEXT):
        if hi <= 0:
            width = _lower_tail(-_D(hi)) - _lower_tail(-_D(lo))
        elif lo >= 0:
            width = _lower_tail(_D(lo)) - _lower_tail(_D(hi))
        else:
            width = 1 - _lower_tail(-_D(lo)) - _lower_tail(_D(hi))
        return float(width)
