"""Philox4x32-10 (Salmon et al., SC'11; Random123), compiled with Numba.

This is the bits layer: nothing here knows about floats or distributions.

The 32-bit words travel in ``uint64`` values. That form vectorizes best: one
32x32->64 product per 64-bit lane is a single ``vpmuludq``, with no packing
of high and low halves back into 32-bit lanes (measured 2.2x faster than the
same rounds written on ``uint32`` values). Between rounds the upper halves
may hold garbage: each product masks its multiplicand to 32 bits, which
``vpmuludq`` does for free, and the outputs are masked once at the end.
"""

import numpy as np
from numba import types
from numba.extending import intrinsic

from ._jit import inline, kernel, splat

# Random123 constants (philox.h): round multipliers and Weyl key increments.
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint64(0x9E3779B9)
PHILOX_W1 = np.uint64(0xBB67AE85)

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


@inline
def _round(c0, c1, c2, c3, k0, k1):
    p0 = PHILOX_M0 * (c0 & _MASK32)
    p1 = PHILOX_M1 * (c2 & _MASK32)
    return (p1 >> _SHIFT32) ^ c1 ^ k0, p1, (p0 >> _SHIFT32) ^ c3 ^ k1, p0


@inline
def _bump(k0, k1):
    return (k0 + PHILOX_W0) & _MASK32, (k1 + PHILOX_W1) & _MASK32


