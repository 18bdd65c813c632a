"""The distributions layer: fill preallocated buffers in place.

Element ``i`` of ``out`` (its flat C-order index) receives element
``offset + i`` of the stream of ``(seed, distribution, parameters)``, so a
buffer filled in pieces, on any number of threads or machines, holds the same
bits as one filled at once. The exact mapping is docs/stream-format.md.
"""

import functools
import math
import os
import threading
import time

import numba
import numpy as np

from . import _elementary, _formats, _kernels
from ._hostmath import normal_cdf, normal_cdf_width
from ._validate import check_offset, check_out, check_real, in_dtype
from .bits import NORMAL_ID, TRUNCATED_NORMAL_ID, UNIFORM_ID, _check_seed, _key_words

__all__ = ["fill_uniform", "fill_normal", "fill_truncated_normal", "fill_constant"]

#: Buffers smaller than this are filled on the calling thread: starting the
#: thread pool costs more than it saves (measured by bench/threads.py). The
#: smallest of the thresholds below, and theirs where a kernel has none.
PARALLEL_THRESHOLD = 1 << 13

#: The size from which two threads pay, by (parameter type name, stored
#: dtype; 16-bit outputs are stored as uint16): the smallest power of two from
#: which ``bench/threads.py crossover`` found the parallel kernel at least
#: 1.1x faster than the serial one at every size, in two runs on an idle
#: 2-core AMD EPYC (2026-12-03, docs/performance.md). The truncated normal's
#: other regimes do more per element and take the central regime's.
_F4, _F8, _U2 = "<f4", "<f8", "<u2"
PARALLEL_THRESHOLDS = {
    ("Uniform", _F4): 1 << 17, ("Uniform", _F8): 1 << 16, ("Uniform", _U2): 1 << 18,
    ("Normal", _F4): 1 << 15, ("Normal", _F8): 1 << 14, ("Normal", _U2): 1 << 16,
    **{(kind, dtype): threshold for kind in ("CentralTruncatedNormal", "RationalTruncatedNormal", "TruncatedNormal")
       for dtype, threshold in ((_F4, 1 << 15), (_F8, 1 << 14), (_U2, 1 << 14))},
}

#: With another process on the other cores, a parallel fill waits for its
#: threads to be scheduled: the kernel's threads take chunks of work from a
#: shared counter (so the running thread does what a held-back one does not),
#: but the fill still ends when the last thread has been scheduled, which costs
#: more than it saves below this size (``bench/threads.py crossover --busy``).
#: After two parallel fills in a row in which some thread filled no chunk (it
#: was held back), fills below LOADED_THRESHOLD run on the calling thread for
#: BUSY_SECONDS; then the next one tries the threads again.
LOADED_THRESHOLD = 1 << 22
BUSY_SECONDS = 0.05
_busy_until = 0.0
_held_back = 0


class _Taken(threading.local):
    def __init__(self):  # the parallel kernel's chunk counts (counter, then one per thread)
        self.array = np.zeros(1 + numba.config.NUMBA_NUM_THREADS, np.uint64)


_taken = _Taken()

#: Strided (non C-contiguous) outputs are generated through a scratch buffer
#: of at most this many elements, then copied in.
STRIDED_CHUNK = 1 << 16

#: Largest |z| of the float32 normal stream (sqrt(-2 ln 2**-33), rounded up).
MAX_ABS_Z32 = 6.77

#: Truncation intervals are cut at this many standard deviations below the
#: mean (after mirroring the interval into the lower half): the normal mass
#: beyond it, about 1e-308, is below float64 resolution.
TAIL_LIMIT = 37.5


def _generate(out, params, fmt, distribution_id, seed, offset):
    """Fill out (validated) with stream elements offset .. offset + out.size - 1."""
    if out.size == 0:
        return out
    if type(out) is _formats.Memory:  # a small buffer: the shortest path (a bias is all call overhead)
        kernel = _MEMORY_KERNELS.get((out.dtype, type(params), type(fmt))) or _memory_kernel(out.dtype, params, fmt)
        entry, stored, bits = kernel
        entry(out.address, out.size, stored, params, fmt, seed & 0xFFFFFFFF, seed >> 32, distribution_id, bits,
              offset)  # the key words as bits._key_words gives them
        return out
    if not isinstance(out, np.ndarray):  # a CUDA array (from check_out): filled on its device
        from . import cuda
        return cuda.generate(out, params, fmt, distribution_id, seed, offset)
    k0, k1 = _key_words(seed)
    view, compute = _formats.kernel_view(out)
    words = (k0, k1, distribution_id, 8 * compute.itemsize)
    if out.flags.c_contiguous:
        flat = view if view.ndim == 1 and type(view) is np.ndarray else np.asarray(view).reshape(-1)
        _fill_flat(flat, params, fmt, words, offset)
        return out
    scratch = np.empty(min(out.size, STRIDED_CHUNK), view.dtype)
    for start in range(0, out.size, STRIDED_CHUNK):
        part = scratch[: min(STRIDED_CHUNK, out.size - start)]
        _fill_flat(part, params, fmt, words, offset + start)
        view.flat[start : start + part.size] = part
    return out


