"""fastinit's float32 uniform and normal fills against the compute limit of the same stream.

    python bench/limit.py                       # 7 interleaved rounds
    python bench/limit.py --phx PATH/phx.c --rounds 9

The limit is a C generator of the same stream with AVX-512 intrinsics
(``phx.c`` of the project's shared tools, bit-identical to ``fill_uniform``
and ``fill_normal``), built here with ``gcc -O3 -march=native
-ffp-contract=off -fopenmp`` when gcc and the file are at hand. Each round
runs the C program once (every case) and then fastinit's same cases, so drift
hits both alike; the uniform at 1e8 is also compared with the C program's
non-temporal stores (``-DNTSTORE``), since fastinit streams such outputs. The
cases are those of the C program: 16384 elements per
thread refilled in cache (the kernels alone: the fills are called from a
compiled loop, no per-call overhead), and 1e8 elements (``fill_uniform`` and
``fill_normal`` as users call them) twice: on ``np.empty``'s memory (16 bytes
past a 64-byte line here) and on memory on a 64-byte boundary
(``fastinit.zeros``; torch's allocations are too), on 1 and 2 threads. Prints G samples/s,
medians and ranges, and fastinit's fraction of the limit.

A second table gives the other kernels' fractions of their own limits, in the
same rounds: the 16-bit outputs (the float32 stream rounded) against the C
program's float32 fill of the same distribution in cache; the float64 uniform
and normal and the truncated normals against the Philox word rate alone (the C
program's words case in cache, divided by the words an element takes: 1 for
32-bit streams, 2 for 64-bit ones), an upper bound that leaves out the
transform. At 1e8 the limit is the lower of that and the elements per second of
ordinary stores on the same buffer (``fastinit.fill_constant``, a parallel
loop of stores, on as many threads).
"""

import argparse
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import tempfile
import time

import numba
import numpy as np

import fastinit
from fastinit import _formats, _kernels
from fastinit.bits import NORMAL_ID, TRUNCATED_NORMAL_ID, UNIFORM_ID
from fastinit.distributions import _normal_plan, _truncated_plan, _uniform_plan

SMALL = 16384
BIG = 100_000_000
REPS = 2048
DEFAULT_PHX = pathlib.Path(__file__).resolve().parents[2] / "shared" / "tools" / "philox-limit" / "phx.c"


@numba.njit
def _refill(out, params, fmt, k0, k1, c2, reps):
    for r in range(reps):
        _kernels.fill_serial(out, params, fmt, k0, k1, c2, np.uint64(32), np.uint64(r * out.size))


@numba.njit(parallel=True)
def _refill_threads(outs, params, fmt, k0, k1, c2, reps):
    for t in numba.prange(outs.shape[0]):
        for r in range(reps):
            _kernels.fill_serial(outs[t], params, fmt, k0, k1, c2, np.uint64(32),
                                 np.uint64((r * outs.shape[0] + t) * outs.shape[1]))


CASES = {"uniform": (_kernels.Uniform(0.0, 1.0, float(np.nextafter(np.float32(1), np.float32(0)))), UNIFORM_ID),
         "normal": (_kernels.Normal(0.0, 1.0), NORMAL_ID)}


def _other(kind, dtype):
    """(fill, params, fmt, distribution id) of a case of the second table."""
    if kind == "uniform":
        return (lambda out: fastinit.fill_uniform(out, seed=1)), *_uniform_plan(0.0, 1.0, dtype), UNIFORM_ID
    if kind == "normal":
        return (lambda out: fastinit.fill_normal(out, seed=1)), *_normal_plan(0.0, 1.0, dtype), NORMAL_ID
    return ((lambda out: fastinit.fill_truncated_normal(out, seed=1)), *_truncated_plan(0.0, 1.0, -2.0, 2.0, dtype),
            TRUNCATED_NORMAL_ID)


#: The second table: (distribution, dtype name, the limit: the C program's
#: float32 fill of that distribution, or "words" per element of the Philox rate).
OTHERS = [("uniform", "float64", 2), ("normal", "float64", 2), ("truncated normal [-2, 2]", "float32", 1),
          ("truncated normal [-2, 2]", "float64", 2), ("uniform", "float16", "uniform"),
          ("uniform", "bfloat16", "uniform"), ("normal", "float16", "normal"), ("normal", "bfloat16", "normal")]


