"""The first GPT-2-small build in a new process (every page freshly faulted),
torch's default init against fastinit.torch.fast_init (as shipped, and with
fastinit.torch._tensors.HUGE_PAGES turned on), alternating, 5 processes each.

    python bench/gpt2_first_build.py
"""

import statistics
import subprocess
import sys

PROGRAM = """
import time, torch
import fastinit.torch as ft
from fastinit.torch import _tensors
from bench.test_backends import gpt2_small
_tensors.HUGE_PAGES = {huge}
torch.set_num_threads(torch.get_num_threads())
for n in (10, 100_000):  # load the cached serial and parallel kernels, start the threads
    ft.normal_(torch.empty(n), seed=0)
    ft.uniform_(torch.empty(n), seed=0)
    torch.empty(n).normal_()
    torch.empty(n).uniform_()
t = time.perf_counter()
if {fast}:
    with ft.fast_init(seed=0):
        model = gpt2_small()
else:
    model = gpt2_small()
print(time.perf_counter() - t)
"""


def main(repeats=5):
    variants = {"torch default": (False, False), "fast_init": (True, False),
                "fast_init, huge pages asked for": (True, True)}
    times = {label: [] for label in variants}
    for _ in range(repeats):
        for label, (fast, huge) in variants.items():
            out = subprocess.run([sys.executable, "-c", PROGRAM.format(fast=fast, huge=huge)],
                                 capture_output=True, text=True, check=True)
            times[label].append(float(out.stdout))
    medians = {k: statistics.median(v) for k, v in times.items()}
    print("| init | median (s) | all runs (s) |")
    print("|---|---:|---|")
    for label, values in times.items():
        print(f"| {label} | {medians[label]:.3f} | {', '.join(f'{v:.3f}' for v in values)} |")
    for label in ("fast_init", "fast_init, huge pages asked for"):
        print(f"\nspeedup of the first build, {label}: {medians['torch default'] / medians[label]:.1f}x")


if __name__ == "__main__":
    main()
