"""fastinit._buffers: new aligned buffers, and the huge-page switch (FASTINIT_HUGE_PAGES)."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastinit import _buffers

# In a new process: a fastinit-made array and a torch tensor filled by
# fastinit.torch, 16 MiB each; for each, whether the kernel marked the 2 MiB-
# aligned interior of its memory for huge pages ("hg" in the VmFlags of
# /proc/self/smaps), and the digest of the values.
PROGRAM = r"""
import hashlib, json
import torch
import fastinit, fastinit.torch as ft
from fastinit import _buffers

def advised(address):
    inside = (address + (2 << 20) - 1) & ~((2 << 20) - 1)
    found = None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and len(line.split()) >= 5 and all(c in "0123456789abcdef-" for c in head):
                start, end = (int(x, 16) for x in head.split("-"))
                found = start <= inside < end
            elif found and line.startswith("VmFlags:"):
                return "hg" in line.split()[1:]
    raise AssertionError("no mapping holds the buffer")

array = fastinit.normal((2048, 2048), std=0.02, seed=0)
tensor = torch.empty(2048 * 2048)
ft.normal_(tensor, std=0.02, seed=0)
print(json.dumps({"switch": _buffers.HUGE_PAGES,
                  "array": advised(array.ctypes.data), "tensor": advised(tensor.data_ptr()),
                  "values": hashlib.sha256(array.tobytes() + tensor.numpy().tobytes()).hexdigest()}))
"""


def run(huge):
    env = {k: v for k, v in os.environ.items() if k != "FASTINIT_HUGE_PAGES"}
    if huge is not None:
        env["FASTINIT_HUGE_PAGES"] = huge
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="needs Linux's /proc/self/smaps")
def test_huge_page_switch_marks_fresh_memory_and_keeps_the_values():
    off, on, other = run(None), run("1"), run("yes")
    assert off["switch"] is False and other["switch"] is False  # only "1" turns it on
    assert off["array"] is False and off["tensor"] is False
    assert on["switch"] is True and on["array"] is True and on["tensor"] is True
    assert on["values"] == off["values"] == other["values"]
    expected = np.concatenate([np.asarray(_reference(), np.float32)] * 2)
    assert on["values"] == hashlib.sha256(expected.tobytes()).hexdigest()


def _reference():
    import fastinit
    return fastinit.fill_normal(np.empty(2048 * 2048, np.float32), std=0.02, seed=0)


@pytest.mark.parametrize("shape, dtype", [((3,), np.float32), ((1000, 1100), np.float64), ((4096, 1024), np.uint16)])
def test_aligned_empty_is_aligned_c_contiguous_and_writable(shape, dtype):
    out = _buffers.aligned_empty(shape, dtype)
    assert out.shape == shape and out.dtype == dtype and out.flags.c_contiguous and out.flags.writeable
    assert out.ctypes.data % _buffers.ALIGNMENT == 0
    out[...] = 1
    assert np.all(out == 1)
