"""Truncated normal against the normal and ndarray.fill, in one process.

    python bench/truncated.py                   # 1e8 elements, float32 and float64, 7 rounds
    python bench/truncated.py --dtype bfloat16 --dtype float16

Per dtype: ndarray.fill, fastinit.fill_normal and fastinit.fill_truncated_normal
on preallocated buffers (warm), in interleaved rounds; medians. Intervals in
standard deviations: the initializers' +-2, narrow and one-sided ones, tails.
Prints each as G/s, as a fraction of the normal's speed and of fill's.
"""

import argparse
import statistics
import time

import ml_dtypes
import numpy as np

import fastinit

INTERVALS = {
    "[-2, 2] (initializers' default)": (-2.0, 2.0),
    "[0, 1]": (0.0, 1.0),
    "[-1, 0]": (-1.0, 0.0),
    "[1, 1.5]": (1.0, 1.5),
    "[0, 37.5] (one-sided)": (0.0, 37.5),
    "[-3, 3]": (-3.0, 3.0),
    "[-100, 100] (std=0.02, a=-2, b=2)": (-100.0, 100.0),
    "[2, 3] (tail)": (2.0, 3.0),
    "[5, 6] (far tail)": (5.0, 6.0),
}


def timed(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(dtype, n, rounds):
    out = np.empty(n, dtype)
    out.fill(0)
    one = dtype.type(1.0)
    calls = {"ndarray.fill": lambda: out.fill(one), "normal": lambda: fastinit.fill_normal(out, seed=1)}
    for label, (a, b) in INTERVALS.items():
        calls[label] = lambda a=a, b=b: fastinit.fill_truncated_normal(out, 0.0, 1.0, a, b, seed=1)
    for call in calls.values():
        call()  # compiled, pages touched
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(timed(call))
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=float, default=1e8)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--dtype", action="append", help="float32, float64, bfloat16, float16")
    args = parser.parse_args(argv)
    n = int(args.elements)
    names = args.dtype or ["float32", "float64"]
    for name in names:
        dtype = np.dtype(ml_dtypes.bfloat16) if name == "bfloat16" else np.dtype(name)
        medians = measure(dtype, n, args.rounds)
        fill, normal = medians["ndarray.fill"], medians["normal"]
        print(f"\n{name}, {n:.0e} elements, median of {args.rounds} interleaved rounds")
        print(f"| {'what':36s} | {'s':>7s} | {'G/s':>6s} | {'of normal':>9s} | {'of fill':>7s} |")
        print(f"|{'-' * 38}|{'-' * 9}:|{'-' * 8}:|{'-' * 11}:|{'-' * 9}:|")
        for label, t in medians.items():
            print(f"| {label:36s} | {t:7.4f} | {n / t / 1e9:6.2f} | {normal / t:9.2f} | {fill / t:7.2f} |")


if __name__ == "__main__":
    main()
