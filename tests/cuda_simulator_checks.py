"""Run under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, set by
tests/test_cuda.py): fastinit's GPU kernels, their Python source run thread by
thread, fill simulated device arrays; each result is compared with the CPU
fill of the same call, bit for bit. Prints one line per check, ``ok`` or
``MISMATCH``, then ``done``. Arguments: ``big`` (the 65,536-element fills of
every distribution and dtype) or ``small`` (the other truncated regimes, strided
and region outputs, the schemes' ``out=``)."""

import os
import sys

assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"

import numpy as np  # noqa: E402
from numba import cuda  # noqa: E402

import fastinit  # noqa: E402
from tests.stream_cases import CASES, DTYPES, fill  # noqa: E402


def bits(a):
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}")


def device(shape, dtype):
    return cuda.device_array(shape, np.dtype(dtype))


def report(label, got, expected):
    same = got.shape == expected.shape and np.array_equal(bits(got), bits(expected))
    print(f"{'ok' if same else 'MISMATCH'} {label}", flush=True)


def check(label, condition):
    print(f"{'ok' if condition else 'MISMATCH'} {label}", flush=True)


def check_fill(dtype, label, distribution, arguments, n, offset, seed=11):
    out = device(n, dtype)
    returned = fill(out, distribution, arguments, seed, offset)
    assert returned is out
    report(f"{label} {np.dtype(dtype)} n={n} offset={offset}", out.copy_to_host(),
           fill(np.empty(n, dtype), distribution, arguments, seed, offset))


class _count_launches:
    """Counts launches of the fill kernel (fastinit.cuda looks it up per launch)."""

    def __init__(self):
        from fastinit.cuda import _kernels
        self.module, self.kernel, self.count = _kernels, _kernels.fill_counters, 0
        _kernels.fill_counters = self

    def __getitem__(self, configuration):
        self.count += 1
        return self.kernel[configuration]

    def restore(self):
        self.module.fill_counters = self.kernel


def big():
    # uniform, normal (the float64 ziggurat's slow paths), the truncated normal with tails
    for dtype in DTYPES:
        for label, distribution, arguments in CASES:
            if label in ("uniform", "normal", "truncated skewed"):
                check_fill(dtype, label, distribution, arguments, 65_536 + 300, 700)


