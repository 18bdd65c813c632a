"""Fill kernels: Philox words -> floats, in the blocked layout of the stream spec.

One driver fills any flat float32/float64 buffer for every distribution. It is
specialized at compile time on two things only:

* the output dtype, which fixes how many elements one Philox counter yields
  (``_per_counter``: 4 for 32-bit outputs, 2 for 64-bit outputs);
* the type of the parameter tuple: ``Uniform`` (and ``Normal`` for 32-bit
  outputs) pick a transform from four 32-bit words to those elements
  (``_values``); ``TruncatedNormal`` picks a block (``_truncated_block32``:
  a float32 rational for the central quantiles, ``_truncated_block``: AS 241's
  central rational for float64) whose few tail elements, which need a
  logarithm, wait in a list resolved in batches (``_truncated_flush``);
  ``Normal`` for float64 outputs picks the ziggurat
  block (``_ziggurat_block``), whose few elements off the fast path wait in a
  list and are resolved in batches (``_ziggurat_flush``).

Layout (docs/stream-format.md): the global stream is cut into blocks of
``E * LANES`` elements. Block ``b`` uses counters ``b*LANES + t`` for
``t < LANES``; output ``j`` of counter ``t`` goes to element
``b*E*LANES + j*LANES + t``. Each output position ``j`` is a contiguous run,
so the loop over ``t`` is a plain vector loop.
"""

from collections import namedtuple

import math

import numba
import numpy as np
from numba import types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic, overload

from ._elementary import (
    BAND_LOW,
    BAND_LOW_F32,
    CENTRAL_LIMIT_F32,
    as241_is_central,
    f32_to_bf16_bits,
    f32_to_f16_bits,
    in_band_or_central,
    log_f32,
    ndtri_band_f64,
    ndtri_central_f32,
    ndtri_central_f64,
    ndtri_lower_f64,
    ndtri_rational_f32,
    sincos_turns_f32,
)
from ._jit import (INLINE_OPTIONS, address_as_pointer, fetch_add, inline, kernel, parallel_kernel, prefer_wide_vectors,
                   splat, store_fence, stream_store)
from ._philox import VECTOR_CHAINS, VECTOR_LANES, philox4x32_10, philox_block_words, philox_vectors_ir
from ._ziggurat import attempt, draw, fast_path, resolve
from .bits import NORMAL_ID, TRUNCATED_NORMAL_ID

LANES = 128  # counters per block (part of the stream format)

# Parameters, already converted by the public layer (see distributions.py).
Uniform = namedtuple("Uniform", ["low", "span", "top"])
Normal = namedtuple("Normal", ["mean", "std"])
TruncatedNormal = namedtuple(
    "TruncatedNormal",
    ["mean", "std", "sign", "p_low", "q_high", "width", "clip_low", "clip_high",
     "q_start", "q_span", "regime"],
)
# How the elements of a truncated normal are computed, from the interval
# (distributions._central_plan): all by a rational without logarithm (every q
# within CENTRAL_LIMIT_F32), all by AS 241 (less than half of the q range
# within it: an interval mostly in a tail), or each by its own q. The first
# has a parameter type of its own, CentralTruncatedNormal, so that its
# kernels are the plain counter loop, compiled without the other two's code
# (which costs that loop a fifth of its speed when it shares a function
# with them).
CENTRAL_ONLY, MIXED, TAILS_ONLY, RATIONAL_ONLY = 0, 1, 2, 3
CentralTruncatedNormal = namedtuple("CentralTruncatedNormal", TruncatedNormal._fields)
# The float32 stream's intervals within +-3 standard deviations: every
# element by the central rational or the band's, none on the AS 241 path.
RationalTruncatedNormal = namedtuple("RationalTruncatedNormal", TruncatedNormal._fields)
# 16-bit output formats: the float32 stream, clamped to [low, high] (float32
# values representable in the format) and rounded to nearest even. Native
# float32/float64 outputs pass ``None`` as their format.
Float16 = namedtuple("Float16", ["low", "high"])
BFloat16 = namedtuple("BFloat16", ["low", "high"])

_U64 = np.uint64
_F32 = np.float32
_F64 = np.float64
_MASK32 = np.uint64(0xFFFFFFFF)


# --------------------------------------------------------------------------
# Words -> unit floats (the converters of the spec).
# --------------------------------------------------------------------------
@inline
def unit_f32(w):
    """[0, 1) on the 2**-24 grid: (w >> 8) * 2**-24. Never 1. (w >> 8 < 2**24
    converts exactly from int32, in 32-bit vector lanes.)"""
    return _F32(np.int32(w >> _U64(8))) * _F32(2.0**-24)


@inline
def word_pair_u53(lo, hi):
    """The top 53 bits of the 64-bit word (hi << 32) | lo."""
    return ((_U64(hi) << _U64(32)) | _U64(lo)) >> _U64(11)


@inline
def unit_f64(lo, hi):
    """[0, 1) on the 2**-53 grid. Never 1."""
    return _F64(word_pair_u53(lo, hi)) * _F64(2.0**-53)


@inline
def open_unit_f32_as_f64(w):
    """(2w + 1) * 2**-33 in (0, 1), exact in float64; 1 - u is exact too."""
    return _F64(w) * _F64(2.0**-32) + _F64(2.0**-33)


@inline
def open_unit_f64(lo, hi):
    """(2k + 1) * 2**-53 in (0, 1) from the top 52 bits k; exact, 1 - u exact."""
    k = ((_U64(hi) << _U64(32)) | _U64(lo)) >> _U64(12)
    return _F64(k) * _F64(2.0**-52) + _F64(2.0**-53)


# --------------------------------------------------------------------------
# Transforms: one per (parameter type, output width).
# --------------------------------------------------------------------------
@inline
def _uniform_f32(p, w):
    v = _F32(p.low) + _F32(p.span) * unit_f32(w)
    top = _F32(p.top)
    return v if v < top else top


