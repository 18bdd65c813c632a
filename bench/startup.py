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
through ``scipy.linalg`` when SciPy is installed.
"""

import argparse
import subprocess
import sys

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
        return
    print("| cache | import numpy (s) | import fastinit (s) | first fill_normal, 1e6 float32 (s) | total (s) |")
    print("|---|---:|---:|---:|---:|")
    for row in measure_startup(repeats=args.repeats):
        print(f"| {row['cache']} | {row['import_numpy']:.3f} | {row['import_fastinit']:.3f} | "
              f"{row['first_fill']:.3f} | {row['total']:.3f} |")


if __name__ == "__main__":
    main()