# GNU OpenMP (Numba's default threading layer) is not fork-safe: a child forked
# after the parent ran a parallel kernel is terminated when it starts one. A
# forked child therefore fills on its own thread, with the same kernels' serial
# twin: the values are the same, only slower.
_forked = False


def _mark_forked():
    global _forked
    _forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked)


def _parallel(size, params=None, dtype=None):
    if size < PARALLEL_THRESHOLD or _forked:
        return False
    if size < PARALLEL_THRESHOLDS.get((type(params).__name__, dtype), PARALLEL_THRESHOLD):
        return False
    return size >= LOADED_THRESHOLD or time.monotonic() >= _busy_until


def _note_held_back(taken, threads):
    """After a parallel fill: two in a row in which a thread filled no chunk
    (one alone happens on an idle machine too) mean the other cores are busy."""
    global _busy_until, _held_back
    if 0 in taken[1:1 + threads].tolist():
        _held_back += 1
        if _held_back >= 2:
            _busy_until = time.monotonic() + BUSY_SECONDS
            _held_back = 0
    else:
        _held_back = 0


#: The fill kernels' compiled entry points, by what decides their Numba
#: signature (the flat output's dtype and alignment, the parameter and format
#: types). A call through one skips the dispatcher, whose typing of ten
#: arguments (namedtuples among them) cost more than the whole fill of a bias:
#: about 2 us a call, against 0.5 us for the entry point and the 64-element
#: fill it runs (bench/per_call.py). The first call of each signature goes
#: through the dispatcher, which loads or compiles it.
_ENTRY_POINTS = {}


def _fill_flat(flat, params, fmt, words, offset):
    """Fill the flat, C-contiguous, writable array ``flat`` (words: k0, k1,
    distribution id and bits per element, as Python ints)."""
    parallel = _parallel(flat.size, params, flat.dtype.str)
    threads = numba.get_num_threads() if parallel else 1
    key = (parallel, flat.dtype, flat.flags.aligned, type(params), type(fmt))
    entry = _ENTRY_POINTS.get(key)
    if entry is None:
        kernel = _kernels.fill_parallel if parallel else _kernels.fill_serial
        args = (flat, params, fmt, *(np.uint64(w) for w in words), np.uint64(offset), threads, _taken.array)
        kernel(*args)
        _ENTRY_POINTS[key] = entry = _entry_point(kernel, args)
    else:
        entry(flat, params, fmt, *words, offset, threads, _taken.array)
    if parallel:
        _note_held_back(_taken.array, threads)


#: fill_serial_at's entry point, the dtype it writes and the bits per
#: element of its stream, by (output dtype, parameter type, format type).
_MEMORY_KERNELS = {}


def _memory_kernel(dtype, params, fmt):
    """_MEMORY_KERNELS' entry for a fill of a _formats.Memory of ``dtype``,
    after loading (or compiling) the kernel by an empty call."""
    stored = _formats.kernel_dtype(dtype)
    args = (np.uint64(0), 0, stored, params, fmt, *(np.uint64(0) for _ in range(5)))
    _kernels.fill_serial_at(*args)  # size 0: writes nothing
    kernel = (_entry_point(_kernels.fill_serial_at, args), stored, 8 * _formats.compute_dtype(dtype).itemsize)
    _MEMORY_KERNELS[(dtype, type(params), type(fmt))] = kernel
    return kernel


def _entry_point(kernel, args):
    """The compiled entry point of ``kernel`` for ``args`` (its unsigned words
    and offset then accept Python ints); the dispatcher itself, fed NumPy
    integers, if Numba does not list that overload."""
    compiled = kernel.overloads.get(tuple(kernel.typeof_pyval(arg) for arg in args))
    if compiled is not None:
        return compiled.entry_point

    unsigned = [isinstance(arg, np.uint64) for arg in args]

    def through_dispatcher(*call):
        return kernel(*(np.uint64(arg) if u else arg for arg, u in zip(call, unsigned)))
    return through_dispatcher


