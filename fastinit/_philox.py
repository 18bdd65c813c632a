"""Philox4x32-10 (Salmon et al., SC'11; Random123), compiled with Numba.

This is the bits layer: nothing here knows about floats or distributions.
Every function works on explicit ``uint32``/``uint64`` values so that Numba
never promotes to floating point and LLVM can keep 16 lanes per AVX-512
register.
"""

import numba
import numpy as np

from ._jit import inline, kernel

# Random123 constants (philox.h): round multipliers and Weyl key increments.
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint32(0x9E3779B9)
PHILOX_W1 = np.uint32(0xBB67AE85)

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


@inline
def _round(c0, c1, c2, c3, k0, k1):
    p0 = PHILOX_M0 * np.uint64(c0)
    p1 = PHILOX_M1 * np.uint64(c2)
    hi0 = np.uint32(p0 >> _SHIFT32)
    lo0 = np.uint32(p0 & _MASK32)
    hi1 = np.uint32(p1 >> _SHIFT32)
    lo1 = np.uint32(p1 & _MASK32)
    return (
        np.uint32(hi1 ^ c1 ^ k0),
        lo1,
        np.uint32(hi0 ^ c3 ^ k1),
        lo0,
    )


@inline
def _bump(k0, k1):
    return np.uint32(k0 + PHILOX_W0), np.uint32(k1 + PHILOX_W1)


@inline
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """One Philox4x32-10 block: four uint32 counter words and two key words
    in, four uint32 output words out (Random123 word order).

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
    return _round(c0, c1, c2, c3, k0, k1)


@kernel
def philox_array(counters, key, out):
    """Apply Philox4x32-10 to each row of an (n, 4) uint32 array."""
    k0 = key[0]
    k1 = key[1]
    for i in range(counters.shape[0]):
        r0, r1, r2, r3 = philox4x32_10(
            counters[i, 0], counters[i, 1], counters[i, 2], counters[i, 3], k0, k1
        )
        out[i, 0] = r0
        out[i, 1] = r1
        out[i, 2] = r2
        out[i, 3] = r3
    return out
