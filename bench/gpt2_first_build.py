"""The first GPT-2-small build in a new process (every page freshly faulted),
torch's default init against fastinit.torch.fast_init (as shipped, and with
fastinit._buffers.HUGE_PAGES turned on), alternating, 5 processes each.

A fourth variant measures the floor of any initializer on the machine: the
same 124M parameters allocated and written once by ``fill_(0.0)``, without
modules or init (first-touch page faults and the write). The largest speedup
any initializer could show over torch's default is torch's time over it.

    python bench/gpt2_first_build.py
"""

import statistics
import subprocess
import sys

PROGRAM = """
import time, torch
import fastinit.torch as ft
from fastinit import _buffers
from bench.test_backends import gpt2_small
_buffers.HUGE_PAGES = {huge}
torch.set_num_threads(torch.get_num_threads())
for n in (10, 100_000):  # load the cached serial and parallel kernels, start the threads
    ft.normal_(torch.empty(n), seed=0)
    ft.uniform_(torch.empty(n), seed=0)
    torch.empty(n).normal_()
    torch.empty(n).uniform_()
    torch.empty(n).fill_(0.0)
shapes = [p.shape for p in gpt2_small().to("meta").parameters()]
t = time.perf_counter()
if {mode!r} == "fast_init":
    with ft.fast_init(seed=0):
        model = gpt2_small()
elif {mode!r} == "floor":
    model = [torch.empty(shape).fill_(0.0) for shape in shapes]
else:
    model = gpt2_small()
print(time.perf_counter() - t)
"""


def main(repeats=5):
    variants = {"torch default": ("torch", False), "fast_init": ("fast_init", False),
                "fast_init, huge pages asked for": ("fast_init", True),
                "floor: the parameters' memory written once (fill_(0.0))": ("floor", False)}
    times = {label: [] for label in variants}
    for _ in range(repeats):
        for label, (mode, huge) in variants.items():
            out = subprocess.run([sys.executable, "-c", PROGRAM.format(mode=mode, huge=huge)],
                                 capture_output=True, text=True, check=True)
            times[label].append(float(out.stdout))
    medians = {k: statistics.median(v) for k, v in times.items()}
    print("| init | median (s) | all runs (s) |")
    print("|---|---:|---|")
    for label, values in times.items():
        print(f"| {label} | {medians[label]:.3f} | {', '.join(f'{v:.3f}' for v in values)} |")
    for label in variants:
        if label != "torch default":
            print(f"\ntorch default / {label}: {medians['torch default'] / medians[label]:.1f}x")


if __name__ == "__main__":
    main()
