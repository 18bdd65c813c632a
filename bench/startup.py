"""Start-up time: ``import fastinit`` plus a first fill, with an empty and a warm kernel cache.

    python bench/startup.py

Each measurement is a new Python process. "cold" points NUMBA_CACHE_DIR at an
empty folder, so every kernel the fill needs is compiled; "warm" runs again
with that folder, so the kernels load from disk.
"""

import os
import subprocess
import sys
import tempfile

PROGRAM = """
import time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
import fastinit
t2 = time.perf_counter()
fastinit.fill_{name}(np.empty({size}, np.{dtype}), seed=0)
t3 = time.perf_counter()
print(f"{{t1 - t0:.3f}} {{t2 - t1:.3f}} {{t3 - t2:.3f}}")
"""


def run(cache, name="normal", dtype="float32", size=1_000_000):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    out = subprocess.run([sys.executable, "-c", PROGRAM.format(name=name, dtype=dtype, size=size)],
                         env=env, capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.split()]


def main():
    print("| cache | import numpy (s) | import fastinit (s) | first fill_normal, 1e6 float32 (s) | total (s) |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as cache:
        for label in ("cold", "warm", "warm"):
            np_import, imp, fill = run(cache)
            print(f"| {label} | {np_import:.3f} | {imp:.3f} | {fill:.3f} | {np_import + imp + fill:.3f} |")


if __name__ == "__main__":
    main()