def _no_value(dtype, interval):
    return ValueError(f"no {dtype} value lies in {interval}")


def fill_uniform(out, low=0.0, high=1.0, *, seed, offset=0):
    r"""Fill ``out`` in place with values from the uniform distribution
    :math:`\mathcal{U}[\text{low}, \text{high})`.

    ``low`` and ``high`` are first rounded to ``out.dtype``; values are
    ``low + (high - low) * u`` in that dtype with ``u`` on the grid
    ``k * 2**-24`` (float32) or ``k * 2**-53`` (float64), and never reach
    ``high``: a result that rounds up to ``high`` is replaced by the largest
    value below it. If ``low == high`` after rounding, every value is ``low``.

    Args:
        out: writable float32, float64, float16 or bfloat16 ndarray of any shape
            (C-contiguous or strided, ``np.memmap`` included).
        low, high: finite bounds, ``low <= high``.
        seed: integer in [0, 2**64).
        offset: flat index of ``out``'s first element in the stream.

    Returns:
        ``out``.

    Example::

        >>> w = np.empty((256, 128), np.float32)
        >>> fastinit.fill_uniform(w, -0.1, 0.1, seed=0)
    """
    _uniform(check_out(out), low, high, seed, offset)
    return out


def _uniform(out, low, high, seed, offset, checked=False):
    """fill_uniform on a checked ``out``; ``checked``: seed and offset are too
    (fastinit.torch's drop-ins, whose seed is drawn or checked already)."""
    low = check_real("low", low)
    high = check_real("high", high)
    if not checked:
        seed = _check_seed(seed)
        offset = check_offset(offset, out.size)
    params, fmt = _uniform_plan(low + 0.0, high + 0.0, out.dtype)  # + 0.0: -0.0 -> 0.0 (one cache key)
    return _generate(out, params, fmt, UNIFORM_ID, seed, offset)


@functools.lru_cache(maxsize=1024)
def _uniform_plan(low, high, dtype):
    """(kernel parameters, 16-bit format) of a uniform fill; cached, since models
    repeat the same bounds many times."""
    if low > high:
        raise ValueError(f"low must be <= high, got low={low}, high={high}")
    compute = _formats.compute_dtype(dtype)
    lo = in_dtype("low", low, compute)
    hi = in_dtype("high", high, compute)
    if float(hi) - float(lo) > _formats.max_finite(compute):  # the span in compute precision would be inf
        raise ValueError(f"high - low = {high - low} overflows {compute}")
    span = hi - lo
    top = lo if hi == lo else np.nextafter(hi, compute.type(-np.inf))
    params = _kernels.Uniform(float(lo), float(span), float(top))
    fmt = None
    if dtype != compute:  # 16-bit: keep values in [low, high) after rounding
        if low == high:
            first = last = _formats.smallest_at_least(low, dtype)
        else:
            first = _formats.smallest_at_least(low, dtype)
            last = _formats.largest_below(high, dtype)
        if first is None or last is None or first > last:
            raise _no_value(dtype, f"[low, high) = [{low}, {high})")
        fmt = _formats.kernel_format(dtype, first, last)
    return params, fmt


def fill_normal(out, mean=0.0, std=1.0, *, seed, offset=0):
    r"""Fill ``out`` in place with values from the normal distribution
    :math:`\mathcal{N}(\text{mean}, \text{std}^2)`.

    Standard normals z come from the Box-Muller transform in float32
    (polynomial log, sin and cos, error <= a few ulp; float16 and bfloat16
    round this stream) and from a 1024-layer ziggurat in float64 (53-bit
    resolution, exact tail); see docs/stream-format.md. The value is
    ``mean + std * z`` in the output dtype.

    Args:
        out: writable float32, float64, float16 or bfloat16 ndarray of any shape.
        mean: finite mean.
        std: finite standard deviation, ``std >= 0``.
        seed: integer in [0, 2**64).
        offset: flat index of ``out``'s first element in the stream.

    Returns:
        ``out``.

    Example::

        >>> emb = np.empty((50257, 768), np.float32)
        >>> fastinit.fill_normal(emb, std=0.02, seed=0)
    """
    _normal(check_out(out), mean, std, seed, offset)
    return out


