"""Elementary functions written so that LLVM vectorizes them.

Calls into libm (``math.log``, ``np.sin``...) inside a loop are widened by
LLVM into one scalar call per lane, about 9x slower than a polynomial
evaluated in registers. Everything here is plain IEEE arithmetic
(``+ - * /``, ``sqrt``, compares and selects) on explicit float32 or float64
values, with no FMA contraction (Numba's default), so the same inputs give
the same bits on every x86-64 machine whatever its vector width.

Accuracy, measured against long-double references in ``tests/test_elementary.py``:

* ``log_f32``, ``log_f64``: <= 2 ulp for positive normal inputs.
* ``sincos_turns_f32`` / ``_f64``: sin and cos of ``2*pi*k/2**bits`` with
  exact quadrant reduction, <= 2.5 ulp (absolute error <= 1.5 eps near zeros).
* ``ndtri_lower_f64``: AS 241 (Wichura 1988, PPND16), relative error
  <= 2e-15 against scipy for ``1e-300 <= p <= 1/2``.
* ``ndtri_band_f64``: AS 241's central branch, and below p = 0.075 a
  fitted rational down to p = 0.0225, relative error <= 2e-15.
* ``ndtri_central_f32``: the quantile ``Phi^-1(1/2 + q)`` for float32
  ``|q| <= 0.4775`` (``|z| <= 2.0047``), a 4/4 rational, <= 8 ulp;
  ``ndtri_rational_f32`` adds a 5/5 band on to 3 standard deviations.
"""

import math

import numpy as np
from numba import types
from numba.extending import intrinsic

from ._jit import inline, kernel


def _bitcast_intrinsic(src, dst):
    @intrinsic
    def bitcast(typingctx, x):
        if x != src:
            return None

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    return bitcast


f32_as_u32 = _bitcast_intrinsic(types.float32, types.uint32)
u32_as_f32 = _bitcast_intrinsic(types.uint32, types.float32)
f64_as_u64 = _bitcast_intrinsic(types.float64, types.uint64)
u64_as_f64 = _bitcast_intrinsic(types.uint64, types.float64)

# --------------------------------------------------------------------------
# Natural logarithm: x = 2**e * m with m in [sqrt(1/2), sqrt(2)),
# log(m) = 2*atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716,
# log(x) = e*ln2_hi + (e*ln2_lo + log(m)) (Cody-Waite split of ln 2).
# Valid for positive normal inputs only (callers never pass 0 or subnormals).
# --------------------------------------------------------------------------
_F32 = np.float32
_F64 = np.float64

_LN2_HI_F32 = _F32(0.693145751953125)  # 0x3F317200: 9 trailing zero bits
_LN2_LO_F32 = _F32(1.428606765330187e-06)
_SQRT2_F32 = _F32(1.4142135)
# 2/(2k+1) for k = 1..4: remainder z**5/11 < 2e-9 relative.
_LOG_F32_R = (_F32(2 / 3), _F32(2 / 5), _F32(2 / 7), _F32(2 / 9))

_LN2_HI_F64 = _F64(6.93147180369123816490e-01)  # 0x3FE62E42FEE00000
_LN2_LO_F64 = _F64(1.90821492927058770002e-10)
_SQRT2_F64 = _F64(1.4142135623730951)
# 2/(2k+1) for k = 1..9: remainder z**10/21 < 3e-17 relative.
_LOG_F64_R = tuple(_F64(2.0 / (2 * k + 1)) for k in range(1, 10))


@inline
def log_f32(x):
    bits = f32_as_u32(x)
    # every integer kept int32 (Numba widens int32 arithmetic to int64, and
    # int64 lanes halve the vector width of this and the conversion below)
    e = np.int32(np.int32(bits >> np.uint32(23)) - np.int32(127))
    m = u32_as_f32(np.uint32((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000)))
    big = m > _SQRT2_F32
    m = m * _F32(0.5) if big else m
    e = np.int32(e + np.int32(1)) if big else e
    s = (m - _F32(1.0)) / (m + _F32(1.0))
    z = s * s
    r0, r1, r2, r3 = _LOG_F32_R
    poly = r0 + z * (r1 + z * (r2 + z * r3))
    log_m = _F32(2.0) * s + s * z * poly
    ef = _F32(e)
    return ef * _LN2_HI_F32 + (ef * _LN2_LO_F32 + log_m)


