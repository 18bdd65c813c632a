"""Throughput of fastinit against NumPy and the memory-bandwidth limit.

Run ``python -m fastinit.bench`` (``--help`` for options). For each dtype it
fills one preallocated buffer with every method, interleaving the methods
round by round so that the ratios hold on a noisy shared machine, and prints
the median throughput with its spread:

* ``ndarray.fill``: NumPy's single-threaded fill, the reference bandwidth;
* ``fastinit.fill_constant``: the same store stream on all threads, the
  machine's write bandwidth;
* fastinit's uniform, normal and truncated normal fills (all threads);
* NumPy ``Generator.random`` and ``Generator.standard_normal`` with ``out=``
  (PCG64, one thread).

Compilation is excluded: every method is called once before timing.
"""

import argparse
import os
import platform
import statistics
import time

import numba
import numpy as np

import fastinit
from fastinit import _formats


def _methods(out, seed):
    rng = np.random.default_rng(seed)
    dtype = out.dtype.type
    methods = {
        "ndarray.fill": lambda: out.fill(1.0),
        "fastinit.fill_constant": lambda: fastinit.fill_constant(out, 1.0),
        "fastinit.fill_uniform": lambda: fastinit.fill_uniform(out, seed=seed),
        "numpy Generator.random": lambda: rng.random(out=out, dtype=dtype),
        "fastinit.fill_normal": lambda: fastinit.fill_normal(out, seed=seed),
        "numpy Generator.standard_normal": lambda: rng.standard_normal(out=out, dtype=dtype),
        "fastinit.fill_truncated_normal": lambda: fastinit.fill_truncated_normal(out, seed=seed),
    }
    if out.dtype.itemsize == 2:  # NumPy's generators have no 16-bit output
        del methods["numpy Generator.random"], methods["numpy Generator.standard_normal"]
    return methods


# Which NumPy method each fastinit method is compared with.
NUMPY_BASELINE = {
    "fastinit.fill_uniform": "numpy Generator.random",
    "fastinit.fill_normal": "numpy Generator.standard_normal",
}


def measure(size, dtype, rounds, seed=0):
    """Median and spread of each method's time: {name: [seconds per round]}."""
    out = np.empty(size, dtype)
    methods = _methods(out, seed)
    for call in methods.values():  # compile, and touch every page of out
        call()
    times = {name: [] for name in methods}
    for _ in range(rounds):
        for name, call in methods.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def report(size, dtypes, rounds):
    lines = [
        "| method | dtype | G samples/s | GB/s | spread | % of ndarray.fill | vs NumPy |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for dtype in dtypes:
        itemsize = np.dtype(dtype).itemsize
        times = measure(size, dtype, rounds)
        median = {name: statistics.median(t) for name, t in times.items()}
        for name, t in times.items():
            rate = size / median[name]
            spread = (max(t) - min(t)) / median[name]
            fill_pct = 100 * median["ndarray.fill"] / median[name]
            vs = ""
            if NUMPY_BASELINE.get(name) in median:
                vs = f"{median[NUMPY_BASELINE[name]] / median[name]:.1f}x"
            warn = " (!)" if spread > 0.25 else ""
            lines.append(
                f"| {name} | {np.dtype(dtype).name} | {rate / 1e9:.3f} | {rate * itemsize / 1e9:.1f} "
                f"| {100 * spread:.0f}%{warn} | {fill_pct:.0f}% | {vs} |"
            )
    header = [
        f"fastinit {fastinit.__version__} throughput, {size:.0e} elements, median of {rounds} rounds",
        f"machine: {_cpu_name()}, {os.cpu_count()} CPUs; numba {numba.__version__} "
        f"({numba.get_num_threads()} threads, {numba.threading_layer()} layer), numpy {np.__version__}",
        "",
    ]
    lines = header + lines
    lines.append("")
    lines.append("spread = (slowest - fastest) / median over the rounds; (!) marks a spread over 25%: "
                 "the machine was busy, re-run on an idle machine.")
    return "\n".join(lines)


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastinit.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=1e8, help="elements per buffer (default 1e8)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per method (default 5)")
    parser.add_argument("--dtype", choices=["float32", "float64", "float16", "bfloat16"], action="append",
                        help="dtype to measure (repeatable; default float32 and float64; bfloat16 needs ml_dtypes)")
    args = parser.parse_args(argv)
    if args.size < 1 or args.rounds < 1:
        parser.error("--size and --rounds must be >= 1")
    dtypes = [_formats.resolve_dtype(d) for d in (args.dtype or ["float32", "float64"])]
    print(report(int(args.size), dtypes, args.rounds))


if __name__ == "__main__":
    main()
