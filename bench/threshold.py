"""Where the parallel kernel starts to beat the serial one (sets distributions.PARALLEL_THRESHOLD).

    python bench/threshold.py
"""

import time

import numba
import numpy as np

from fastinit import _kernels as K

WORDS = [np.uint64(v) for v in (1, 2, 1, 32)]


def best_time(call, repeats):
    best = 1e9
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(repeats):
            call()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def main():
    threads = numba.get_num_threads()
    for name, params in (("uniform", K.Uniform(0.0, 1.0, 0.99)), ("normal", K.Normal(0.0, 1.0))):
        for n in [2**k for k in range(10, 20)]:
            out = np.empty(n, np.float32)
            serial = lambda out=out, params=params: K.fill_serial(  # noqa: E731
                out, params, None, *WORDS, np.uint64(0))
            parallel = lambda out=out, params=params: K.fill_parallel(  # noqa: E731
                out, params, None, *WORDS, np.uint64(0), threads)
            serial(), parallel()
            repeats = max(3, 2**22 // n)
            s, p = best_time(serial, repeats), best_time(parallel, repeats)
            print(f"{name:8s} n=2^{n.bit_length() - 1:2d} serial {s * 1e6:8.1f} us  parallel {p * 1e6:8.1f} us  "
                  f"ratio {s / p:.2f}")


if __name__ == "__main__":
    main()
