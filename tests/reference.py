"""An independent, slow, pure-NumPy reading of docs/stream-format.md.

Nothing here imports fastinit: the tests compare the compiled kernels with
this file, which follows the spec line by line in plain array arithmetic.
"""

import functools

import numpy as np

MASK32 = np.uint64(0xFFFFFFFF)
LANES = 128
DISTRIBUTION_IDS = {"uniform": 1, "normal": 2, "truncated_normal": 3}


def philox4x32_10(counters, key):
    """Random123 Philox4x32-10 on an (n, 4) array of counter words."""
    c = [np.asarray(counters[..., j], dtype=np.uint64) for j in range(4)]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for rnd in range(10):
        if rnd:
            k0 = (k0 + np.uint64(0x9E3779B9)) & MASK32
            k1 = (k1 + np.uint64(0xBB67AE85)) & MASK32
        p0 = c[0] * np.uint64(0xD2511F53)
        p1 = c[2] * np.uint64(0xCD9E8D57)
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & MASK32, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & MASK32]
    return np.stack(c, axis=-1).astype(np.uint32)


def key(seed):
    return (seed & 0xFFFFFFFF, seed >> 32)


def counter_words(indices, bits, distribution):
    """Counter words and slot of each global element index (section 3)."""
    i = np.asarray(indices, dtype=np.uint64)
    per_counter = 128 // bits
    block = np.uint64(per_counter * LANES)
    b, r = i // block, i % block
    slot, t = r // np.uint64(LANES), r % np.uint64(LANES)
    c = b * np.uint64(LANES) + t
    words = np.stack(
        [c & MASK32, c >> np.uint64(32),
         np.full_like(c, DISTRIBUTION_IDS[distribution]), np.full_like(c, bits)], axis=-1)
    return words, slot.astype(np.int64)


def element_words(indices, seed, bits, distribution):
    """The four Philox output words of each element's counter, and its slot."""
    words, slot = counter_words(indices, bits, distribution)
    return philox4x32_10(words, key(seed)).astype(np.uint64), slot


def pair53(lo, hi):
    return ((hi << np.uint64(32)) | lo) >> np.uint64(11)


def uniform(indices, seed, dtype, low, high):
    dtype = np.dtype(dtype)
    bits = 8 * dtype.itemsize
    w, slot = element_words(indices, seed, bits, "uniform")
    if bits == 32:
        word = w[np.arange(len(slot)), slot]
        u = (word >> np.uint64(8)).astype(np.float32) * np.float32(2.0**-24)
    else:
        lo_w = w[np.arange(len(slot)), 2 * slot]
        hi_w = w[np.arange(len(slot)), 2 * slot + 1]
        u = pair53(lo_w, hi_w).astype(np.float64) * 2.0**-53
    lo, hi = dtype.type(low), dtype.type(high)
    span = hi - lo
    top = lo if lo == hi else np.nextafter(hi, dtype.type(-np.inf))
    return np.minimum(lo + span * u.astype(dtype), top).astype(dtype)


def open_f32(words):
    """fl32(w) * 2**-32 + 2**-33 in float32 (Box-Muller's u1; the truncated
    normal's band probabilities)."""
    return words.astype(np.float32) * np.float32(2.0**-32) + np.float32(2.0**-33)


def box_muller_inputs(indices, seed, dtype):
    """(u1, angle in turns, use_cos) per element, exact, as long doubles."""
    dtype = np.dtype(dtype)
    bits = 8 * dtype.itemsize
    w, slot = element_words(indices, seed, bits, "normal")
    rows = np.arange(len(slot))
    if bits == 32:
        pair = slot // 2
        w0 = w[rows, 2 * pair]
        w1 = w[rows, 2 * pair + 1]
        u1 = open_f32(w0)
        turns = (w1 >> np.uint64(8)).astype(np.longdouble) / np.longdouble(2.0**24)
        use_cos = slot % 2 == 0
    else:
        u1 = (pair53(w[:, 0], w[:, 1]) + np.uint64(1)).astype(np.float64) * 2.0**-53
        turns = pair53(w[:, 2], w[:, 3]).astype(np.longdouble) / np.longdouble(2.0**53)
        use_cos = slot == 0
    return u1.astype(np.longdouble), turns, use_cos


PI_LD = np.longdouble("3.14159265358979323846264338327950288")


def standard_normal_ld(indices, seed, dtype):
    """The exact Box-Muller deviates of the spec, in long double."""
    u1, turns, use_cos = box_muller_inputs(indices, seed, dtype)
    rho = np.sqrt(-2 * np.log(u1))
    angle = 2 * PI_LD * turns
    return rho * np.where(use_cos, np.cos(angle), np.sin(angle))


def truncated_uniforms(indices, seed, dtype):
    """The open-interval uniforms u of section 4 for a truncated-normal stream."""
    dtype = np.dtype(dtype)
    bits = 8 * dtype.itemsize
    w, slot = element_words(indices, seed, bits, "truncated_normal")
    rows = np.arange(len(slot))
    if bits == 32:
        word = w[rows, slot]
        return (2 * word.astype(np.float64) + 1) * 2.0**-33
    lo_w, hi_w = w[rows, 2 * slot], w[rows, 2 * slot + 1]
    k = ((hi_w << np.uint64(32)) | lo_w) >> np.uint64(12)
    return k.astype(np.float64) * 2.0**-52 + 2.0**-53


