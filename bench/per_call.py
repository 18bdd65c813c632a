"""Per-call cost of small fills (a bias): fastinit against torch and NumPy, in one run.

    python bench/per_call.py                 # 64 float32 elements
    python bench/per_call.py --size 4096

Each figure is the best of 7 timeit repeats of 20000 calls, in microseconds
per call, after one warm-up call of each (kernels loaded). Two pieces are timed on
their own (marked "part of the above"): the kernel of a ``fill_uniform``
call through Numba's dispatcher, and ``fastinit.torch``'s draw of a seed from
torch's generator, so that the Python-side overhead can be read off.
"""

import argparse
import sys
import timeit

import numpy as np
import torch

import fastinit
import fastinit.torch as ft
from fastinit.torch import _tensors
from fastinit import _kernels, bits, distributions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)
    a, t, rng = np.empty(args.size, np.float32), torch.empty(args.size), np.random.default_rng(0)
    params, fmt = distributions._uniform_plan(-1.0, 1.0, a.dtype)
    words = (np.uint64(1), np.uint64(0), np.uint64(bits.UNIFORM_ID), np.uint64(32))
    calls = {
        "fastinit.fill_uniform(a, -1, 1, seed=1)": lambda: fastinit.fill_uniform(a, -1.0, 1.0, seed=1),
        "  its kernel, called through Numba's dispatcher": lambda: _kernels.fill_serial(
            a, params, fmt, *words, np.uint64(0)),
        "torch.nn.init.uniform_(t, -1, 1)": lambda: torch.nn.init.uniform_(t, -1.0, 1.0),
        "fastinit.torch.uniform_(t, -1, 1) (seed from torch's generator)": lambda: ft.uniform_(t, -1.0, 1.0),
        "fastinit.torch.uniform_(t, -1, 1, seed=3)": lambda: ft.uniform_(t, -1.0, 1.0, seed=3),
        "  fastinit.torch's seed_from_generator(None)": lambda: _tensors.seed_from_generator(None),
        "numpy Generator.random(size, float32)": lambda: rng.random(args.size, dtype=np.float32),
    }
    for call in calls.values():
        call()
    print(f"{args.size} float32 elements, torch {torch.__version__}, numpy {np.__version__}\n")
    print("| call | us per call |")
    print("|---|---:|")
    for name, call in calls.items():
        best = min(timeit.repeat(call, number=20000, repeat=7)) / 20000 * 1e6
        print(f"| `{name.strip()}`{' (part of the above)' if name.startswith('  ') else ''} | {best:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