def _storage(dtype):
    """The kernels' view of a dtype: uint16 bit patterns for 16-bit outputs."""
    return dtype if dtype in _formats.NATIVE else np.dtype(np.uint16)


def _cached_rate(params, fmt, ident, dtype, threads):
    """G samples/s of the kernel alone, refilling 16384 elements per thread."""
    k0, k1, c2 = np.uint64(0x12345678), np.uint64(0x9ABCDEF0), np.uint64(ident)
    if threads == 1:
        out = np.empty(SMALL, _storage(dtype))
        _refill(out, params, fmt, k0, k1, c2, 1)
        start = time.perf_counter()
        _refill(out, params, fmt, k0, k1, c2, REPS)
        return REPS * SMALL / (time.perf_counter() - start) / 1e9
    outs = np.empty((threads, SMALL), _storage(dtype))
    _refill_threads(outs, params, fmt, k0, k1, c2, 1)
    start = time.perf_counter()
    _refill_threads(outs, params, fmt, k0, k1, c2, REPS)
    return REPS * SMALL * threads / (time.perf_counter() - start) / 1e9


def _timed(threads, call, size):
    """G elements/s of call() on ``threads`` threads, after one call to warm it."""
    saved = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        call()
        start = time.perf_counter()
        call()
        return size / (time.perf_counter() - start) / 1e9
    finally:
        numba.set_num_threads(saved)


def fastinit_rate(kind, size, threads):
    """G samples/s of one measurement."""
    params, ident = CASES[kind]
    if size == SMALL:
        return _cached_rate(params, None, ident, np.dtype(np.float32), threads)
    out = _BIG_BUFFERS[size]
    fill = fastinit.fill_uniform if kind == "uniform" else fastinit.fill_normal
    return _timed(threads, lambda: fill(out, seed=1), out.size)


def other_rate(kind, dtype_name, size, threads):
    """G samples/s of one measurement of a case of the second table."""
    dtype = _formats.resolve_dtype(dtype_name)
    fill, params, fmt, ident = _other(kind, dtype)
    if size == SMALL:
        return _cached_rate(params, fmt, ident, dtype, threads)
    out = _other_buffer(dtype)
    return _timed(threads, lambda: fill(out), out.size)


def bandwidth_rate(dtype_name, threads):
    """G elements/s of ordinary stores on the 1e8 buffer of a dtype on ``threads``
    threads: fastinit.fill_constant, a parallel loop of stores (ndarray.fill is serial)."""
    out = _other_buffer(_formats.resolve_dtype(dtype_name))
    return _timed(threads, lambda: fastinit.fill_constant(out, 0.0), out.size)


def _other_buffer(dtype):
    if dtype not in _OTHER_BUFFERS:
        _OTHER_BUFFERS[dtype] = np.zeros(BIG, dtype)
    return _OTHER_BUFFERS[dtype]


_OTHER_BUFFERS = {}


#: The 1e8-element outputs: NumPy's (np.empty of this size lies 16 bytes past
#: a 64-byte line: streamed through a staging block) and one on a 64-byte
#: boundary, as fastinit's and torch's allocations are (the float32 uniform
#: streams its values from the registers). Filled with zeros before timing.
ALIGNED = "1e8, on a 64-byte boundary"
_BIG_BUFFERS = {}
_LINE = re.compile(r"^(uniform|normal|words)\s+(16k|1e8)\s+x(\d)\s+median\s+([\d.]+)")


def build_phx(source, *defines):
    if not source.exists() or shutil.which("gcc") is None:
        return None
    binary = pathlib.Path(tempfile.mkdtemp()) / "phx"
    subprocess.run(["gcc", "-O3", "-march=native", "-ffp-contract=off", "-fopenmp", *defines, str(source), "-o",
                    str(binary), "-lm"], check=True)
    return binary


