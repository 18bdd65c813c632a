"""Argument checks shared by the public functions.

Every check runs before any byte of ``out`` is written, and every message
names the offending argument.
"""

import math
import numbers
import operator

import numpy as np

from ._formats import Memory, is_supported, max_finite
from ._regions import Rows
from .bits import SEED_LIMIT

def check_out(out):
    """The array to fill for ``out``: out itself where it is a writable
    float32, float64, float16 or bfloat16 numpy array (np.memmap included) or
    a _formats.Memory (checked by whoever made it); a Numba device array over
    its memory where it is a CUDA array (fastinit.cuda)."""
    if type(out) is Memory or type(out) is Rows:
        return out
    if not isinstance(out, np.ndarray):
        from . import cuda
        if cuda.is_cuda_array(out):
            return cuda.device_view(out)
        raise TypeError(f"out must be a numpy.ndarray or a CUDA array, got {type(out).__name__}")
    if not is_supported(out.dtype):
        raise TypeError(f"out must have dtype float32, float64, float16 or bfloat16, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def check_real(name, value):
    """A finite real number, returned as a Python float."""
    if type(value) is not float and type(value) is not int:  # fast path for the common types
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def in_dtype(name, value, dtype):
    """value (a finite Python float) rounded to dtype; an error if it overflows there."""
    rounded = dtype.type(value) if abs(value) <= max_finite(dtype) else None
    if rounded is None or abs(float(rounded)) == float("inf"):
        raise ValueError(f"{name}={value} is outside the range of {dtype}")
    return rounded


def check_offset(offset, size):
    """An integer offset with offset + size <= 2**64 (the end of the stream)."""
    if type(offset) is not int and (isinstance(offset, (bool, np.bool_)) or not isinstance(offset, numbers.Integral)):
        raise TypeError(f"offset must be an integer, got {type(offset).__name__}")
    offset = operator.index(offset)
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    if offset + size > SEED_LIMIT:
        raise ValueError(
            f"offset + out.size = {offset + size} is past the end of the stream (2**64 elements)"
        )
    return offset
