"""pytest-benchmark suite: every method of fastinit.bench.catalogue (fastinit,
NumPy and its multithreaded recipe, PyTorch, JAX where installed, and
ndarray.fill), per distribution, dtype, size and thread count.

    pytest bench/test_throughput.py --benchmark-only
    FASTINIT_BENCH_SIZES=1e4,1e6,1e8 pytest bench/test_throughput.py --benchmark-only

Groups are "<distribution> <dtype> <size> x<threads>". Save a run with
``--benchmark-autosave`` and compare a later one with
``--benchmark-compare --benchmark-compare-fail=median:15%`` (regression
tracking); ``python -m fastinit.bench`` measures the same methods
interleaved, for ratios on a noisy machine, and writes the report.
"""

import os

import numba
import pytest

from fastinit.bench import catalogue, runner

SIZES = [int(float(s)) for s in os.environ.get("FASTINIT_BENCH_SIZES", "1e6,1e7").split(",")]
ALL = numba.config.NUMBA_NUM_THREADS
METHODS = catalogue.catalogue()
CASES = [(m, dtype, size, threads)
         for m in METHODS for dtype in catalogue.DTYPES if m.supports(dtype) for size in SIZES
         for threads in sorted({ALL, 1})
         if threads == ALL or m.library in runner.THREADED_LIBRARIES or m.library == "ndarray.fill"]


@pytest.mark.parametrize("method, dtype, size, threads", CASES,
                         ids=[f"{m.name}-{d}-{s:.0e}-x{t}" for m, d, s, t in CASES])
def test_fill(benchmark, method, dtype, size, threads):
    runner.set_threads(threads)
    call = method.make(size, dtype, threads)
    call()  # compile, first-touch the buffers
    benchmark.group = f"{method.distribution} {dtype} {size:.0e} x{threads}"
    benchmark.extra_info.update(library=method.library, distribution=method.distribution, dtype=dtype,
                                elements=size, threads=threads, allocating=method.allocating)
    benchmark.pedantic(call, rounds=5, warmup_rounds=1, iterations=max(1, 10**6 // size))
    runner.set_threads(ALL)
    catalogue.close_pools()
