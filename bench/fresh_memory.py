"""Filling fresh memory: a new torch tensor filled by fastinit.torch.normal_,
with and without transparent huge pages asked for first, against the same fill
of a warm (already touched) tensor. Interleaved rounds, one process.

Two more rows time torch's own ``fill_(0.0)`` (a memset) on a warm and on a
fresh tensor: what first-touch page faults cost any writer of new memory on
the machine, whatever it computes. A last one pre-faults the fresh tensor with
``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14+) before the fill, both timed.

    python bench/fresh_memory.py            # 8192 x 8192 float32, 5 rounds
"""

import argparse
import statistics
import time

import torch

MADV_POPULATE_WRITE = 23

import fastinit.torch as ft
from fastinit import _buffers


def fill_time(tensor):
    start = time.perf_counter()
    ft.normal_(tensor, seed=1)
    return time.perf_counter() - start


def populated_fill_time(tensor):
    madvise = _buffers._madvise()
    first = tensor.data_ptr() & ~4095  # madvise wants a page-aligned start
    length = tensor.data_ptr() + tensor.numel() * tensor.element_size() - first
    start = time.perf_counter()
    if madvise(first, length, MADV_POPULATE_WRITE) != 0:
        raise OSError("madvise(MADV_POPULATE_WRITE) failed")
    ft.normal_(tensor, seed=1)
    return time.perf_counter() - start


def zero_time(tensor):
    start = time.perf_counter()
    tensor.fill_(0.0)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=8192 * 8192)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    ft.normal_(torch.empty(args.elements), seed=0)  # kernels loaded, threads started
    times = {"warm tensor": [], "fresh, 4 KiB pages": [], "fresh, huge pages asked for": [],
             "torch fill_(0.0), warm tensor": [], "torch fill_(0.0), fresh tensor": [],
             "fresh, pre-faulted by MADV_POPULATE_WRITE, then filled": []}
    default = _buffers.HUGE_PAGES
    for _ in range(args.rounds):
        warm = torch.empty(args.elements)
        ft.normal_(warm, seed=0)
        times["warm tensor"].append(fill_time(warm))
        times["torch fill_(0.0), warm tensor"].append(zero_time(warm))
        del warm
        times["torch fill_(0.0), fresh tensor"].append(zero_time(torch.empty(args.elements)))
        times["fresh, pre-faulted by MADV_POPULATE_WRITE, then filled"].append(
            populated_fill_time(torch.empty(args.elements)))
        try:
            for label, huge in (("fresh, 4 KiB pages", False), ("fresh, huge pages asked for", True)):
                _buffers.HUGE_PAGES = huge
                times[label].append(fill_time(torch.empty(args.elements)))
        finally:
            _buffers.HUGE_PAGES = default
    base = statistics.median(times["warm tensor"])
    print(f"{args.elements} float32 elements, {args.rounds} interleaved rounds\n")
    print("| fill of | median (s) | all rounds (s) | vs warm |")
    print("|---|---:|---|---:|")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"| {label} | {median:.4f} | {', '.join(f'{v:.4f}' for v in values)} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
