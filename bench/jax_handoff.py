"""The JAX hand-off: an eager ``fastinit.jax`` initializer against
``fastinit.normal`` (a new NumPy array) and a fill of a preallocated buffer.

    python bench/jax_handoff.py                 # 8192 x 8192 float32, 11 interleaved rounds

The eager initializer fills an aligned host buffer that ``jax.device_put``
adopts without a copy; this measures what that hand-off costs over the fill
itself. Each call's result is ready (``block_until_ready``) before the clock
stops; one warm-up round first. Prints medians and bests.
"""

import argparse
import gc
import statistics
import sys
import time

import jax
import numpy as np

import fastinit
import fastinit.jax as fj


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--size", type=int, default=8192)
    args = parser.parse_args(argv)
    shape = (args.size, args.size)
    key, init, warm = jax.random.key(0), fj.normal(0.02), np.empty(shape, np.float32)
    methods = {
        "fastinit.jax.normal(0.02)(key, shape), eager": lambda: init(key, shape).block_until_ready(),
        "fastinit.normal(shape, std=0.02) (NumPy)": lambda: fastinit.normal(shape, std=0.02, seed=0),
        "fastinit.fill_normal(preallocated buffer)": lambda: fastinit.fill_normal(warm, std=0.02, seed=0),
    }
    times = {name: [] for name in methods}
    for r in range(args.rounds + 1):
        for name, call in methods.items():
            gc.collect()
            start = time.perf_counter()
            result = call()
            elapsed = time.perf_counter() - start
            del result
            if r:
                times[name].append(elapsed)
    base = statistics.median(times["fastinit.normal(shape, std=0.02) (NumPy)"])
    print(f"{shape[0]} x {shape[1]} float32, {args.rounds} interleaved rounds, jax {jax.__version__}\n")
    print("| method | median (s) | best (s) | median / fastinit.normal |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        print(f"| `{name}` | {statistics.median(values):.3f} | {min(values):.3f} | "
              f"{statistics.median(values) / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