@inline
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block (Random123 word order).

    All six inputs and the four outputs are 32-bit words held in ``uint64``.
    The ten rounds are written out: a loop here would sit inside the caller's
    vector loop, and LLVM vectorizes innermost loops only."""
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    return c0 & _MASK32, c1 & _MASK32, c2 & _MASK32, c3 & _MASK32


@kernel
def philox_rows(counters, key, out):
    """Philox4x32-10 of each row of an (n, 4) uint32 array, into out (n, 4) uint32."""
    k0 = np.uint64(key[0])
    k1 = np.uint64(key[1])
    for i in range(counters.shape[0]):
        r0, r1, r2, r3 = philox4x32_10(
            np.uint64(counters[i, 0]), np.uint64(counters[i, 1]),
            np.uint64(counters[i, 2]), np.uint64(counters[i, 3]), k0, k1,
        )
        out[i, 0] = r0
        out[i, 1] = r1
        out[i, 2] = r2
        out[i, 3] = r3
    return out


# ---------------------------------------------------------------------------
# A block of counters in 32-bit vector lanes (the CPU kernels' hot path)
# ---------------------------------------------------------------------------
#: Counters per vector: 16 32-bit lanes (one 512-bit register; LLVM splits
#: the vectors on narrower machines).
VECTOR_LANES = 16
#: Vectors of counters computed side by side: independent chains whose
#: latencies overlap.
VECTOR_CHAINS = 4


def philox_vectors_ir(builder, first, count, c2, c3, k0, k1, emit, offsets=None):
    """Emit the LLVM IR of Philox4x32-10 on ``count`` consecutive counters
    from ``first`` (an i64 value; ``c2``, ``c3``, ``k0``, ``k1`` i64 values
    holding 32-bit words), ``VECTOR_LANES`` counters per vector and
    ``VECTOR_CHAINS`` vectors side by side (``count`` a multiple of
    ``VECTOR_LANES * VECTOR_CHAINS``). For every vector of counters it calls
    ``emit(u, words)``: ``words[j]`` (``<VECTOR_LANES x i32>``) holds word
    ``j`` of counters ``first + u`` .. ``first + u + VECTOR_LANES - 1``, or,
    where ``offsets`` is given, of the counters ``first + offsets(u)`` (an
    ``<VECTOR_LANES x i32>`` value: any counters within 2**32 of ``first``,
    a lane each).
    The code generator of ``philox_block_words``, and of the kernels that
    turn the words into values without storing them first.

    The same function as ``philox4x32_10``, bit for bit. Numba's vectorizer
    keeps each word of ``philox4x32_10`` in a 64-bit lane (the 32x32->64
    products); here each product is two even/odd 64-bit multiplies of a
    vector of 32-bit words (``vpmuludq``), its high halves gathered by one
    shuffle, its low half one 32-bit multiply, and every xor works on 16
    words. (The even/odd view of the lanes is little-endian: callers check
    ``sys.byteorder``.)"""
    from llvmlite import ir
    per_step = VECTOR_LANES * VECTOR_CHAINS
    assert count % per_step == 0
    i32, i64 = ir.IntType(32), ir.IntType(64)
    v32, v64, half = ir.VectorType(i32, VECTOR_LANES), ir.VectorType(i64, VECTOR_LANES), ir.VectorType(
        i64, VECTOR_LANES // 2)

    low32 = splat(builder, ir.Constant(i64, 0xFFFFFFFF), half)
    shift32 = splat(builder, ir.Constant(i64, 32), half)
    odd_halves = ir.Constant(ir.VectorType(i32, VECTOR_LANES),
                             [k + o for k in range(0, VECTOR_LANES, 2) for o in (1, VECTOR_LANES + 1)])

    def multiply(x, multiplier):
        """(high, low) 32-bit halves of each lane's x * multiplier."""
        pairs = builder.bitcast(x, half)  # lane 2k in the low half of 64-bit lane k
        m = splat(builder, ir.Constant(i64, multiplier), half)
        even = builder.mul(builder.and_(pairs, low32), m)
        odd = builder.mul(builder.lshr(pairs, shift32), m)
        high = builder.shuffle_vector(builder.bitcast(even, v32), builder.bitcast(odd, v32), odd_halves)
        low = builder.mul(x, splat(builder, ir.Constant(i32, multiplier), v32))
        return high, low

    words2, words3 = splat(builder, builder.trunc(c2, i32), v32), splat(builder, builder.trunc(c3, i32), v32)
    key0, key1 = builder.trunc(k0, i32), builder.trunc(k1, i32)
    first_low = splat(builder, builder.trunc(first, i32), v32)
    first_high = splat(builder, builder.trunc(builder.lshr(first, ir.Constant(i64, 32)), i32), v32)
    first = splat(builder, first, v64)

    def counter_words(u0):
        """Words 0 and 1 of the vector of counters u0 (first + offsets(u0) where
        offsets is given: a 32-bit add and its carry, no 64-bit lanes)."""
        if offsets is None:
            counter = builder.add(first, ir.Constant(v64, [u0 + lane for lane in range(VECTOR_LANES)]))
            high = builder.lshr(counter, splat(builder, ir.Constant(i64, 32), v64))
            return builder.trunc(counter, v32), builder.trunc(high, v32)
        lanes = offsets(u0)
        low = builder.add(first_low, lanes)
        return low, builder.add(first_high, builder.zext(builder.icmp_unsigned("<", low, lanes), v32))

    for step in range(count // per_step):
        chains = []
        for chain in range(VECTOR_CHAINS):
            chains.append([*counter_words(step * per_step + chain * VECTOR_LANES), words2, words3])
        a, b = key0, key1
        for round_ in range(10):
            ka, kb = splat(builder, a, v32), splat(builder, b, v32)
            for chain in range(VECTOR_CHAINS):
                x0, x1, x2, x3 = chains[chain]
                high0, low0 = multiply(x0, int(PHILOX_M0))
                high1, low1 = multiply(x2, int(PHILOX_M1))
                chains[chain] = [builder.xor(builder.xor(high1, x1), ka), low1,
                                 builder.xor(builder.xor(high0, x3), kb), low0]
            a = builder.add(a, ir.Constant(i32, int(PHILOX_W0)))
            b = builder.add(b, ir.Constant(i32, int(PHILOX_W1)))
        for chain in range(VECTOR_CHAINS):
            emit(step * per_step + chain * VECTOR_LANES, chains[chain])


@intrinsic
def philox_block_words(typingctx, dst, start, first_counter, count, c2, c3, k0, k1):
    """The Philox4x32-10 words of ``count`` consecutive counters from
    ``first_counter`` (words 2 and 3 of each counter: ``c2``, ``c3``), written
    as 32-bit words into ``dst`` (a C-contiguous float32 or uint32 array):
    word ``j`` of counter ``first_counter + u`` at ``dst[start + j * count + u]``,
    the layout of a block of the stream (docs/stream-format.md).

    The same function as ``philox4x32_10``, bit for bit, written as LLVM
    vector code (``philox_vectors_ir``; ``count`` a multiple of
    ``VECTOR_LANES * VECTOR_CHAINS``)."""
    import sys
    if sys.byteorder != "little":
        return None
    if not (isinstance(dst, types.Array) and dst.ndim == 1 and dst.layout == "C"
            and dst.dtype in (types.float32, types.uint32) and isinstance(count, types.IntegerLiteral)):
        return None
    if count.literal_value % (VECTOR_LANES * VECTOR_CHAINS):
        return None
    total = count.literal_value

    def codegen(context, builder, signature, args):
        from llvmlite import ir
        array = context.make_array(signature.args[0])(context, builder, args[0])
        i32 = ir.IntType(32)
        dst_, start, first, _, c2, c3, k0, k1 = args
        start = context.cast(builder, start, signature.args[1], types.intp)
        base = builder.bitcast(array.data, i32.as_pointer())

        def store(u, words):
            for j in range(4):
                place = builder.add(start, ir.Constant(start.type, j * total + u))
                builder.store(words[j], builder.bitcast(builder.gep(base, [place]), words[j].type.as_pointer()),
                              align=4)

        philox_vectors_ir(builder, first, total, c2, c3, k0, k1, store)
        return context.get_dummy_value()

    return types.none(dst, start, first_counter, count, c2, c3, k0, k1), codegen
