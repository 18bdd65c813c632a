"""Start-up time: ``import fastinit`` plus a first fill, with an empty and a warm kernel cache.

    python bench/startup.py

Each measurement is a new Python process (fastinit.bench.runner.measure_startup,
also part of the report of ``python -m fastinit.bench``): "cold" points
NUMBA_CACHE_DIR at an empty folder, so the kernels the fill needs are
compiled; "warm" runs again with that folder, so they load from disk.
"""

from fastinit.bench.runner import measure_startup


def main():
    print("| cache | import numpy (s) | import fastinit (s) | first fill_normal, 1e6 float32 (s) | total (s) |")
    print("|---|---:|---:|---:|---:|")
    for row in measure_startup(repeats=2):
        print(f"| {row['cache']} | {row['import_numpy']:.3f} | {row['import_fastinit']:.3f} | "
              f"{row['first_fill']:.3f} | {row['total']:.3f} |")


if __name__ == "__main__":
    main()