@inline
def log_f64(x):
    bits = f64_as_u64(x)
    e = np.int64(bits >> np.uint64(52)) - np.int64(1023)
    m = u64_as_f64((bits & np.uint64(0x000FFFFFFFFFFFFF)) | np.uint64(0x3FF0000000000000))
    big = m > _SQRT2_F64
    m = m * _F64(0.5) if big else m
    e = e + np.int64(1) if big else e
    s = (m - _F64(1.0)) / (m + _F64(1.0))
    z = s * s
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = _LOG_F64_R
    poly = r0 + z * (r1 + z * (r2 + z * (r3 + z * (r4 + z * (r5 + z * (r6 + z * (r7 + z * r8)))))))
    log_m = _F64(2.0) * s + s * z * poly
    ef = _F64(e)
    return ef * _LN2_HI_F64 + (ef * _LN2_LO_F64 + log_m)


# --------------------------------------------------------------------------
# sin and cos of 2*pi*k / 2**bits for an integer k (an angle in turns).
# The quadrant q = round(4k / 2**bits) is taken on the integer, so the
# reduction is exact; x = (k - q*2**(bits-2)) * (2*pi / 2**bits) lies in
# [-pi/4, pi/4), where Taylor polynomials are accurate to the last bit.
# --------------------------------------------------------------------------
_TWO_PI_2M24_F32 = _F32(2.0 * np.pi / 2.0**24)
# sin: x + x*z*(-1/3! + z*(1/5! - ...)) up to x**9; cos up to x**10.
_SIN_F32 = tuple(_F32((-1) ** k / float(np.prod(np.arange(1, 2 * k + 2)))) for k in range(1, 5))
_COS_F32 = tuple(_F32((-1) ** k / float(np.prod(np.arange(1, 2 * k + 1)))) for k in range(1, 6))

@inline
def _quadrant_select(s, c, q):
    """(sin, cos) of x + q*pi/2 from (sin x, cos x)."""
    one, two = np.int32(1), np.int32(2)
    odd = (q & one) != 0
    sin_v = c if odd else s
    cos_v = s if odd else c
    sin_v = -sin_v if (q & two) != 0 else sin_v
    cos_v = -cos_v if (np.int32(q + one) & two) != 0 else cos_v
    return sin_v, cos_v


@inline
def sincos_turns_f32(k):
    """sin and cos of 2*pi*k/2**24 for an integer 0 <= k < 2**24 (uint64)."""
    q = np.int32((k + np.uint64(1 << 21)) >> np.uint64(22))
    r = np.int32(np.int32(k) - np.int32(q << np.int32(22)))  # int32 throughout (see log_f32)
    x = _F32(r) * _TWO_PI_2M24_F32
    z = x * x
    s1, s3, s5, s7 = _SIN_F32
    c1, c2, c3, c4, c5 = _COS_F32
    s = x + x * z * (s1 + z * (s3 + z * (s5 + z * s7)))
    c = _F32(1.0) + z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * c5))))
    return _quadrant_select(s, c, q)


# --------------------------------------------------------------------------
# Inverse of the standard normal CDF: Wichura's AS 241 (PPND16), Applied
# Statistics 37(3), 1988. Three rational approximations of degree 7/7; the
# branch picks one set of coefficients per lane, so a vector loop evaluates
# a single rational function (one division) instead of three.
# --------------------------------------------------------------------------
AS241_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
           1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
           3.3430575583588128105e4, 2.5090809287301226727e3)
AS241_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
           2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
           5.2264952788528545610e3)
AS241_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
           3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
           2.27238449892691845833e-2, 7.74545014278341407640e-4)
AS241_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
           1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
           1.05075007164441684324e-9)
AS241_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
           2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
           2.71155556874348757815e-5, 2.01033439929228813265e-7)
AS241_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
           7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
           2.04426310338993978564e-15)

# Numerator and denominator coefficients, highest degree first, per branch.
_NUM = tuple(tuple(_F64(c) for c in reversed(t)) for t in (AS241_A, AS241_C, AS241_E))
_DEN = tuple(tuple(_F64(c) for c in reversed(t)) for t in (AS241_B, AS241_D, AS241_F))


@inline
def _pick(central, mid, a, c, e):
    return a if central else (c if mid else e)