def _uniform_block_intrinsic(streamed, width=32):
    """The intrinsic uniform_block_f32 (ordinary stores), its streaming twin
    (streamed True: two more arguments, lead and carry), or uniform_block_f64
    (width 64: float64 outputs, ordinary stores)."""
    element = types.float32 if width == 32 else types.float64

    def uniform_block(dst, start, first_counter, count, c2, c3, k0, k1, low, span, top, *more):
        import sys
        if sys.byteorder != "little":
            return None
        if not (isinstance(dst, types.Array) and dst.ndim == 1 and dst.layout == "C"
                and dst.dtype == element and isinstance(count, types.IntegerLiteral)
                and low == span == top == element):
            return None
        if count.literal_value % (VECTOR_LANES * VECTOR_CHAINS):
            return None
        if len(more) != (2 if streamed else 0) or streamed and not (
                isinstance(more[0], types.Integer) and isinstance(more[1], types.Array) and more[1].ndim == 1
                and more[1].layout == "C" and more[1].dtype == types.float32):
            return None
        total = count.literal_value

        def codegen(context, builder, signature, args):
            from llvmlite import ir
            i32, i64 = ir.IntType(32), ir.IntType(64)
            array = context.make_array(signature.args[0])(context, builder, args[0])
            _, start, first, _, c2, c3, k0, k1, low, span, top = args[:11]
            start = context.cast(builder, start, signature.args[1], types.intp)
            vf = ir.VectorType(ir.FloatType() if width == 32 else ir.DoubleType(), VECTOR_LANES)
            v32 = ir.VectorType(i32, VECTOR_LANES)
            v64 = ir.VectorType(i64, VECTOR_LANES)
            low, span, top = (splat(builder, x, vf) for x in (low, span, top))
            marker = builder.module.add_metadata([ir.Constant(i32, 1)])
            iota = ir.Constant(v32, list(range(VECTOR_LANES)))

            def clamped(unit):
                v = builder.fadd(low, builder.fmul(span, unit))
                return builder.select(builder.fcmp_ordered("<", v, top), v, top)

            def value(words):  # unit_f32: (w >> 8) * 2**-24, converted from int32
                grid = splat(builder, ir.Constant(ir.FloatType(), 2.0**-24), vf)
                eight = splat(builder, ir.Constant(i32, 8), v32)
                return clamped(builder.fmul(builder.sitofp(builder.lshr(words, eight), vf), grid))

            def value64(lo, hi):  # unit_f64: the top 53 bits of (hi << 32) | lo, times 2**-53
                wide = builder.or_(builder.shl(builder.zext(hi, v64), splat(builder, ir.Constant(i64, 32), v64)),
                                   builder.zext(lo, v64))
                bits = builder.lshr(wide, splat(builder, ir.Constant(i64, 11), v64))  # < 2**53: exact as signed
                grid = splat(builder, ir.Constant(ir.DoubleType(), 2.0**-53), vf)
                return clamped(builder.fmul(builder.sitofp(bits, vf), grid))

            def pointer(base, place):
                return builder.bitcast(builder.gep(base, [place]), vf.as_pointer())

            def put(place, v):
                if streamed:
                    builder.store(v, pointer(array.data, place), align=64).set_metadata("nontemporal", marker)
                else:
                    builder.store(v, pointer(array.data, place), align=width // 8)

            if width == 64:  # element j of counter u from words 2j and 2j + 1
                def store(u, words):
                    for j in range(2):
                        put(builder.add(start, ir.Constant(start.type, j * total + u)),
                            value64(words[2 * j], words[2 * j + 1]))
                philox_vectors_ir(builder, first, total, c2, c3, k0, k1, store)
                return context.get_dummy_value()
            if not streamed:
                def store(u, words):
                    for j in range(4):
                        put(builder.add(start, ir.Constant(start.type, j * total + u)), value(words[j]))
                philox_vectors_ir(builder, first, total, c2, c3, k0, k1, store)
                return context.get_dummy_value()

            # Streamed: the lines of dst from start + lead on, each whole
            # (docs of uniform_block_f32_streamed).
            lead = context.cast(builder, args[11], signature.args[11], types.intp)
            carry = context.make_array(signature.args[12])(context, builder, args[12])
            lead32 = splat(builder, builder.trunc(lead, i32), v32)
            shift = builder.add(lead32, iota)
            last = total - VECTOR_LANES
            origin = builder.add(start, lead)  # dst's first whole line

            def offsets(u):
                t = builder.add(shift, splat(builder, ir.Constant(i32, u), v32))
                if u != last:
                    return t
                size = splat(builder, ir.Constant(i32, total), v32)
                return builder.select(builder.icmp_unsigned(">=", t, size), builder.sub(t, size), t)

            ahead = builder.icmp_unsigned("<", iota, builder.sub(splat(builder, ir.Constant(i32, VECTOR_LANES), v32),
                                                                 lead32))  # lanes before the wrap

            def store(u, words):
                values = [value(w) for w in words]
                if u != last:
                    for j in range(4):
                        put(builder.add(origin, ir.Constant(start.type, j * total + u)), values[j])
                    return
                for j in range(3):  # the lines across the runs of words j and j + 1
                    put(builder.add(origin, ir.Constant(start.type, j * total + u)),
                        builder.select(ahead, values[j], values[j + 1]))
                end = builder.add(origin, ir.Constant(start.type, 3 * total + u))
                with builder.if_else(builder.icmp_signed("==", lead, ir.Constant(lead.type, 0))) as (whole, across):
                    with whole:
                        put(end, values[3])
                    with across:  # the line before start + lead: the last block's end and this one's start
                        held = pointer(carry.data, lead)
                        put(builder.sub(origin, ir.Constant(start.type, VECTOR_LANES)),
                            builder.select(ahead, builder.load(held, align=4), values[0]))
                        builder.store(values[3], held, align=4)

            philox_vectors_ir(builder, first, total, c2, c3, k0, k1, store, offsets)
            return context.get_dummy_value()

        return types.none(dst, start, first_counter, count, c2, c3, k0, k1, low, span, top, *more), codegen

    if streamed:
        def uniform_block_f32_streamed(typingctx, dst, start, first_counter, count, c2, c3, k0, k1, low, span, top,
                                       lead, carry):
            return uniform_block(dst, start, first_counter, count, c2, c3, k0, k1, low, span, top, lead, carry)
        return intrinsic(uniform_block_f32_streamed)

    if width == 64:
        def uniform_block_f64(typingctx, dst, start, first_counter, count, c2, c3, k0, k1, low, span, top):
            return uniform_block(dst, start, first_counter, count, c2, c3, k0, k1, low, span, top)
        return intrinsic(uniform_block_f64)

    def uniform_block_f32(typingctx, dst, start, first_counter, count, c2, c3, k0, k1, low, span, top):
        return uniform_block(dst, start, first_counter, count, c2, c3, k0, k1, low, span, top)
    return intrinsic(uniform_block_f32)


#: uniform_block_f32(dst, start, first_counter, count, c2, c3, k0, k1, low, span, top):
#: ``_uniform_f32`` of the Philox words of ``count`` counters from
#: ``first_counter``, in the layout of philox_block_words (word ``j`` of
#: counter ``first_counter + u`` gives dst[start + j * count + u]), computed
#: in 32-bit vector lanes from the words in registers and stored once:
#: ``low + span * ((w >> 8) * 2**-24)``, then ``top`` where that is not below
#: it, every operation the same IEEE float32 operation as in _uniform_f32
#: (no contraction into fused multiply-adds: LLVM fuses only where fast-math
#: flags allow it, and these carry none). ``low``, ``span`` and ``top`` are
#: float32.
uniform_block_f32 = _uniform_block_intrinsic(False)
#: uniform_block_f32_streamed(dst, start, first_counter, count, c2, c3, k0, k1, low, span, top, lead, carry):
#: the same values, written with non-temporal 64-byte stores (they bypass the
#: caches) of whole 64-byte lines: dst[start + lead] lies on a 64-byte
#: boundary (0 <= lead < 16). Each vector of counters is chosen so that its
#: words fill such a line, lane for lane, without a permutation: counters
#: lead + u .. lead + u + 15 give the lines at start + lead + j * count + u,
#: and the block's remaining counters (the wrap of the last vector) the lines
#: across the runs of words j and j + 1, half from each. With lead 0 that is
#: every element of the block. With lead > 0, the line that holds the block's
#: first ``lead`` elements also holds the last block's final ``16 - lead``,
#: which the last call left in carry[lead:16]: it is written now, and this
#: block's final ``16 - lead`` elements are left in carry[lead:16] in turn
#: (carry[lead + 16 - lead:lead + 16] is overwritten). The caller writes what
#: is left at the end, and must not start a run with lead > 0 here (the first
#: line's earlier elements would come from carry).
uniform_block_f32_streamed = _uniform_block_intrinsic(True)
#: uniform_block_f64(dst, start, first_counter, count, c2, c3, k0, k1, low, span, top):
#: ``_uniform_f64`` of the same words into a float64 dst (element ``j`` of
#: counter ``first_counter + u``, from its words 2j and 2j + 1, at
#: dst[start + j * count + u]), in 64-bit vector lanes from the words in
#: registers: ``low + span * (((w1 << 32 | w0) >> 11) * 2**-53)``, then
#: ``top`` where that is not below it, the same IEEE float64 operations as
#: _uniform_f64. ``low``, ``span`` and ``top`` are float64.
uniform_block_f64 = _uniform_block_intrinsic(False, 64)


@inline
def _uniform_f64(p, lo, hi):
    v = _F64(p.low) + _F64(p.span) * unit_f64(lo, hi)
    return v if v < p.top else _F64(p.top)


@inline
def open_f32(w):
    """fl32(w) * 2**-32 + 2**-33 in float32, in (0, 1] (Box-Muller's u1)."""
    return _F32(w) * _F32(2.0**-32) + _F32(2.0**-33)


@inline
def box_muller_f32(w0, w1):
    """Two standard normals from two words: u1 = (w0 + 1/2) * 2**-32 rounded
    to float32 (in (0, 1]), angle = (w1 >> 8) / 2**24 turns."""
    r = math.sqrt(_F32(-2.0) * log_f32(open_f32(w0)))  # math.sqrt: compiles for CUDA too
    s, c = sincos_turns_f32(w1 >> _U64(8))
    return r * c, r * s


@inline
def truncated_probability(p, u):
    """The lower-tail probability an element's u maps to, signed: +P when it is
    taken on the lower side of the (mirrored) interval, -Q on the upper side.

    Probabilities below 1/2 come from the lower tail, above 1/2 from the
    upper tail, so neither side loses relative precision."""
    lower = p.p_low + u * p.width
    upper = p.q_high + (_F64(1.0) - u) * p.width
    return lower if lower <= _F64(0.5) else -upper


def _scalar_dtype(like):
    """The Numba scalar type of like (an array, or a scalar of that type)."""
    return getattr(like, "dtype", like)


def _to_dtype_of(like, x):
    """Stub: x rounded to like's dtype."""


@overload(_to_dtype_of, jit_options=INLINE_OPTIONS)
def _to_dtype_of_overload(like, x):
    if _scalar_dtype(like) == types.float32:
        return lambda like, x: _F32(x)
    return lambda like, x: _F64(x)


@inline
def truncated_value(p, like, signed_probability, z):
    """The output value from the quantile z of |signed_probability|."""
    z = z if signed_probability > _F64(0.0) else -z
    v = _to_dtype_of(like, _F64(p.mean) + _F64(p.std) * (_F64(p.sign) * z))
    lo = _to_dtype_of(like, p.clip_low)
    hi = _to_dtype_of(like, p.clip_high)
    v = v if v > lo else lo
    return v if v < hi else hi


@inline
def truncated_central_f32(p, w):
    """The value of a float32-stream element from its word: q = q_start +
    q_span * unit24(w) in float32, value = mean + std * Phi^-1(1/2 + q) in
    float32, clamped to [clip_low, clip_high]. Valid where |q| <=
    CENTRAL_LIMIT_F32 (regime CENTRAL_ONLY)."""
    q = _F32(p.q_start) + _F32(p.q_span) * unit_f32(w)
    v = _F32(p.mean) + _F32(p.std) * ndtri_central_f32(q)
    lo = _F32(p.clip_low)
    hi = _F32(p.clip_high)
    v = v if v > lo else lo
    return v if v < hi else hi


@inline
def truncated_rational_f32(p, w):
    """(on a rational branch, value) of a float32-stream element from its
    word: the central branch where |q| <= CENTRAL_LIMIT_F32, else the band on
    its lower-tail probability, in float32: P = p_low + width * open_f32(w)
    on the lower side, Q = q_high + width * open_f32(~w) (its complement word,
    so 1 - u is exact) on the upper. The caller sends elements whose
    probability lies below BAND_LOW_F32 to truncated_tail_f32."""
    q = _F32(p.q_start) + _F32(p.q_span) * unit_f32(w)
    width = _F32(p.width)
    lower = _F32(p.p_low) + width * open_f32(w)
    upper = _F32(p.q_high) + width * open_f32(_MASK32 ^ w)
    lower_side = lower <= _F32(0.5)
    probability = lower if lower_side else upper
    z = ndtri_rational_f32(q, probability)
    central = abs(q) <= CENTRAL_LIMIT_F32
    z = z if central else (z if lower_side else -z) * _F32(p.sign)
    v = _F32(p.mean) + _F32(p.std) * z
    lo = _F32(p.clip_low)
    hi = _F32(p.clip_high)
    v = v if v > lo else lo
    return central or probability >= BAND_LOW_F32, (v if v < hi else hi)


@inline
def truncated_tail_f32(p, like, w):
    """The float32 value of an element on the tail path: AS 241 in float64
    on its open32 uniform; like is a float32 array."""
    s = truncated_probability(p, open_unit_f32_as_f64(w))
    return truncated_value(p, like, s, ndtri_lower_f64(abs(s)))


def _values(params, out, w0, w1, w2, w3):
    """Stub: the output elements of one counter (a tuple of E values)."""


@overload(_values, jit_options=INLINE_OPTIONS)
def _values_overload(params, out, w0, w1, w2, w3):
    is32 = _scalar_dtype(out).bitwidth <= 32
    name = getattr(params, "instance_class", None)
    if name is Uniform:
        if is32:
            return lambda params, out, w0, w1, w2, w3: (
                _uniform_f32(params, w0), _uniform_f32(params, w1),
                _uniform_f32(params, w2), _uniform_f32(params, w3))
        return lambda params, out, w0, w1, w2, w3: (
            _uniform_f64(params, w0, w1), _uniform_f64(params, w2, w3))
    if name is Normal:
        if is32:
            def normal32(params, out, w0, w1, w2, w3):
                m = _F32(params.mean)
                s = _F32(params.std)
                z0, z1 = box_muller_f32(w0, w1)
                z2, z3 = box_muller_f32(w2, w3)
                return m + s * z0, m + s * z1, m + s * z2, m + s * z3
            return normal32
        return None  # float64 normals come from the ziggurat block (_ziggurat_block)
    if name is RationalTruncatedNormal:
        return lambda params, out, w0, w1, w2, w3: (
            truncated_rational_f32(params, w0)[1], truncated_rational_f32(params, w1)[1],
            truncated_rational_f32(params, w2)[1], truncated_rational_f32(params, w3)[1])
    if name is CentralTruncatedNormal:
        if is32:
            return lambda params, out, w0, w1, w2, w3: (
                truncated_central_f32(params, w0), truncated_central_f32(params, w1),
                truncated_central_f32(params, w2), truncated_central_f32(params, w3))
        return None  # float64: _central_block64
    return None


@inline
def _truncated_resolved_f32(p, like, w):
    """A float32-stream truncated-normal element from its word alone, its
    tail path included: what _truncated_block32 and its pending list give."""
    if p.regime == TAILS_ONLY:
        return truncated_tail_f32(p, like, w)
    rational, v = truncated_rational_f32(p, w)
    return v if rational else truncated_tail_f32(p, like, w)


@inline
def _truncated_resolved_f64(p, like, lo, hi):
    """A float64-stream truncated-normal element from its word pair alone:
    AS 241's band or central rational where the probability allows it, its
    lower branch otherwise (what _truncated_block, _central_block64 and the
    pending list give: the central rational and the band's agree bit for bit
    on the central range)."""
    s = truncated_probability(p, open_unit_f64(lo, hi))
    a = abs(s)
    if p.regime != TAILS_ONLY and in_band_or_central(a):
        return truncated_value(p, like, s, ndtri_band_f64(a))
    return truncated_value(p, like, s, ndtri_lower_f64(a))


@inline
def _ziggurat_resolved(p, i, lo, hi, k0, k1):
    """The float64 normal element i from its draw's word pair, its slow path
    (attempts 1, 2, ...) included: what _ziggurat_block and _ziggurat_flush give."""
    d = draw(lo, hi)
    z, slow = fast_path(d)
    if slow:
        z = resolve(i, d, _U64(1), k0, k1)
    return _F64(p.mean) + _F64(p.std) * z


@inline
def _counter_words(c, k0, k1, c2, c3):
    """The four Philox words of the stream's counter c."""
    return philox4x32_10(c & _MASK32, c >> _U64(32), c2, c3, k0, k1)


def _counter_values(params, like, c, k0, k1, c2, c3):
    """Stub: the E values of counter c of the stream, every element resolved."""


@overload(_counter_values, jit_options=INLINE_OPTIONS)
def _counter_values_overload(params, like, c, k0, k1, c2, c3):
    kind = getattr(params, "instance_class", None)
    is32 = _scalar_dtype(like).bitwidth <= 32
    words = _counter_words
    if kind is TruncatedNormal and is32:
        def truncated32(params, like, c, k0, k1, c2, c3):
            w0, w1, w2, w3 = words(c, k0, k1, c2, c3)
            return (_truncated_resolved_f32(params, like, w0), _truncated_resolved_f32(params, like, w1),
                    _truncated_resolved_f32(params, like, w2), _truncated_resolved_f32(params, like, w3))
        return truncated32
    if kind in (TruncatedNormal, CentralTruncatedNormal) and not is32:
        def truncated64(params, like, c, k0, k1, c2, c3):
            w0, w1, w2, w3 = words(c, k0, k1, c2, c3)
            return _truncated_resolved_f64(params, like, w0, w1), _truncated_resolved_f64(params, like, w2, w3)
        return truncated64
    if kind is Normal and not is32:
        def ziggurat(params, like, c, k0, k1, c2, c3):
            w0, w1, w2, w3 = words(c, k0, k1, c2, c3)
            i = (c >> _U64(7)) * _U64(2 * LANES) + (c & _U64(LANES - 1))  # element 0's global index
            return (_ziggurat_resolved(params, i, w0, w1, k0, k1),
                    _ziggurat_resolved(params, i + _U64(LANES), w2, w3, k0, k1))
        return ziggurat

    def plain(params, like, c, k0, k1, c2, c3):
        w0, w1, w2, w3 = words(c, k0, k1, c2, c3)
        return _values(params, like, w0, w1, w2, w3)
    return plain


@inline
def counter_values(params, like, fmt, c, k0, k1, c2, c3):
    """The E output values of the stream's counter c (E = 4 for the float32
    stream, 2 for float64), each element resolved on its own (the tail and
    slow paths included), as stored in fmt (16-bit formats: their bits).

    Value j is the stream's element ``(c // LANES) * E * LANES + j * LANES +
    c % LANES``. This is the element arithmetic of the blocked kernels, per
    counter: the GPU kernels (fastinit/cuda) run one counter per thread with
    it. like is a scalar of the stream's dtype (np.float32 or np.float64)."""
    return _encoded(fmt, _counter_values(params, like, c, k0, k1, c2, c3))


def _encoded(fmt, values):
    """Stub: each of the values as stored in fmt."""


@overload(_encoded, jit_options=INLINE_OPTIONS)
def _encoded_overload(fmt, values):
    if len(values) == 4:
        return lambda fmt, values: (_encode(fmt, values[0]), _encode(fmt, values[1]), _encode(fmt, values[2]),
                                    _encode(fmt, values[3]))
    return lambda fmt, values: (_encode(fmt, values[0]), _encode(fmt, values[1]))


def _store(dst, start, t, values):
    """Stub: write the E values of counter t of a block starting at dst[start]."""


@overload(_store, jit_options=INLINE_OPTIONS)
def _store_overload(dst, start, t, values):
    if len(values) == 4:
        def store4(dst, start, t, values):
            dst[start + t] = values[0]
            dst[start + _U64(LANES) + t] = values[1]
            dst[start + _U64(2 * LANES) + t] = values[2]
            dst[start + _U64(3 * LANES) + t] = values[3]
        return store4

    def store2(dst, start, t, values):
        dst[start + t] = values[0]
        dst[start + _U64(LANES) + t] = values[1]
    return store2


def _per_counter(out):
    """Stub: elements per counter for out's dtype (a compile-time constant;
    out is an array or a scalar of its dtype)."""


@overload(_per_counter, jit_options=INLINE_OPTIONS)
def _per_counter_overload(out):
    e = 4 if _scalar_dtype(out).bitwidth <= 32 else 2  # 16-bit outputs use the float32 stream
    return lambda out: e


@inline
def _counter_loop(dst, start, cbase, params, k0, k1, c2, c3, like):
    """dst[start : start + E*LANES] = the values of the block whose first
    counter is cbase, for an output of like's dtype."""
    prefer_wide_vectors()
    base = _U64(start)
    for u in range(_U64(LANES)):
        c = cbase + u
        w0, w1, w2, w3 = philox4x32_10(c & _MASK32, c >> _U64(32), c2, c3, k0, k1)
        _store(dst, base, u, _values(params, like, w0, w1, w2, w3))


@inline
def _words_of(words, t):
    """The four Philox words of counter t of a block that philox_block_words
    wrote into the uint32 array words (word j at j * LANES + t)."""
    return (_U64(words[t]), _U64(words[_U64(LANES) + t]), _U64(words[_U64(2 * LANES) + t]),
            _U64(words[_U64(3 * LANES) + t]))


@inline
def _values_in_place(dst, start, params):
    """dst[start : start + 4*LANES] holds a block's Philox words (each word
    at its element's place, as float32 bits): replace them with the block's
    values, one vector loop over the block's counters."""
    prefer_wide_vectors()
    base = _U64(start)
    for t in range(_U64(LANES)):
        w0 = _U64(_F32(dst[base + t]).view(np.uint32))
        w1 = _U64(_F32(dst[base + _U64(LANES) + t]).view(np.uint32))
        w2 = _U64(_F32(dst[base + _U64(2 * LANES) + t]).view(np.uint32))
        w3 = _U64(_F32(dst[base + _U64(3 * LANES) + t]).view(np.uint32))
        _store(dst, base, t, _values(params, dst, w0, w1, w2, w3))


@inline
def _vector_block32(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    """A float32-stream block of a transform of its counter's words (the
    Box-Muller normal, the truncated normal's rational regimes): the block's words from
    Philox in 32-bit vector lanes (philox_block_words), written where the
    values go, then replaced by the values."""
    philox_block_words(dst, start, cbase, LANES, c2, c3, k0, k1)
    _values_in_place(dst, start, params)


@inline
def _uniform_block32(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    """A float32-stream block of the uniform: the values computed from the
    words in registers (uniform_block_f32), each stored once."""
    uniform_block_f32(dst, start, cbase, LANES, c2, c3, k0, k1, _F32(params.low), _F32(params.span), _F32(params.top))


@inline
def _uniform_block64(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    """A float64 block of the uniform, from the words in registers
    (uniform_block_f64), each value stored once."""
    uniform_block_f64(dst, start, cbase, LANES, c2, c3, k0, k1, _F64(params.low), _F64(params.span), _F64(params.top))


_BLOCK32 = 4 * LANES  # float32 elements per block
_BLOCK64 = 2 * LANES  # float64 elements per block
#: Truncated-normal elements on the tail path (a logarithm, a square root and
#: a rational in float64) wait in a list, resolved once it holds this many:
#: a block has only a few, too few for a vector loop of their own.
TAIL_FLUSH_AT = 256
#: The list's capacity: a flush leaves it empty, one block adds at most 512.
TAIL_PENDING = TAIL_FLUSH_AT + _BLOCK32

# A thread's working memory for truncated-normal blocks: per element of the
# block its word (32-bit stream) or signed probability (64-bit stream) and a
# tail flag (as bytes and as 64-bit words, one buffer); the flagged positions;
# and the pending tail elements: count, place in dst, signed probability,
# quantile.
TruncatedScratch = namedtuple(
    "TruncatedScratch", ["block", "flags", "flag_words", "tails", "count", "place", "signed", "quantile", "words"])


@inline
def _flagged(flag_words, tails):
    """List in tails the positions of the set flag bytes; return how many.
    Almost every word of eight flags is zero, so this is a scan of words."""
    m = _U64(0)
    for k in range(_U64(flag_words.size)):
        word = flag_words[k]
        while word:
            tails[m] = k * _U64(8) + (_U64(trailing_zeros(word)) >> _U64(3))
            word &= word - _U64(1)
            m += _U64(1)
    return m


@inline
def _truncated_flush(dst, params, k0, k1, c2, c3, scratch):
    """Resolve the pending tail elements of dst: AS 241 on their
    probabilities in one vector loop, then their values."""
    prefer_wide_vectors()
    count, place, signed, quantile = scratch.count, scratch.place, scratch.signed, scratch.quantile
    m = count[0]
    for k in range(m):  # contiguous, so this loop vectorizes
        quantile[k] = ndtri_lower_f64(abs(signed[k]))
    for k in range(m):
        dst[place[k]] = truncated_value(params, dst, signed[k], quantile[k])
    count[0] = 0


@inline
def _pend(dst, base, m, params, k0, k1, c2, c3, scratch, signed_of):
    """Append the m flagged elements of the block at dst[base] to the pending
    list (signed_of(params, scratch.block[i]) is element i's probability);
    flush the list once it is long enough."""
    count, place, signed, tails, block = scratch.count, scratch.place, scratch.signed, scratch.tails, scratch.block
    n = count[0]
    for k in range(m):
        i = tails[k]
        place[n + k] = base + i
        signed[n + k] = signed_of(params, block[i])
    count[0] = n + m
    if n + m >= _U64(TAIL_FLUSH_AT):
        _truncated_flush(dst, params, k0, k1, c2, c3, scratch)


@inline
def _signed_of_word(params, w):
    return truncated_probability(params, open_unit_f32_as_f64(w))


@inline
def _signed_as_is(params, s):
    return s


@inline
def _truncated_block32(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    """The float32-stream truncated-normal block, regimes MIXED and
    TAILS_ONLY (CENTRAL_ONLY is the counter loop of CentralTruncatedNormal).
    Every element whose float32 q lies within CENTRAL_LIMIT_F32 takes the
    central rational and every other one with probability >= BAND_LOW_F32 the
    band's, in one vector loop; the others (flagged, then pending) take
    AS 241 in float64. c2 and c3 are (TRUNCATED_NORMAL_ID, 32) here, as
    constants: they spare the loops two broadcasts."""
    prefer_wide_vectors()
    base = _U64(start)
    words, flags = scratch.block, scratch.flags
    c2 = _U64(TRUNCATED_NORMAL_ID)
    c3 = _U64(32)
    philox_block_words(words, 0, cbase, LANES, c2, c3, k0, k1)
    if params.regime == TAILS_ONLY:  # a whole block of tail elements: one vector loop
        for i in range(_U64(_BLOCK32)):
            dst[base + i] = truncated_tail_f32(params, dst, words[i])
    else:
        for i in range(_U64(_BLOCK32)):
            rational, v = truncated_rational_f32(params, words[i])
            dst[base + i] = v
            flags[i] = not rational
        m = _flagged(scratch.flag_words, scratch.tails)
        _pend(dst, base, m, params, k0, k1, c2, c3, scratch, _signed_of_word)


@inline
def _probabilities64(probability, words, cbase, params, k0, k1):
    """The signed probabilities of a float64 block's elements, in one vector
    loop over the block's Philox words (from the vector Philox, into words);
    counter words 2 and 3 are (TRUNCATED_NORMAL_ID, 64), as constants."""
    prefer_wide_vectors()
    philox_block_words(words, 0, cbase, LANES, _U64(TRUNCATED_NORMAL_ID), _U64(64), k0, k1)
    for t in range(_U64(LANES)):
        w0, w1, w2, w3 = _words_of(words, t)
        _store(probability, _U64(0), t, (truncated_probability(params, open_unit_f64(w0, w1)),
                                         truncated_probability(params, open_unit_f64(w2, w3))))


@inline
def _values64(dst, base, probability, params, quantile):
    """dst[base + i] = the value of the block's element i from its signed
    probability, by quantile(|probability|), in one vector loop."""
    prefer_wide_vectors()
    for i in range(_U64(_BLOCK64)):
        s = probability[i]
        dst[base + i] = truncated_value(params, dst, s, quantile(abs(s)))


@inline
def _truncated_block(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    """The float64 truncated-normal block, regimes MIXED and TAILS_ONLY
    (CENTRAL_ONLY is _central_block64): every element by AS 241, or each by
    its own probability, the few below BAND_LOW flagged and pending."""
    base = _U64(start)  # unsigned indices: no negative-index wraparound in the loops
    prefer_wide_vectors()
    probability, flags = scratch.block, scratch.flags
    _probabilities64(probability, scratch.words, cbase, params, k0, k1)
    if params.regime == TAILS_ONLY:
        _values64(dst, base, probability, params, ndtri_lower_f64)
    else:
        for i in range(_U64(_BLOCK64)):
            s = probability[i]
            p = abs(s)
            dst[base + i] = truncated_value(params, dst, s, ndtri_band_f64(p if in_band_or_central(p) else BAND_LOW))
            flags[i] = not in_band_or_central(p)
        m = _flagged(scratch.flag_words, scratch.tails)
        _pend(dst, base, m, params, k0, k1, c2, c3, scratch, _signed_as_is)


@inline
def _central_block64(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    """The float64 block of CentralTruncatedNormal (every element within
    ndtri_band_f64's range): the probabilities in one vector loop, then the
    values in another, by AS 241's central rational alone when no element of
    the block needs the band (the same bits, without the per-lane choice of
    coefficients)."""
    base = _U64(start)
    prefer_wide_vectors()
    probability = scratch.block
    _probabilities64(probability, scratch.words, cbase, params, k0, k1)
    lowest = _F64(0.5)
    for i in range(_U64(_BLOCK64)):
        p = abs(probability[i])
        lowest = p if p < lowest else lowest
    if as241_is_central(lowest):
        _values64(dst, base, probability, params, ndtri_central_f64)
    else:
        _values64(dst, base, probability, params, ndtri_band_f64)


#: Elements of ziggurat blocks that left the fast path (about 1.1 per block)
#: wait in a list, which is resolved once it holds this many: enough for
#: vector loops, soon enough that their places in dst are still in cache.
FLUSH_AT = 32
#: The list's capacity: a flush leaves it empty, one block adds at most 256.
PENDING = FLUSH_AT + _BLOCK64

# A thread's working memory for ziggurat blocks: the fast path's flags (as
# bytes and as 64-bit words, one buffer), the pending count, and per pending
# element its global index, its place in dst, its draw, value and whether
# the first batched attempt resolved it.
ZigguratScratch = namedtuple(
    "ZigguratScratch", ["flags", "flag_words", "count", "index", "place", "draws", "values", "done", "words"])


@inline
def _ziggurat_block(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    """The float64 normal block: the block's Philox words from the vector
    Philox (philox_block_words, into scratch.words), the fast path of every
    element in one vector loop, then the few elements that left it appended
    to the pending list (resolved by _ziggurat_flush). The counter words 2
    and 3 are the normal float64 stream's own (NORMAL_ID, 64), as constants:
    c2 and c3 hold the same values."""
    prefer_wide_vectors()
    base = _U64(start)
    mean = _F64(params.mean)
    std = _F64(params.std)
    flags, flag_words, count = scratch.flags, scratch.flag_words, scratch.count
    index, place, words = scratch.index, scratch.place, scratch.words
    philox_block_words(words, 0, cbase, LANES, _U64(NORMAL_ID), _U64(64), k0, k1)
    for t in range(_U64(LANES)):
        w0, w1, w2, w3 = _words_of(words, t)
        z0, slow0 = fast_path(draw(w0, w1))
        z1, slow1 = fast_path(draw(w2, w3))
        dst[base + t] = mean + std * z0
        dst[base + _U64(LANES) + t] = mean + std * z1
        flags[t] = slow0
        flags[_U64(LANES) + t] = slow1
    # Eight flag bytes per word: almost every word is zero, and each set
    # bit of a nonzero word is the lowest bit of a flagged element's byte.
    m = count[0]
    for q in range(_U64(_BLOCK64 // 8)):
        word = flag_words[q]
        while word:
            r = q * _U64(8) + (_U64(trailing_zeros(word)) >> _U64(3))
            word &= word - _U64(1)
            index[m] = cbase * _U64(2) + r  # the element's global index
            place[m] = base + r  # its position in dst
            m += _U64(1)
    count[0] = m
    if m >= _U64(FLUSH_AT):
        _ziggurat_flush(dst, params, k0, k1, c2, c3, scratch)


@inline
def _ziggurat_flush(dst, params, k0, k1, c2, c3, scratch):
    """Resolve the pending elements of dst: the first attempt of all of them
    in one vector loop, the rare ones it leaves unresolved one by one."""
    prefer_wide_vectors()
    count, index, place = scratch.count, scratch.index, scratch.place
    draws, values, done = scratch.draws, scratch.values, scratch.done
    m = count[0]
    for q in range(m):
        i = index[q]
        c = ((i >> _U64(8)) << _U64(7)) | (i & _U64(LANES - 1))  # the element's counter
        w0, w1, w2, w3 = philox4x32_10(c & _MASK32, c >> _U64(32), _U64(NORMAL_ID), _U64(64), k0, k1)
        d = draw(w2, w3) if (i >> _U64(7)) & _U64(1) else draw(w0, w1)
        ok, z, d = attempt(i, d, _U64(1), k0, k1)
        values[q] = z
        draws[q] = d
        done[q] = ok
    mean = _F64(params.mean)
    std = _F64(params.std)
    for q in range(m):
        z = values[q]
        if not done[q]:
            z = resolve(index[q], draws[q], _U64(2), k0, k1)
        dst[place[q]] = mean + std * z
    count[0] = 0


def _block(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    """Stub: fill dst[start : start + E*LANES] with one block of the stream."""


@overload(_block, jit_options=INLINE_OPTIONS)
def _block_overload(dst, start, cbase, params, k0, k1, c2, c3, scratch):
    kind = getattr(params, "instance_class", None)
    if kind is TruncatedNormal:
        return _truncated_block32.py_func if dst.dtype.bitwidth <= 32 else _truncated_block.py_func
    if kind is CentralTruncatedNormal and dst.dtype == types.float64:
        return _central_block64.py_func
    if kind is Normal and dst.dtype == types.float64:
        return _ziggurat_block.py_func
    if kind is Uniform and dst.dtype == types.float32:
        return _uniform_block32.py_func
    if kind is Uniform and dst.dtype == types.float64:
        return _uniform_block64.py_func
    if kind in (Normal, CentralTruncatedNormal, RationalTruncatedNormal) and dst.dtype == types.float32:
        return _vector_block32.py_func
    return lambda dst, start, cbase, params, k0, k1, c2, c3, scratch: _counter_loop(
        dst, start, cbase, params, k0, k1, c2, c3, dst)


def _flush(dst, params, k0, k1, c2, c3, scratch):
    """Stub: finish the elements of dst whose values wait in scratch."""


@overload(_flush, jit_options=INLINE_OPTIONS)
def _flush_overload(dst, params, k0, k1, c2, c3, scratch):
    kind = getattr(params, "instance_class", None)
    if kind is Normal and dst.dtype == types.float64:
        return _ziggurat_flush.py_func
    if kind is TruncatedNormal:
        return _truncated_flush.py_func
    return lambda dst, params, k0, k1, c2, c3, scratch: None


def _scratch(params, out):
    """Stub: working memory for one thread's blocks (allocated once per chunk)."""


@overload(_scratch, jit_options=INLINE_OPTIONS)
def _scratch_overload(params, out):
    kind = getattr(params, "instance_class", None)
    if kind is TruncatedNormal or (kind is CentralTruncatedNormal and out.dtype == types.float64):
        is32 = out.dtype.bitwidth <= 32
        per_block = _BLOCK32 if is32 else _BLOCK64
        block_type = np.uint32 if is32 else np.float64

        def truncated_scratch(params, out):
            flag_words = np.empty(per_block // 8, np.uint64)
            return TruncatedScratch(np.empty(per_block, block_type), flag_words.view(np.bool_), flag_words,
                                    np.empty(per_block, np.uint64), np.zeros(1, np.uint64),
                                    np.empty(TAIL_PENDING, np.uint64), np.empty(TAIL_PENDING, np.float64),
                                    np.empty(TAIL_PENDING, np.float64), np.empty(4 * LANES, np.uint32))
        return truncated_scratch
    if kind is Normal and out.dtype == types.float64:
        def ziggurat_scratch(params, out):
            flag_words = np.empty(_BLOCK64 // 8, np.uint64)
            return ZigguratScratch(flag_words.view(np.bool_), flag_words, np.zeros(1, np.uint64),
                                   np.empty(PENDING, np.uint64), np.empty(PENDING, np.uint64),
                                   np.empty(PENDING, np.uint64), np.empty(PENDING, np.float64),
                                   np.empty(PENDING, np.bool_), np.empty(4 * LANES, np.uint32))
        return ziggurat_scratch
    return lambda params, out: None


@inline
def _geometry(out, offset):
    """(number of blocks, first block, elements of the first block before offset)."""
    per_block = _U64(_per_counter(out) * LANES)
    first = offset // per_block
    head = np.int64(offset - first * per_block)
    count = (head + out.size + np.int64(per_block) - 1) // np.int64(per_block)
    return count, first, head


def _staging(out, n):
    """Stub: a block buffer in the dtype the stream is computed in."""


@overload(_staging, jit_options=INLINE_OPTIONS)
def _staging_overload(out, n):
    if out.dtype == types.uint16:
        return lambda out, n: np.empty(n, np.float32)
    return lambda out, n: np.empty(n, out.dtype)


def _encode(fmt, value):
    """Stub: a computed value as stored in the output format."""


@overload(_encode, jit_options=INLINE_OPTIONS)
def _encode_overload(fmt, value):
    kind = getattr(fmt, "instance_class", None)
    if kind is Float16 or kind is BFloat16:
        to_bits = f32_to_f16_bits if kind is Float16 else f32_to_bf16_bits

        def encode16(fmt, value):
            v = value if value > _F32(fmt.low) else _F32(fmt.low)
            v = v if v < _F32(fmt.high) else _F32(fmt.high)
            return to_bits(v)
        return encode16
    return lambda fmt, value: value


def _is_native(fmt):
    """Stub: True when values are stored as computed (float32, float64)."""


@overload(_is_native, jit_options=INLINE_OPTIONS)
def _is_native_overload(fmt):
    native = isinstance(fmt, types.NoneType)
    return lambda fmt: native


#: Native outputs of at least this many bytes are written with non-temporal
#: stores: an output much larger than the caches is then not read into them
#: first. The float32 uniform stores its values so as they are computed, by
#: whole 64-byte lines (_stream_direct; a run's first block off a line goes
#: through staging); other distributions go through a staging buffer
#: (``_jit.stream_store``). By
#: output dtype, the distributions where that pays (STREAMED): the float64
#: ziggurat is bound by its arithmetic and loses the staging copy's time
#: (0.45 against 0.37-0.40 G/s at 1e8 on one thread), the float32 Box-Muller
#: normal gains (1.12-1.14 against 1.16-1.17 on one thread, 2.13-2.14 against
#: 2.28-2.32 on two). Measured by bench/limit.py and docs/performance.md. The
#: values are the same either way.
STREAM_MIN_BYTES = 1 << 25
STREAMED = {types.float32: (Uniform, Normal, CentralTruncatedNormal, RationalTruncatedNormal),
            types.float64: (Uniform, CentralTruncatedNormal, RationalTruncatedNormal)}


def _streams(out, params, fmt, head):
    """Stub: True where out's blocks are written with non-temporal stores."""


@overload(_streams, jit_options=INLINE_OPTIONS)
def _streams_overload(out, params, fmt, head):
    if (not isinstance(fmt, types.NoneType) or out.dtype not in (types.float32, types.float64)
            or getattr(params, "instance_class", None) not in STREAMED[out.dtype]):
        return lambda out, params, fmt, head: False
    size = out.dtype.bitwidth // 8

    def streams(out, params, fmt, head):  # large, with its elements on their natural boundary
        return out.size * size >= STREAM_MIN_BYTES and out.ctypes.data % size == 0
    return streams


def _stream_lanes(out):
    """Stub: elements of out per 64-byte line (a compile-time constant)."""


@overload(_stream_lanes, jit_options=INLINE_OPTIONS)
def _stream_lanes_overload(out):
    lanes = 64 // (out.dtype.bitwidth // 8)
    return lambda out: lanes


def _stream_block(out, rel, ring, pending):
    """Stub: a block in ring[lanes:] into out[rel:] by whole 64-byte lines."""


@overload(_stream_block, jit_options=INLINE_OPTIONS)
def _stream_block_overload(out, rel, ring, pending):
    if out.dtype != ring.dtype:
        return lambda out, rel, ring, pending: 0  # 16-bit outputs never stream
    size = out.dtype.bitwidth // 8
    lanes = 64 // size

    def stream_block(out, rel, ring, pending):
        """ring[lanes:] holds the block of out[rel:], ring[lanes - pending:lanes]
        the ``pending`` elements before it that the last call left. Write every
        whole 64-byte line of out from there with non-temporal stores; keep the
        elements after the last whole line at the front of ring for the next
        block, and return their number. (pending 0: the block's elements before
        out's first 64-byte boundary go by ordinary stores, as at the start of
        a run of blocks.) Every line of out is then written by streaming stores
        whole, or by ordinary stores, never both."""
        if pending == 0:
            lead = np.int64(((-(out.ctypes.data + rel * size)) % 64) // size)
            for i in range(lead):
                out[rel + i] = ring[lanes + i]
            first = lanes + lead
        else:
            first = lanes - pending
        body = (ring.size - first) // lanes * lanes
        stream_store(out, rel - lanes + first, ring[first:first + body])
        tail = ring.size - first - body
        for i in range(tail):
            ring[lanes - tail + i] = ring[first + body + i]
        return tail
    return stream_block


def _stream_direct(out, rel, cbase, params, fmt, k0, k1, c2, c3, ring, pending):
    """Stub: write the whole block of out[rel:] with non-temporal stores of
    its values as they are computed, where the distribution can, carrying its
    last partial line in ring as _stream_block does. Returns the elements
    then pending (those of that line), or -1 where it wrote nothing."""


@overload(_stream_direct, jit_options=INLINE_OPTIONS)
def _stream_direct_overload(out, rel, cbase, params, fmt, k0, k1, c2, c3, ring, pending):
    if not (isinstance(fmt, types.NoneType) and out.dtype == types.float32
            and getattr(params, "instance_class", None) is Uniform):
        return lambda out, rel, cbase, params, fmt, k0, k1, c2, c3, ring, pending: -1

    def stream_direct(out, rel, cbase, params, fmt, k0, k1, c2, c3, ring, pending):
        lead = np.int64(((-(out.ctypes.data + rel * 4)) % 64) // 4)  # elements before out's next 64-byte line
        carried = (16 - lead) % 16  # what the last block left: its elements on that line
        if pending != carried:  # a run of blocks starting off a line: the first through staging
            return -1
        uniform_block_f32_streamed(out, rel, cbase, LANES, c2, c3, k0, k1,
                                   _F32(params.low), _F32(params.span), _F32(params.top), lead, ring)
        return carried
    return stream_direct


@inline
def _stream_pending(out, end, ring, pending):
    """Write the ``pending`` elements _stream_block left at the front of ring
    (out[end - pending:end]) by ordinary stores."""
    lanes = _stream_lanes(out)
    for i in range(pending):
        out[end - pending + i] = ring[lanes - pending + i]


@inline
def _fill_blocks(out, params, fmt, k0, k1, c2, c3, first, head, k_start, k_stop):
    """Fill the part of out covered by blocks k_start .. k_stop - 1 of the call."""
    prefer_wide_vectors()
    per_block = _per_counter(out) * LANES
    n = out.size
    scratch = _scratch(params, out)
    stream = _streams(out, params, fmt, head)
    lanes = _stream_lanes(out)
    ring = _staging(out, lanes + per_block)  # a block after a line's room: streaming's carry (_stream_block)
    staging = ring[lanes:]
    pending = 0  # elements of the last streamed block at the front of ring, not yet written
    end = 0  # out's index after that block
    for k in range(k_start, k_stop):
        rel = k * per_block - head
        cbase = (first + _U64(k)) * _U64(LANES)
        whole = rel >= 0 and rel + per_block <= n
        if _is_native(fmt) and whole and not stream:
            _block(out, rel, cbase, params, k0, k1, c2, c3, scratch)
        elif stream and whole:
            left = _stream_direct(out, rel, cbase, params, fmt, k0, k1, c2, c3, ring, pending)
            if left >= 0:
                pending = left
            else:
                _flush(out, params, k0, k1, c2, c3, scratch)  # what waits belongs to out
                _block(staging, 0, cbase, params, k0, k1, c2, c3, scratch)
                _flush(staging, params, k0, k1, c2, c3, scratch)
                pending = _stream_block(out, rel, ring, pending)
            end = rel + per_block
        else:  # a 16-bit output, or a block cut by the ends of the call
            if stream:
                _stream_pending(out, end, ring, pending)
                pending = 0
            _flush(out, params, k0, k1, c2, c3, scratch)  # what waits belongs to out
            _block(staging, 0, cbase, params, k0, k1, c2, c3, scratch)
            _flush(staging, params, k0, k1, c2, c3, scratch)
            lo = _U64(max(rel, 0))
            hi = _U64(min(rel + per_block, n))
            shift = _U64(lo - rel)  # staging index of out[lo]
            for i in range(hi - lo):
                out[lo + i] = _encode(fmt, staging[shift + i])
    _flush(out, params, k0, k1, c2, c3, scratch)
    if stream:
        _stream_pending(out, end, ring, pending)
        store_fence()


#: Parallel calls split their blocks into this many chunks per thread (each
#: chunk allocates its working memory once); the split changes no value.
CHUNKS_PER_THREAD = 8


@parallel_kernel
def fill_parallel(out, params, fmt, k0, k1, c2, c3, offset, threads, taken):
    """Fill the flat buffer out with elements offset .. offset+out.size-1 on
    ``threads`` threads (numba.get_num_threads() of the caller). Returns
    nothing: boxing ``out`` again would cost a quarter of a small fill's call.

    The blocks are cut into ``threads * CHUNKS_PER_THREAD`` chunks, and each
    thread takes the next chunk from a shared counter until none is left, so
    a thread that the operating system holds back leaves its share to the
    others. ``taken`` (uint64, at least ``threads + 1`` long) receives the
    counter in ``taken[0]`` and the chunks thread ``p`` filled in
    ``taken[1 + p]``. Which thread fills a chunk changes no value.

    out is float32 or float64 (fmt None), or uint16 holding float16 or
    bfloat16 bits (fmt a Float16 or BFloat16 tuple)."""
    count, first, head = _geometry(out, offset)
    chunks = min(count, threads * CHUNKS_PER_THREAD)
    taken[0] = 0
    for p in numba.prange(threads):
        filled = 0
        g = np.int64(fetch_add(taken, 0, 1))
        while g < chunks:
            _fill_blocks(out, params, fmt, k0, k1, c2, c3, first, head,
                         g * count // chunks, (g + 1) * count // chunks)
            filled += 1
            g = np.int64(fetch_add(taken, 0, 1))
        taken[1 + p] = filled


@kernel
def fill_serial(out, params, fmt, k0, k1, c2, c3, offset, threads=1, taken=None):
    """Same as fill_parallel on the calling thread (for small buffers)."""
    count, first, head = _geometry(out, offset)
    _fill_blocks(out, params, fmt, k0, k1, c2, c3, first, head, 0, count)


@kernel
def fill_serial_at(address, size, dtype, params, fmt, k0, k1, c2, c3, offset):
    """fill_serial on the ``size`` C-contiguous elements of ``dtype`` (a NumPy
    dtype: float32, float64, or uint16 for 16-bit formats) at ``address``:
    a small torch tensor's memory, filled without the NumPy view of it that
    would cost more than its fill."""
    fill_serial(numba.carray(address_as_pointer(address, dtype), size), params, fmt, k0, k1, c2, c3, offset)


@parallel_kernel
def constant_parallel(out, value):
    for i in numba.prange(out.size):
        out[i] = value
    return out
