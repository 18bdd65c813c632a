"""Per-call cost of small fills (a bias): fastinit against torch and NumPy, in one run.

    python bench/per_call.py                 # 64 float32 elements
    python bench/per_call.py --size 4096

Each figure is the best of 15 interleaved rounds (each round times every call
once, 10000 calls in a row) in microseconds per call, after one warm-up call
of each (kernels loaded). Two pieces are timed on
their own (marked "part of the above"): the kernel of a ``fill_uniform``
call through its compiled entry point (distributions._ENTRY_POINTS), and ``fastinit.torch``'s draw of a seed from
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
from fastinit import bits, distributions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--number", type=int, default=10000)
    args = parser.parse_args(argv)
    a, t, rng = np.empty(args.size, np.float32), torch.empty(args.size), np.random.default_rng(0)
    params, fmt = distributions._uniform_plan(-1.0, 1.0, a.dtype)
    words = (1, 0, bits.UNIFORM_ID, 32)
    fastinit.fill_uniform(a, -1.0, 1.0, seed=1)  # loads the kernel, keeps its entry point
    entry = distributions._ENTRY_POINTS[(False, a.dtype, a.flags.aligned, type(params), type(fmt))]
    calls = {
        "fastinit.fill_uniform(a, -1, 1, seed=1)": lambda: fastinit.fill_uniform(a, -1.0, 1.0, seed=1),
        "  its kernel, called through its compiled entry point": lambda: entry(a, params, fmt, *words, 0, 1, distributions._taken.array),
        "torch.nn.init.uniform_(t, -1, 1)": lambda: torch.nn.init.uniform_(t, -1.0, 1.0),
        "fastinit.torch.uniform_(t, -1, 1) (seed from torch's generator)": lambda: ft.uniform_(t, -1.0, 1.0),
        "fastinit.torch.uniform_(t, -1, 1, seed=3)": lambda: ft.uniform_(t, -1.0, 1.0, seed=3),
        "  fastinit.torch's seed_from_generator(None)": lambda: _tensors.seed_from_generator(None),
        "numpy Generator.random(size, float32)": lambda: rng.random(args.size, dtype=np.float32),
    }
    for call in calls.values():
        call()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(args.rounds):  # interleaved: each round times every call once, so drifts hit all alike
        for name, call in calls.items():
            best[name] = min(best[name], timeit.timeit(call, number=args.number) / args.number * 1e6)
    print(f"{args.size} float32 elements, torch {torch.__version__}, numpy {np.__version__}; "
          f"best of {args.rounds} interleaved rounds of {args.number} calls\n")
    print("| call | us per call |")
    print("|---|---:|")
    for name in calls:
        print(f"| `{name.strip()}`{' (part of the above)' if name.startswith('  ') else ''} | {best[name]:.2f} |")
    torch_time = best["torch.nn.init.uniform_(t, -1, 1)"]
    print(f"\nfill_uniform / torch uniform_: {best['fastinit.fill_uniform(a, -1, 1, seed=1)'] / torch_time:.2f}; "
          f"fastinit.torch.uniform_ (no seed) / torch uniform_: "
          f"{best['fastinit.torch.uniform_(t, -1, 1) (seed from torch' + chr(39) + 's generator)'] / torch_time:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
