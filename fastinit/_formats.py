"""Output dtypes: float32 and float64 natively, float16 and bfloat16 as the
float32 stream rounded to nearest even (docs/stream-format.md, section 5).

bfloat16 arrays are NumPy arrays of ``ml_dtypes.bfloat16``; the kernels see
every 16-bit output as ``uint16`` bit patterns, so filling a bfloat16 buffer
(a torch tensor, say) needs no ml_dtypes, and no import of it happens unless
a bfloat16 dtype is asked for by name.
"""

import math
from typing import NamedTuple

import numpy as np

from . import _kernels

NATIVE = (np.dtype(np.float32), np.dtype(np.float64))
FLOAT16 = np.dtype(np.float16)
UINT16 = np.dtype(np.uint16)


def bfloat16_dtype():
    """numpy dtype of ml_dtypes.bfloat16 (ImportError with advice if missing)."""
    try:
        import ml_dtypes
    except ImportError as error:  # pragma: no cover - exercised only without ml_dtypes
        raise ImportError("bfloat16 needs the ml_dtypes package: pip install ml_dtypes") from error
    return np.dtype(ml_dtypes.bfloat16)


def is_bfloat16(dtype):
    return dtype.name == "bfloat16" and dtype.itemsize == 2


def is_supported(dtype):
    return dtype in NATIVE or dtype == FLOAT16 or is_bfloat16(dtype)


def resolve_dtype(dtype, name="dtype"):
    """A numpy dtype from a dtype-like, with "bfloat16" resolved through ml_dtypes."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        return bfloat16_dtype()
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"{name} must be float32, float64, float16 or bfloat16, got {dtype!r}") from error
    if not is_supported(resolved):
        raise TypeError(f"{name} must be float32, float64, float16 or bfloat16, got {resolved}")
    return resolved


# --------------------------------------------------------------------------
# 16-bit patterns. Both formats are sign-magnitude: _key maps a pattern to an
# integer that increases with the value (both zeros to 0), so stepping to the
# next representable value is adding one.
# --------------------------------------------------------------------------
def _to_pattern(x, dtype):
    """Bits of the finite float x rounded to dtype (through float32)."""
    x32 = np.float32(x)
    if dtype == FLOAT16:
        with np.errstate(over="ignore"):
            return int(np.float16(x32).view(np.uint16))
    bits = int(x32.view(np.uint32))
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


def _value(pattern, dtype):
    if dtype == FLOAT16:
        return float(np.uint16(pattern).view(np.float16))
    return float(np.uint32(pattern << 16).view(np.float32))


def _key(pattern):
    return pattern if pattern < 0x8000 else -(pattern & 0x7FFF)


def _pattern(key):
    return key if key >= 0 else 0x8000 | -key


def _max_finite(dtype):
    return _value(0x7BFF if dtype == FLOAT16 else 0x7F7F, dtype)


def max_finite(dtype):
    return float(np.finfo(dtype).max) if dtype in NATIVE else _max_finite(dtype)


def smallest_at_least(x, dtype):
    """The smallest value of dtype >= x (x finite, float64), or None."""
    if dtype in NATIVE:
        v = dtype.type(x)
        if float(v) < x:
            v = np.nextafter(v, dtype.type(np.inf))
        return float(v) if math.isfinite(float(v)) else None
    key = _key(_to_pattern(x, dtype))
    while _value(_pattern(key), dtype) < x:
        key += 1
    while _value(_pattern(key - 1), dtype) >= x:
        key -= 1
    v = _value(_pattern(key), dtype)
    return v if math.isfinite(v) else None


def largest_at_most(x, dtype):
    """The largest value of dtype <= x (x finite, float64), or None."""
    v = smallest_at_least(-x, dtype)
    return None if v is None else -v


def largest_below(x, dtype):
    """The largest value of dtype < x (x finite), or None."""
    v = largest_at_most(x, dtype)
    if v is None:
        return None
    if v == x:
        if dtype in NATIVE:
            v = float(np.nextafter(dtype.type(v), dtype.type(-np.inf)))
        else:
            v = _value(_pattern(_key(_to_pattern(v, dtype)) - 1), dtype)
    return v if math.isfinite(v) else None


def compute_dtype(dtype):
    """The dtype the stream is computed in: itself for float32/float64, float32 for 16-bit."""
    return dtype if dtype in NATIVE else np.dtype(np.float32)


class Memory(NamedTuple):
    """``size`` C-contiguous elements of ``dtype`` at ``address``: a buffer the
    fill functions write without a NumPy view of it (fastinit.torch's small
    tensors; the caller checks the memory and keeps it alive). Filled on the
    calling thread."""
    address: int
    size: int
    dtype: np.dtype


def kernel_dtype(dtype):
    """The dtype the kernels write for an output of dtype: itself for
    float32/float64, uint16 (the bits) for 16-bit formats."""
    return dtype if dtype in NATIVE else UINT16


def kernel_view(out):
    """(array the kernels write, compute dtype): 16-bit outputs as uint16 in float32."""
    if out.dtype in NATIVE:
        return out, out.dtype
    return out.view(UINT16), compute_dtype(out.dtype)


def kernel_format(dtype, low, high):
    """The kernel's format argument: None for native dtypes, else the
    Float16/BFloat16 tuple that clamps to [low, high] (values of dtype)."""
    if dtype in NATIVE:
        return None
    cls = _kernels.Float16 if dtype == FLOAT16 else _kernels.BFloat16
    return cls(float(low), float(high))


def encode(value, dtype):
    """The bits (uint16) or value (native) of a finite float rounded to dtype."""
    if dtype in NATIVE:
        return dtype.type(value)
    return np.uint16(_to_pattern(value, dtype))