def phx_rates(binary, env=None):
    run = subprocess.run([str(binary), "1"], capture_output=True, text=True, check=True,
                         env=None if env is None else dict(os.environ, **env))
    rates = {}
    for line in run.stdout.splitlines():
        match = _LINE.match(line)
        if match:
            kind, where, threads, rate = match.groups()
            rates[(kind, SMALL if where == "16k" else BIG, int(threads))] = float(rate)
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phx", type=pathlib.Path, default=DEFAULT_PHX, help="the C limit's source, phx.c")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    binary = build_phx(args.phx)
    streaming = build_phx(args.phx, "-DNTSTORE")  # the uniform at 1e8 with non-temporal stores, as fastinit's
    _BIG_BUFFERS[BIG] = np.empty(BIG, np.float32)
    _BIG_BUFFERS[ALIGNED] = fastinit.zeros((BIG,), dtype=np.float32)
    _BIG_BUFFERS[BIG].fill(0)
    assert _BIG_BUFFERS[ALIGNED].ctypes.data % 64 == 0
    keys = [(kind, size, threads) for size in (SMALL, BIG, ALIGNED) for kind in CASES for threads in (1, 2)]
    ours = {key: [] for key in keys}
    limit = {key: [] for key in keys}
    limit_nt = {key: [] for key in keys if key[0] == "uniform" and key[1] != SMALL}
    others = [(kind, dtype, size, threads) for kind, dtype, _ in OTHERS for size in (SMALL, BIG) for threads in (1, 2)]
    other_ours = {key: [] for key in others}
    words = {threads: [] for threads in (1, 2)}
    stores = {(dtype, threads): [] for _, dtype, _ in OTHERS for threads in (1, 2)}
    for _ in range(args.rounds):
        if binary is not None:
            for (kind, size, threads), rate in phx_rates(binary).items():
                if kind == "words" and size == SMALL:
                    words[threads].append(rate)
                for where in ((SMALL,) if size == SMALL else (BIG, ALIGNED)):
                    if (kind, where, threads) in limit:
                        limit[kind, where, threads].append(rate)
            for (kind, size, threads), rate in phx_rates(streaming, {"NTONLY": "1"}).items():
                for where in (BIG, ALIGNED):
                    if (kind, where, threads) in limit_nt:
                        limit_nt[kind, where, threads].append(rate)
        for key in keys:
            ours[key].append(fastinit_rate(*key))
        for key in others:
            other_ours[key].append(other_rate(*key))
        for dtype, threads in stores:
            stores[dtype, threads].append(bandwidth_rate(dtype, threads))
    print(f"{os.cpu_count()} CPUs, Numba {numba.__version__}, {args.rounds} interleaved rounds; "
          f"G samples/s, median [min, max]{'' if binary else ' (no C limit: gcc or phx.c missing)'}\n")
    print("| case | threads | C limit | fastinit | fraction |")
    print("|---|---:|---:|---:|---:|")
    rows = [(key, limit[key], "") for key in keys]
    rows += [(key, limit_nt[key], ", C with streaming stores") for key in limit_nt]
    for key, c, note in rows:
        kind, size, threads = key
        where = {SMALL: "in cache (16k)", BIG: "1e8, np.empty"}.get(size, size) + note
        print(f"| {kind}, {where} | {threads} | {_cell(c)} | {_cell(ours[key])} | {_fraction(ours[key], c)} |")
    print("\nThe other kernels against their own limits (the C float32 fill of the distribution in cache, "
          "or the Philox word rate per element; at 1e8 no more than ordinary stores' rate):\n")
    print("| case | dtype | threads | limit | fastinit | fraction | what bounds it |")
    print("|---|---|---:|---:|---:|---:|---|")
    for kind, dtype, bound in OTHERS:
        for size in (SMALL, BIG):
            for threads in (1, 2):
                if isinstance(bound, str):
                    compute = limit.get((bound, SMALL, threads), [])
                    what = f"C float32 {bound} in cache"
                else:
                    compute = [w / bound for w in words[threads]]
                    what = f"Philox words / {bound}"
                cap = compute
                if size == BIG:
                    store = stores[dtype, threads]
                    if not compute or statistics.median(store) < statistics.median(compute):
                        cap, what = store, "ordinary stores"
                f = other_ours[kind, dtype, size, threads]
                where = "in cache (16k)" if size == SMALL else "1e8"
                print(f"| {kind}, {where} | {dtype} | {threads} | {_cell(cap)} | {_cell(f)} | {_fraction(f, cap)} | "
                      f"{what} |")


def _cell(rates):
    return f"{statistics.median(rates):.2f} [{min(rates):.2f}, {max(rates):.2f}]" if rates else ""


def _fraction(ours, bound):
    return f"{statistics.median(ours) / statistics.median(bound):.0%}" if bound else ""

if __name__ == "__main__":
    main()