@inline
def _rational7(arg, central, mid):
    na, nc, ne = _NUM
    da, dc, de = _DEN
    num = _pick(central, mid, na[0], nc[0], ne[0])
    den = _pick(central, mid, da[0], dc[0], de[0])
    num = num * arg + _pick(central, mid, na[1], nc[1], ne[1])
    den = den * arg + _pick(central, mid, da[1], dc[1], de[1])
    num = num * arg + _pick(central, mid, na[2], nc[2], ne[2])
    den = den * arg + _pick(central, mid, da[2], dc[2], de[2])
    num = num * arg + _pick(central, mid, na[3], nc[3], ne[3])
    den = den * arg + _pick(central, mid, da[3], dc[3], de[3])
    num = num * arg + _pick(central, mid, na[4], nc[4], ne[4])
    den = den * arg + _pick(central, mid, da[4], dc[4], de[4])
    num = num * arg + _pick(central, mid, na[5], nc[5], ne[5])
    den = den * arg + _pick(central, mid, da[5], dc[5], de[5])
    num = num * arg + _pick(central, mid, na[6], nc[6], ne[6])
    den = den * arg + _pick(central, mid, da[6], dc[6], de[6])
    num = num * arg + _pick(central, mid, na[7], nc[7], ne[7])
    den = den * arg + _pick(central, mid, da[7], dc[7], de[7])
    return num / den


@inline
def as241_is_central(p):
    """True where AS 241 uses its central rational (|p - 1/2| <= 0.425)."""
    return p - _F64(0.5) >= _F64(-0.425)


@inline
def ndtri_central_f64(p):
    """AS 241's central branch alone: the quantile for 0.075 <= p <= 1/2, bit
    for bit what ndtri_lower_f64 and ndtri_band_f64 return there, without
    their per-lane choice of coefficients."""
    q = p - _F64(0.5)
    return q * _rational7(_F64(0.180625) - q * q, True, True)


@inline
def ndtri_lower_f64(p):
    """Standard normal quantile for 0 < p <= 1/2 (p a positive normal float64).

    Callers keep p in the lower half and use the symmetry
    ndtri(1 - p) = -ndtri(p), which keeps full relative precision in both
    tails."""
    q = p - _F64(0.5)
    central = as241_is_central(p)
    t = math.sqrt(-log_f64(p))  # math.sqrt: compiles for CUDA too
    mid = t <= _F64(5.0)
    arg = (_F64(0.180625) - q * q) if central else (t - _F64(1.6) if mid else t - _F64(5.0))
    ratio = _rational7(arg, central, mid)
    return q * ratio if central else -ratio


@kernel
def ndtri_array(p, out):
    """AS 241 on an array of probabilities in (0, 1); used by tests and docs."""
    for i in range(p.size):
        pi = p[i]
        upper = pi > _F64(0.5)
        x = ndtri_lower_f64(_F64(1.0) - pi if upper else pi)
        out[i] = -x if upper else x
    return out


# --------------------------------------------------------------------------
# The float64 band of the truncated normal (stream format 3): for lower-tail
# probabilities BAND_LOW <= p < 0.075, between AS 241's central branch and its
# logarithmic one, Phi^-1(p) = N(x) / D(x) with x = (p - BAND_LOW) * BAND_SCALE
# in [0, 1]: degree 7 over 7, relative error <= 1e-15 in float64
# (docs/truncated_band_fit.py prints these float64 values). With it, every
# float64 element of a +-2 standard deviation interval (p >= 0.02275) takes
# one rational and no logarithm; BAND_LOW is 1/2 - CENTRAL_LIMIT_F32 in
# exact decimals, so both streams leave the same elements to the tails.
# --------------------------------------------------------------------------
BAND_LOW = _F64(0.0225)
BAND_SCALE = _F64(1 / (0.075 - 0.0225))
_BAND_NUM = tuple(_F64(float.fromhex(c)) for c in reversed((
    "-0x1.0098847487e19p+1", "-0x1.7fdf871a4263cp+3", "-0x1.a23555c4f354ep+4", "-0x1.909db30102bebp+4",
    "-0x1.382eecbd13fb7p+3", "-0x1.918fa3013bec9p-1", "0x1.55a47c90e10f7p-3", "0x1.05fa82084ae9ap-7")))
_BAND_DEN = tuple(_F64(float.fromhex(c)) for c in reversed((
    "0x1.0p+0", "0x1.9e510d91eebf4p+2", "0x1.f740006ac1207p+3", "0x1.1c842aeeb6aa0p+4",
    "0x1.2c9aeabee77d0p+3", "0x1.00801c950a1edp+1", "0x1.97365a6ded5b0p-4", "-0x1.5e2c61b62fd54p-9")))


