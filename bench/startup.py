"""Start-up time: ``import fastinit`` plus a first fill, with an empty and a warm kernel cache.

    python bench/startup.py
    python bench/startup.py --breakdown     # warm cache: where the time goes, per step

Each measurement is a new Python process (fastinit.bench.runner.measure_startup,
also part of the report of ``python -m fastinit.bench``): "cold" points
NUMBA_CACHE_DIR at an empty folder, so the kernels the fill needs are
compiled; "warm" runs again with that folder, so they load from disk.

``--breakdown`` times, in new processes with the package's warm cache,
``import numpy``, ``import numba``, the rest of ``import fastinit``, a first
``fill_normal`` and a first ``fill_uniform`` (1e6 float32 each), once as
installed and once with SciPy hidden (``sys.modules["scipy"] = None``): Numba's
first compilation-or-load imports ``numba.np.arraymath``, which looks for BLAS
through ``scipy.linalg`` when SciPy is installed. It then times Numba's own
floor the same way: ``import numpy``, ``import numba`` and a first call of a
trivial cached ``@njit(cache=True)`` loop (its cache warm), without fastinit.
"""

import argparse
import os
import subprocess
import sys
import tempfile

from fastinit.bench.runner import measure_startup

BREAKDOWN = r"""
import sys, time
if {hide_scipy}:
    sys.modules["scipy"] = None
t0 = time.perf_counter(); import numpy as np
t1 = time.perf_counter(); import numba
t2 = time.perf_counter(); import fastinit
t3 = time.perf_counter(); a = np.empty(10**6, np.float32); fastinit.fill_normal(a, seed=0)
t4 = time.perf_counter(); fastinit.fill_uniform(a, seed=0)
t5 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
"""


FLOOR = r"""
import sys, time
if {hide_scipy}:
    sys.modules["scipy"] = None
sys.path.insert(0, {folder!r})
t0 = time.perf_counter(); import numpy as np
t1 = time.perf_counter(); import numba
t2 = time.perf_counter(); import trivial_kernel
trivial_kernel.fill(np.empty(10), 1.0)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""

TRIVIAL_KERNEL = """
import numba


@numba.njit(cache=True)
def fill(out, value):
    for i in range(out.size):
        out[i] = value
"""


def floor(repeats):
    """Numba's own warm start-up: numpy, numba and one trivial cached kernel."""
    print("\n| Numba alone, SciPy | import numpy (s) | import numba (s) | first call of a trivial cached kernel (s) | "
          "total (s) |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "trivial_kernel.py"), "w") as f:
            f.write(TRIVIAL_KERNEL)
        subprocess.run([sys.executable, "-c", FLOOR.format(hide_scipy=False, folder=folder)], check=True,
                       capture_output=True)  # compiles and caches it
        for hide in (False, True) * repeats:
            out = subprocess.run([sys.executable, "-c", FLOOR.format(hide_scipy=hide, folder=folder)],
                                 capture_output=True, text=True, check=True)
            steps = [float(v) for v in out.stdout.split()]
            print(f"| {'hidden' if hide else 'installed'} | " + " | ".join(f"{s:.3f}" for s in steps)
                  + f" | {sum(steps):.3f} |")


def breakdown(repeats):
    print("| SciPy | import numpy (s) | import numba (s) | rest of import fastinit (s) | first fill_normal (s) | "
          "first fill_uniform (s) | total (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    subprocess.run([sys.executable, "-c", BREAKDOWN.format(hide_scipy=False)], check=True, capture_output=True)
    for hide in (False, True) * repeats:
        out = subprocess.run([sys.executable, "-c", BREAKDOWN.format(hide_scipy=hide)], capture_output=True,
                             text=True, check=True)
        steps = [float(v) for v in out.stdout.split()]
        print(f"| {'hidden' if hide else 'installed'} | " + " | ".join(f"{s:.3f}" for s in steps)
              + f" | {sum(steps):.3f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    if args.breakdown:
        breakdown(args.repeats)
        floor(args.repeats)
        return
    print("| cache | import numpy (s) | import fastinit (s) | first fill_normal, 1e6 float32 (s) | total (s) |")
    print("|---|---:|---:|---:|---:|")
    for row in measure_startup(repeats=args.repeats):
        print(f"| {row['cache']} | {row['import_numpy']:.3f} | {row['import_fastinit']:.3f} | "
              f"{row['first_fill']:.3f} | {row['total']:.3f} |")


if __name__ == "__main__":
    main()
