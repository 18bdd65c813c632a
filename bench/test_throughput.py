"""pytest-benchmark suite: fastinit against NumPy and ndarray.fill.

    pytest bench/test_throughput.py --benchmark-only

Buffer size: FASTINIT_BENCH_SIZE elements (default 1e7). Each group holds
fastinit, its NumPy counterpart and ndarray.fill on the same preallocated
buffer, so the ratios come from one run. Compilation is excluded (the
buffer is filled once before timing).
"""

import os

import ml_dtypes
import numpy as np
import pytest

import fastinit

SIZE = int(float(os.environ.get("FASTINIT_BENCH_SIZE", "1e7")))


def _fastinit(distribution, out):
    if distribution == "uniform":
        return lambda: fastinit.fill_uniform(out, seed=0)
    if distribution == "normal":
        return lambda: fastinit.fill_normal(out, seed=0)
    return lambda: fastinit.fill_truncated_normal(out, seed=0)


def _numpy(distribution, out):
    rng = np.random.default_rng(0)
    if distribution == "uniform":
        return lambda: rng.random(out=out, dtype=out.dtype.type)
    return lambda: rng.standard_normal(out=out, dtype=out.dtype.type)


CASES = [(method, distribution, dtype)
         for dtype in ["float32", "float64", "float16", "bfloat16"]
         for distribution in ["uniform", "normal", "truncated_normal"]
         for method in ["fastinit", "numpy", "ndarray.fill"]
         # NumPy has no truncated normal and no 16-bit generators
         if method != "numpy" or (distribution != "truncated_normal" and dtype in ("float32", "float64"))]


@pytest.mark.parametrize("method, distribution, dtype", CASES)
def test_fill(benchmark, method, distribution, dtype):
    out = np.empty(SIZE, np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else dtype)
    call = {"fastinit": _fastinit, "numpy": _numpy}.get(method, lambda d, o: (lambda: o.fill(1.0)))(distribution, out)
    call()  # compile, first-touch the pages
    benchmark.group = f"{distribution} {dtype}"
    benchmark.extra_info["elements"] = SIZE
    benchmark.extra_info["bytes"] = out.nbytes
    benchmark.pedantic(call, rounds=7, warmup_rounds=1)