@inline
def in_band_or_central(p):
    """True where ndtri_band_f64 applies (BAND_LOW <= p <= 1/2)."""
    return p >= BAND_LOW


@inline
def ndtri_band_f64(p):
    """Standard normal quantile for BAND_LOW <= p <= 1/2: AS 241's central
    rational for p >= 0.075 (bit for bit ndtri_lower_f64 there), the band's
    below. One rational per lane (coefficients picked per lane), one division."""
    q = p - _F64(0.5)
    central = as241_is_central(p)
    arg = (_F64(0.180625) - q * q) if central else (p - BAND_LOW) * BAND_SCALE
    na = _NUM[0]
    da = _DEN[0]
    nb = _BAND_NUM
    db = _BAND_DEN
    num = na[0] if central else nb[0]
    den = da[0] if central else db[0]
    num = num * arg + (na[1] if central else nb[1])
    den = den * arg + (da[1] if central else db[1])
    num = num * arg + (na[2] if central else nb[2])
    den = den * arg + (da[2] if central else db[2])
    num = num * arg + (na[3] if central else nb[3])
    den = den * arg + (da[3] if central else db[3])
    num = num * arg + (na[4] if central else nb[4])
    den = den * arg + (da[4] if central else db[4])
    num = num * arg + (na[5] if central else nb[5])
    den = den * arg + (da[5] if central else db[5])
    num = num * arg + (na[6] if central else nb[6])
    den = den * arg + (da[6] if central else db[6])
    num = num * arg + (na[7] if central else nb[7])
    den = den * arg + (da[7] if central else db[7])
    ratio = num / den
    return q * ratio if central else ratio


# --------------------------------------------------------------------------
# The float32 central quantile of the truncated normal (stream format 3):
# Phi^-1(1/2 + q) = q * N(r) / D(r), r = (1/2 - |q|) * (1/2 + |q|) = 1/4 - q**2,
# for |q| <= CENTRAL_LIMIT_F32, i.e. |z| <= 2.0047: the whole of the +-2
# standard deviations of torch's, Keras' and JAX's truncated initializers.
# Degree 4 over 4, fitted for relative error (docs/truncated_central_fit.py
# prints these float32 values). r vanishes at the quantile's singularity
# q = 1/2, so every coefficient is positive and Horner's rule does not
# cancel; the factored r is exact to one rounding near the ends, where
# 1/4 - q*q would lose the low bits of q*q. One division, no logarithm.
# --------------------------------------------------------------------------
CENTRAL_LIMIT_F32 = _F32(0.4775)
_CENTRAL_NUM_F32 = tuple(_F32(float.fromhex(c)) for c in reversed((
    "0x1.8ea29ap+2", "0x1.0ac5d8p+10", "0x1.83567cp+14", "0x1.7f0ccap+16", "0x1.1af8f6p+15")))
_CENTRAL_DEN_F32 = tuple(_F32(float.fromhex(c)) for c in reversed((
    "0x1.0p+0", "0x1.d0de4ep+7", "0x1.ce07e8p+12", "0x1.629540p+15", "0x1.48d308p+15")))


@inline
def ndtri_central_f32(q):
    """Phi^-1(1/2 + q) for a float32 |q| <= CENTRAL_LIMIT_F32 (odd in q)."""
    n4, n3, n2, n1, n0 = _CENTRAL_NUM_F32
    d4, d3, d2, d1, d0 = _CENTRAL_DEN_F32
    a = abs(q)
    r = (_F32(0.5) - a) * (_F32(0.5) + a)
    num = (((n4 * r + n3) * r + n2) * r + n1) * r + n0
    den = (((d4 * r + d3) * r + d2) * r + d1) * r + d0
    return q * (num / den)


# The float32 band (stream format 3): for lower-tail probabilities
# BAND_LOW_F32 <= p < 1/2 - CENTRAL_LIMIT_F32 (2.0047 to 3.0023 standard
# deviations), Phi^-1(p) = N(x) / D(x), x = (p - BAND_LOW_F32) * BAND_SCALE_F32
# in [0, 1], degree 5 over 5 (docs/truncated_central_fit.py). With it an
# interval within +-3 standard deviations takes no logarithm in float32.
BAND_LOW_F32 = _F32(0.00134)
BAND_SCALE_F32 = _F32(1 / (0.5 - 0.4775 - 0.00134))
_BAND_NUM_F32 = tuple(_F32(float.fromhex(c)) for c in reversed((
    "-0x1.80496ep+1", "-0x1.11620cp+6", "-0x1.c166f2p+8", "-0x1.c63170p+9", "-0x1.9b6bdap+8", "0x1.d424a0p+1")))