def rounded(value):
    """An mpmath number rounded once to float64, through its decimal digits
    (mpmath's own float() can round subnormal results twice)."""
    import decimal

    import mpmath as mp
    return float(decimal.Decimal(mp.nstr(value, 60)))


def normal_cdf(x):
    """Section 5's Phi(x), the standard normal CDF rounded once to float64 (60-digit mpmath)."""
    import mpmath as mp
    with mp.workdps(80):
        return rounded(mp.ncdf(mp.mpf(x)))


def normal_cdf_width(lo, hi):
    """Section 5's width, Phi(hi) - Phi(lo) rounded once to float64."""
    import mpmath as mp
    with mp.workdps(80):
        return rounded(mp.ncdf(mp.mpf(hi)) - mp.ncdf(mp.mpf(lo)))


def truncated_interval(mean, std, a, b):
    """Section 5's (sign, p_low, q_high, width) of a truncation interval."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    sign = -1.0 if alpha + beta > 0 else 1.0
    lo, hi = (-beta, -alpha) if sign < 0 else (alpha, beta)
    lo = max(lo, -37.5)
    return sign, normal_cdf(lo), normal_cdf(-hi), normal_cdf_width(lo, hi)


#: Section 5: the 32-bit stream's central limit on |q| and the band's lowest
#: probability.
TRUNCATED_CENTRAL_LIMIT = np.float32(0.4775)
TRUNCATED_BAND_LOW = np.float32(0.00134)


def truncated_regime(p_low, q_high, q_start, q_span):
    """Section 5's regime of a 32-bit truncated-normal stream: "central",
    "rational", "tails" or "mixed"."""
    first = np.float32(q_start)
    last = first + np.float32(q_span) * np.float32(1 - 2.0**-24)
    low, high = sorted((float(first), float(last)))
    limit = float(TRUNCATED_CENTRAL_LIMIT)
    if -limit <= low and high <= limit:
        return "central"
    if min(high, limit) - max(low, -limit) < 0.5 * (high - low):
        return "tails"
    if p_low >= TRUNCATED_BAND_LOW and q_high >= TRUNCATED_BAND_LOW:
        return "rational"
    return "mixed"


def truncated_rational_inputs(indices, seed, p_low, q_high, width, q_start, q_span):
    """Per element of a 32-bit truncated-normal stream, in float32 as section 5
    computes them: q, the lower-tail probability of the band and whether it is
    on the lower side."""
    w, slot = element_words(indices, seed, 32, "truncated_normal")
    word = w[np.arange(len(slot)), slot]
    unit24 = (word >> np.uint64(8)).astype(np.float32) * np.float32(2.0**-24)
    q = np.float32(q_start) + np.float32(q_span) * unit24
    lower = np.float32(p_low) + np.float32(width) * open_f32(word)
    upper = np.float32(q_high) + np.float32(width) * open_f32(MASK32 ^ word)
    lower_side = lower <= np.float32(0.5)
    return q, np.where(lower_side, lower, upper), lower_side


# --------------------------------------------------------------------------
# float64 normal: the ziggurat of section 5 of the spec.
# --------------------------------------------------------------------------
ZIGGURAT_LAYERS = 1024
#: The start of the tail, R, to 50 digits: where the closure of ziggurat_tables() is 0.
ZIGGURAT_R = "4.0388498461095045227144234053359312047009919558946"


def ziggurat_tables(r=None, digits=50):
    """(R, V, X, F, closure) of the spec's ziggurat as mpmath numbers, from R:
    V = R f(R) + (area of the tail beyond R), X[0] = V / f(R), X[1] = R,
    X[j+1] = f^-1(f(X[j]) + V / X[j]), X[LAYERS] = 0, F[j] = f(X[j]), F[N] = 1.
    closure = f(X[N-1]) + V / X[N-1] - 1 is 0 at the true R (the top layer
    ends at the peak)."""
    import mpmath as mp

    with mp.workdps(digits):
        r = mp.mpf(ZIGGURAT_R if r is None else r)

        def f(x):
            return mp.exp(-x * x / 2)

        v = r * f(r) + mp.sqrt(mp.pi / 2) * mp.erfc(r / mp.sqrt(2))
        x = [v / f(r), r]
        for j in range(1, ZIGGURAT_LAYERS - 1):
            x.append(mp.sqrt(-2 * mp.log(f(x[j]) + v / x[j])))
        closure = f(x[-1]) + v / x[-1] - 1  # the top layer must end at the peak: 0
        x.append(mp.mpf(0))
        fx = [f(xj) for xj in x[:-1]] + [mp.mpf(1)]
        return r, v, x, fx, closure


@functools.cache
def ziggurat_float_tables():
    r, _, x, fx, _ = ziggurat_tables()
    X = np.array([float(t) for t in x])
    F = np.array([float(t) for t in fx])
    from fractions import Fraction
    K = np.array([int(Fraction(2**53) * Fraction(X[j + 1]) / Fraction(X[j]))
                  for j in range(ZIGGURAT_LAYERS)], dtype=np.uint64)
    W = X[:ZIGGURAT_LAYERS] * 2.0**-53
    return float(r), X, F, K, W


def _open52_of(e):
    """(2k + 1) * 2**-53 from the top 52 bits k of the 64-bit integer e."""
    return np.float64(e >> 12) * 2.0**-52 + 2.0**-53


def _slow_path(i, d, seed):
    """(signed deviate, attempts) of element i whose draw d left the fast path."""
    r, _, F, K, W = ziggurat_float_tables()
    attempt = 0
    while True:
        attempt += 1
        counter = np.array([[i & 0xFFFFFFFF, i >> 32, (2 + 256 * attempt) & 0xFFFFFFFF, 64]], dtype=np.uint64)
        a = philox4x32_10(counter, key(seed)).astype(np.uint64)[0]
        e1 = int(a[0]) << 32 | int(a[1])  # the first word is the high half
        e2 = int(a[2]) << 32 | int(a[3])
        j, k = d % ZIGGURAT_LAYERS, d >> 11
        z = None
        if j == 0:
            xt = -np.log(_open52_of(e1)) / r
            y = -np.log(_open52_of(e2))
            if y + y > xt * xt:
                z = r + xt
        else:
            x = np.float64(k) * W[j]
            u = np.float64(e1 >> 11) * 2.0**-53
            y = F[j] + u * (F[j + 1] - F[j])
            if x * x < -2.0 * np.log(y):
                z = x
            else:
                d = e2
                j, k = d % ZIGGURAT_LAYERS, d >> 11
                if k < int(K[j]):
                    z = np.float64(k) * W[j]
        if z is not None:
            return (-z if (d >> 10) & 1 else z), attempt


def ziggurat_slow_path(indices, draws, seed):
    """The deviates of elements whose draws left the fast path."""
    return np.array([_slow_path(int(i), int(d), seed)[0] for i, d in zip(indices, draws)])


def normal64_standard(indices, seed):
    """Standard normal deviates of the float64 stream, per the spec's ziggurat,
    with float64 np.log where the spec has its polynomial log (at most a few
    ulp apart: tail values may differ by that much, nothing else).
    Also returns the number of slow-path attempts of each element (0: the
    fast path)."""
    _, _, _, K, W = ziggurat_float_tables()
    indices = np.asarray(indices, dtype=np.uint64)
    w, slot = element_words(indices, seed, 64, "normal")
    rows = np.arange(len(slot))
    d = (w[rows, 2 * slot] << np.uint64(32)) | w[rows, 2 * slot + 1]  # word 2j is the high half
    j, k = d % np.uint64(ZIGGURAT_LAYERS), d >> np.uint64(11)
    z = k.astype(np.float64) * W[j]
    z = np.where((d >> np.uint64(10)) & np.uint64(1), -z, z)
    attempts = np.zeros(len(d), dtype=np.int64)
    for n in np.flatnonzero(k >= K[j]):
        z[n], attempts[n] = _slow_path(int(indices[n]), int(d[n]), seed)
    return z, attempts


# --------------------------------------------------------------------------
# The orthogonal initializer's QR (docs/stream-format.md, "orthogonal"):
# unblocked Householder, one column at a time, in plain Python floats.
# --------------------------------------------------------------------------
def householder_q(a, gain):
    """Q of the QR of ``a`` (rows >= cols) times gain, column k times -gain
    where R[k, k] < 0, by the operations the format lists, in order."""
    rows, cols = a.shape
    m = [[float(a[i, j]) for j in range(cols)] for i in range(rows)]
    reflectors = []
    for k in range(cols):
        alpha = m[k][k]
        s = alpha * alpha
        for i in range(k + 1, rows):
            s += m[i][k] * m[i][k]
        if s == alpha * alpha:
            reflectors.append(([1.0] + [0.0] * (rows - k - 1), 0.0, alpha))
            continue
        norm = float(np.sqrt(s))
        beta = -norm if alpha >= 0.0 else norm
        tau = (beta - alpha) / beta
        d = alpha - beta
        v = [1.0] + [m[i][k] / d for i in range(k + 1, rows)]
        reflectors.append((v, tau, beta))
        for j in range(k + 1, cols):
            _apply_reflector(m, v, tau, k, j)
    q = [[1.0 if i == j else 0.0 for j in range(cols)] for i in range(rows)]
    for k in range(cols - 1, -1, -1):
        v, tau, _ = reflectors[k]
        if tau != 0.0:
            for j in range(k, cols):
                _apply_reflector(q, v, tau, k, j)
    out = np.array(q)
    for j in range(cols):
        out[:, j] *= -gain if reflectors[j][2] < 0.0 else gain
    return out


def _apply_reflector(m, v, tau, k, j):
    w = 0.0
    for i in range(k, len(m)):
        w += v[i - k] * m[i][j]
    t = tau * w
    for i in range(k, len(m)):
        m[i][j] -= v[i - k] * t