def _normal(out, mean, std, seed, offset, checked=False):
    """fill_normal on a checked ``out`` (``checked``: as in _uniform)."""
    mean = check_real("mean", mean)
    std = check_real("std", std)
    if not checked:
        seed = _check_seed(seed)
        offset = check_offset(offset, out.size)
    params, fmt = _normal_plan(mean + 0.0, std + 0.0, out.dtype)
    return _generate(out, params, fmt, NORMAL_ID, seed, offset)


@functools.lru_cache(maxsize=1024)
def _normal_plan(mean, std, dtype):
    """(kernel parameters, 16-bit format) of a normal fill; cached."""
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    compute = _formats.compute_dtype(dtype)
    params = _kernels.Normal(float(in_dtype("mean", mean, compute)), float(in_dtype("std", std, compute)))
    fmt = None
    if dtype != compute:
        limit = _formats.max_finite(dtype)
        if abs(mean) + MAX_ABS_Z32 * std > limit:
            raise ValueError(
                f"mean={mean}, std={std} reach beyond the {dtype} range "
                f"(|mean| + {MAX_ABS_Z32} * std > {limit})")
        fmt = _formats.kernel_format(dtype, -limit, limit)
    return params, fmt


def _truncated_params(mean, std, a, b, dtype):
    alpha = (a - mean) / std
    beta = (b - mean) / std
    if not (math.isfinite(alpha) and math.isfinite(beta)):
        raise ValueError(f"(a - mean) / std and (b - mean) / std must be finite, got {alpha}, {beta}")
    # Mirror the interval so that most of it lies below the mean.
    sign = -1.0 if alpha + beta > 0 else 1.0
    lo, hi = (-beta, -alpha) if sign < 0 else (alpha, beta)
    if hi < -TAIL_LIMIT:
        raise ValueError(
            f"the interval [a, b] = [{a}, {b}] lies more than {TAIL_LIMIT} standard deviations "
            f"from the mean: its probability is below float64 resolution"
        )
    lo = max(lo, -TAIL_LIMIT)
    # the interval's probabilities, each rounded once from its exact value (no platform libm: _hostmath)
    p_low = normal_cdf(lo)
    q_high = normal_cdf(-hi)
    width = normal_cdf_width(lo, hi)
    # Compare as Python floats: numpy would round a and b to dtype first.
    clip_low = dtype.type(a)
    if float(clip_low) < a:
        clip_low = np.nextafter(clip_low, dtype.type(np.inf))
    clip_high = dtype.type(b)
    if float(clip_high) > b:
        clip_high = np.nextafter(clip_high, dtype.type(-np.inf))
    if not (np.isfinite(clip_low) and np.isfinite(clip_high)) or clip_low > clip_high:
        raise ValueError(f"no {dtype} value lies in [a, b] = [{a}, {b}]")
    q_start, q_span, regime = _central_plan(sign, p_low, q_high, width, dtype)
    kind = {_kernels.CENTRAL_ONLY: _kernels.CentralTruncatedNormal,
            _kernels.RATIONAL_ONLY: _kernels.RationalTruncatedNormal}.get(regime, _kernels.TruncatedNormal)
    return kind(mean, std, sign, p_low, q_high, width, float(clip_low), float(clip_high), q_start, q_span, regime)


def _central_plan(sign, p_low, q_high, width, dtype):
    """(q_start, q_span, regime) of the rational branches (docs/stream-format.md).

    float32 stream: an element's q = q_start + q_span * unit24(w), in float32,
    is sign * (P - 1/2) for its lower-side probability P. float64: q is
    sign * (P - 1/2) itself, over [p_low, p_low + width]. Rounding is
    monotone, so the q of the smallest and the largest u bound every
    element's. Regimes: every q within the central limit C (0.4775): every
    element by the central rational; less than half of the q range within
    C (an interval mostly in a tail): every element by AS 241, with its
    logarithm, which resolves every float32 value there; float32, both
    ends' probabilities at least the band's 0.00134 (within 3.0023 standard
    deviations): every element by the central rational or the band's;
    otherwise each element by its own branch."""
    if dtype == np.float32:
        q_start = np.float32(sign * (p_low - 0.5))
        q_span = np.float32(sign * width)
        first, last = q_start, np.float32(q_start + q_span * np.float32(1.0 - 2.0**-24))
    else:
        q_start, q_span = sign * (p_low - 0.5), sign * width
        first, last = q_start, q_start + q_span
    limit = float(_elementary.CENTRAL_LIMIT_F32)
    low, high = float(min(first, last)), float(max(first, last))
    inside = min(high, limit) - max(low, -limit)
    band_low = float(_elementary.BAND_LOW_F32)
    if -limit <= low and high <= limit:
        regime = _kernels.CENTRAL_ONLY
    elif inside < 0.5 * (high - low):
        regime = _kernels.TAILS_ONLY
    elif dtype == np.float32 and p_low >= band_low and q_high >= band_low:
        regime = _kernels.RATIONAL_ONLY
    else:
        regime = _kernels.MIXED
    return float(q_start), float(q_span), regime