_BAND_DEN_F32 = tuple(_F32(float.fromhex(c)) for c in reversed((
    "0x1.0p+0", "0x1.85daf8p+4", "0x1.624c36p+7", "0x1.a5edf4p+8", "0x1.0d5216p+8", "0x1.68d7d2p+4")))


@inline
def ndtri_rational_f32(q, p):
    """The central quantile Phi^-1(1/2 + q) where |q| <= CENTRAL_LIMIT_F32
    (bit for bit ndtri_central_f32), else the band's Phi^-1(p) of the
    lower-tail probability p (negative). One rational per lane: the central
    coefficients, with a zero leading one, or the band's."""
    a = abs(q)
    central = a <= CENTRAL_LIMIT_F32
    arg = ((_F32(0.5) - a) * (_F32(0.5) + a)) if central else (p - BAND_LOW_F32) * BAND_SCALE_F32
    n4, n3, n2, n1, n0 = _CENTRAL_NUM_F32
    d4, d3, d2, d1, d0 = _CENTRAL_DEN_F32
    b5, b4, b3, b2, b1, b0 = _BAND_NUM_F32
    e5, e4, e3, e2, e1, e0 = _BAND_DEN_F32
    num = _F32(0.0) if central else b5
    den = _F32(0.0) if central else e5
    num = num * arg + (n4 if central else b4)
    den = den * arg + (d4 if central else e4)
    num = num * arg + (n3 if central else b3)
    den = den * arg + (d3 if central else e3)
    num = num * arg + (n2 if central else b2)
    den = den * arg + (d2 if central else e2)
    num = num * arg + (n1 if central else b1)
    den = den * arg + (d1 if central else e1)
    num = num * arg + (n0 if central else b0)
    den = den * arg + (d0 if central else e0)
    ratio = num / den
    return q * ratio if central else ratio


# --------------------------------------------------------------------------
# float32 -> 16-bit formats, round to nearest even (bit patterns as uint16).
# Integer arithmetic plus one float add, all lanes computed and selected, so
# the loops vectorize and no hardware conversion instruction is required.
# Inputs are finite; values at or beyond the format's range become infinity.
# --------------------------------------------------------------------------
_F16_OVERFLOW = np.uint32((127 + 16) << 23)       # |x| >= 65536: infinity
_F16_MIN_NORMAL = np.uint32((127 - 14) << 23)     # |x| < 2**-14: zero or subnormal
_F16_SUBNORMAL_MAGIC = np.uint32((127 - 1) << 23)  # 0.5: adding it aligns the subnormal bits
_F16_REBIAS = np.uint32((127 - 15) << 23)


@inline
def f32_to_f16_bits(x):
    """IEEE binary16 bits of the float32 x, rounded to nearest even. All in
    uint32 (32-bit vector lanes); each branch's lanes are computed, the
    wrapped results of the other ranges are not selected."""
    u32 = np.uint32  # Numba widens uint32 operations to 64 bits: each result is cut back
    bits = f32_as_u32(x)
    sign = u32(u32(bits >> u32(16)) & u32(0x8000))
    a = u32(bits & u32(0x7FFFFFFF))
    # subnormal or zero: the float add rounds to nearest even at the 2**-24 grid
    magic = u32_as_f32(_F16_SUBNORMAL_MAGIC)
    sub = u32(f32_as_u32(u32_as_f32(a) + magic) - _F16_SUBNORMAL_MAGIC)
    # normal: drop 13 mantissa bits with round-half-even
    odd = u32(u32(a >> u32(13)) & u32(1))
    norm = u32(u32(u32(u32(a - _F16_REBIAS) + u32(0xFFF)) + odd) >> u32(13))
    h = u32(0x7C00) if a >= _F16_OVERFLOW else (sub if a < _F16_MIN_NORMAL else norm)
    return np.uint16(h | sign)


@inline
def f32_to_bf16_bits(x):
    """bfloat16 bits of the float32 x, rounded to nearest even."""
    bits = np.uint64(f32_as_u32(x))
    return np.uint16((bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16))
