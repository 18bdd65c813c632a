"""Fills that exercise every path of the kernels: each distribution and
regime (the truncated normal's central, rational, mixed and tail regimes, the
float64 ziggurat whose slow paths about 0.4% of elements take) in each dtype.
Shared by the tests that compare other implementations of the stream (the
per-counter element functions, the GPU kernels) with the CPU fills."""

import ml_dtypes
import numpy as np

import fastinit
from fastinit import distributions
from fastinit.bits import NORMAL_ID, TRUNCATED_NORMAL_ID, UNIFORM_ID

DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)]

#: (label, distribution, arguments after out). The truncated intervals:
#: central (every element by the central rational), wide (float32: every
#: element by a rational), the two intervals that once differed across
#: machines, far in a tail, and one-sided (mixed regimes).
CASES = [
    ("uniform", "uniform", (-1.0, 2.0)),
    ("normal", "normal", (0.5, 2.0)),
    ("truncated central", "truncated_normal", (0.0, 1.0, -0.5, 0.6)),
    ("truncated wide", "truncated_normal", (0.0, 1.0, -2.0, 2.0)),
    ("truncated skewed", "truncated_normal", (0.1, 1.5, -2.0, 3.5)),
    ("truncated narrow tail", "truncated_normal", (0.0, 1.0, 2.9, 3.5)),
    ("truncated far tail", "truncated_normal", (0.0, 1.0, 5.0, 6.0)),
    ("truncated one-sided", "truncated_normal", (0.0, 1.0, -4.0, 1.0)),
]

_IDS = {"uniform": UNIFORM_ID, "normal": NORMAL_ID, "truncated_normal": TRUNCATED_NORMAL_ID}
_PLANS = {"uniform": distributions._uniform_plan, "normal": distributions._normal_plan,
          "truncated_normal": distributions._truncated_plan}


def fill(out, distribution, arguments, seed, offset=0):
    """The public CPU (or device) fill of out."""
    return getattr(fastinit, "fill_" + distribution)(out, *arguments, seed=seed, offset=offset)


def plan(distribution, arguments, dtype):
    """(kernel parameters, 16-bit format, distribution id) of a fill."""
    params, fmt = _PLANS[distribution](*(float(a) for a in arguments), np.dtype(dtype))
    return params, fmt, _IDS[distribution]