def small():
    for dtype in DTYPES:
        for label, distribution, arguments in CASES:
            if label not in ("uniform", "normal", "truncated skewed"):
                check_fill(dtype, label, distribution, arguments, 3000, 2**34 - 1500)
        # a strided view: every other column of a matrix
        whole = device((40, 64), dtype)
        host = np.zeros((40, 64), dtype)
        fastinit.fill_constant(whole, 0.0)
        fastinit.fill_normal(whole[:, ::2], 0.0, 3.0, seed=5, offset=9)
        fastinit.fill_normal(host[:, ::2], 0.0, 3.0, seed=5, offset=9)
        report(f"strided {np.dtype(dtype)}", whole.copy_to_host(), host)
        # on a stream (fastinit.cuda.stream): the same bits, the stream restored after
        on = cuda.stream()
        with fastinit.cuda.stream(on):
            assert fastinit.cuda.launch_stream() is on
            flat = device(5000, dtype)
            fastinit.fill_truncated_normal(flat, 0.0, 1.0, -0.5, 3.0, seed=4, offset=2**32 - 700)
            fastinit.fill_uniform(whole[:, 1::2], -2.0, 1.0, seed=8)
        assert fastinit.cuda.launch_stream() is None
        report(f"stream contiguous {np.dtype(dtype)}", flat.copy_to_host(),
               fastinit.fill_truncated_normal(np.empty(5000, dtype), 0.0, 1.0, -0.5, 3.0, seed=4, offset=2**32 - 700))
        fastinit.fill_uniform(host[:, 1::2], -2.0, 1.0, seed=8)
        report(f"stream strided {np.dtype(dtype)}", whole.copy_to_host(), host)
        # a region of a larger tensor, and schemes with out=
        region = (slice(8, 40), slice(16, 40))
        out = device((32, 24), dtype)
        fastinit.truncated_normal((64, 48), std=0.5, region=region, out=out, seed=3)
        report(f"region {np.dtype(dtype)}", out.copy_to_host(),
               fastinit.truncated_normal((64, 48), std=0.5, region=region, dtype=dtype, seed=3))
        # regions' rows in one launch each: a column shard, a 3-D shard cut on its middle axis
        # (rows of two merged axes), one cut on its first two (a launch per index of the first),
        # a region of a strided view, and rows past the grid's y limit (lowered here)
        launches = _count_launches()
        for full, cut, expected_launches in (((64, 48), (slice(None), slice(5, 29)), 1),
                                             ((6, 20, 7), (slice(None), slice(3, 17), slice(None)), 1),
                                             ((6, 20, 7), (slice(1, 4), slice(3, 17), slice(2, 6)), 3)):
            shape = tuple(len(range(*c.indices(n))) for c, n in zip(cut, full))
            out = device(shape, dtype)
            launches.count = 0
            fastinit.normal(full, std=0.5, region=cut, out=out, seed=13)
            report(f"rows of region {full} {cut} {np.dtype(dtype)}", out.copy_to_host(),
                   fastinit.normal(full, std=0.5, region=cut, dtype=dtype, seed=13))
            check(f"launches of region {full} {cut}: {launches.count}", launches.count == expected_launches)
        wide = device((40, 80), dtype)
        fastinit.fill_constant(wide, 0.0)
        expected = np.zeros((40, 80), dtype)
        fastinit.uniform((40, 60), region=(slice(None), slice(7, 47)), out=wide[:, ::2], seed=2)
        fastinit.uniform((40, 60), region=(slice(None), slice(7, 47)), out=expected[:, ::2], seed=2)
        report(f"region of a strided view {np.dtype(dtype)}", wide.copy_to_host(), expected)
        limit, fastinit.cuda._MAX_GRID_Y = fastinit.cuda._MAX_GRID_Y, 7
        try:
            out = device((40, 9), dtype)
            launches.count = 0
            fastinit.truncated_normal((40, 30), region=(slice(None), slice(20, 29)), out=out, seed=4)
        finally:
            fastinit.cuda._MAX_GRID_Y = limit
        report(f"rows past the grid's limit {np.dtype(dtype)}", out.copy_to_host(),
               fastinit.truncated_normal((40, 30), region=(slice(None), slice(20, 29)), dtype=dtype, seed=4))
        check(f"launches of 40 rows, 7 per launch: {launches.count}", launches.count == 6)
        launches.restore()
        # device= instead of out=: a new device array
        made = fastinit.kaiming_normal((64, 48), region=region, dtype=dtype, seed=6, device="cuda")
        report(f"device= region {np.dtype(dtype)}", made.copy_to_host(),
               fastinit.kaiming_normal((64, 48), region=region, dtype=dtype, seed=6))
        made = fastinit.orthogonal((24, 16), dtype=dtype, seed=6, device="cuda:0")
        report(f"device= orthogonal {np.dtype(dtype)}", made.copy_to_host(),
               fastinit.orthogonal((24, 16), dtype=dtype, seed=6))
        for name, kwargs in (("kaiming_uniform", {"a": 5 ** 0.5}), ("xavier_normal", {}), ("orthogonal", {}),
                             ("ones", {}), ("eye", {})):
            out = device((48, 32), dtype)
            seeded = {} if name in ("ones", "eye") else {"seed": 21}
            assert getattr(fastinit, name)(out=out, **seeded, **kwargs) is out
            report(f"{name} {np.dtype(dtype)}", out.copy_to_host(),
                   getattr(fastinit, name)((48, 32), dtype=dtype, **seeded, **kwargs))


if __name__ == "__main__":
    {"big": big, "small": small}[sys.argv[1]]()
    print("done")