def fill_truncated_normal(out, mean=0.0, std=1.0, a=-2.0, b=2.0, *, seed, offset=0):
    r"""Fill ``out`` in place with values from the normal distribution
    :math:`\mathcal{N}(\text{mean}, \text{std}^2)` truncated to :math:`[a, b]`.

    ``a`` and ``b`` are absolute bounds, as in ``torch.nn.init.trunc_normal_``
    (not multiples of ``std``). Sampling is by inverse CDF: within 2.0047
    standard deviations of the mean by one rational without logarithm (float32
    for float32 and 16-bit outputs, float64 for float64; a second rational
    carries float32 on to 3.0023), beyond by Wichura's AS 241 in float64 on
    whichever tail keeps full relative precision, so intervals far in the
    tails (e.g. [5, 6] standard deviations) keep their true shape and every
    float32 value (docs/stream-format.md, section 5). Every value ``v``
    satisfies ``a <= v <= b`` exactly.

    Args:
        out: writable float32, float64, float16 or bfloat16 ndarray of any shape.
        mean: finite mean of the untruncated normal.
        std: finite standard deviation of the untruncated normal, ``std > 0``.
        a, b: finite bounds, ``a < b``.
        seed: integer in [0, 2**64).
        offset: flat index of ``out``'s first element in the stream.

    Returns:
        ``out``.

    Example::

        >>> w = np.empty((768, 3072), np.float32)
        >>> fastinit.fill_truncated_normal(w, std=0.02, a=-0.04, b=0.04, seed=0)
    """
    _truncated_normal(check_out(out), mean, std, a, b, seed, offset)
    return out


def _truncated_normal(out, mean, std, a, b, seed, offset, checked=False):
    """fill_truncated_normal on a checked ``out`` (``checked``: as in _uniform)."""
    mean = check_real("mean", mean)
    std = check_real("std", std)
    a = check_real("a", a)
    b = check_real("b", b)
    if std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    if a >= b:
        raise ValueError(f"a must be < b, got a={a}, b={b}")
    if not checked:
        seed = _check_seed(seed)
        offset = check_offset(offset, out.size)
    params, fmt = _truncated_plan(mean + 0.0, std + 0.0, a + 0.0, b + 0.0, out.dtype)
    return _generate(out, params, fmt, TRUNCATED_NORMAL_ID, seed, offset)


@functools.lru_cache(maxsize=1024)
def _truncated_plan(mean, std, a, b, dtype):
    """(kernel parameters, 16-bit format) of a truncated-normal fill; cached."""
    compute = _formats.compute_dtype(dtype)
    fmt = None
    if dtype != compute:
        first = _formats.smallest_at_least(a, dtype)
        last = _formats.largest_at_most(b, dtype)
        if first is None or last is None or first > last:
            raise _no_value(dtype, f"[a, b] = [{a}, {b}]")
        fmt = _formats.kernel_format(dtype, first, last)
    return _truncated_params(mean, std, a, b, compute), fmt


def fill_constant(out, value):
    """Fill ``out`` in place with ``value`` (rounded to ``out.dtype``).

    Args:
        out: writable float32, float64, float16 or bfloat16 ndarray of any shape.
        value: finite real number, representable in ``out.dtype``.

    Returns:
        ``out``.

    Example::

        >>> fastinit.fill_constant(np.empty(768, np.float32), 0.0)
    """
    target = check_out(out)
    value = check_real("value", value)
    dtype = np.dtype(target.dtype)
    if abs(value) > _formats.max_finite(dtype):
        raise ValueError(f"value={value} is outside the range of {dtype}")
    stored = _formats.encode(value, dtype)
    if not isinstance(target, np.ndarray):  # a CUDA array
        from . import cuda
        cuda.fill_constant(target, stored)
        return out
    view = _formats.kernel_view(out)[0]
    if out.flags.c_contiguous and _parallel(out.size):
        _kernels.constant_parallel(np.asarray(view).reshape(-1), stored)
    else:
        view[...] = stored
    return out
