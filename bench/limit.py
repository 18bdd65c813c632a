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
from fastinit import _kernels
from fastinit.bits import NORMAL_ID, UNIFORM_ID

SMALL = 16384
BIG = 100_000_000
REPS = 2048
DEFAULT_PHX = pathlib.Path(__file__).resolve().parents[2] / "shared" / "tools" / "philox-limit" / "phx.c"


@numba.njit
def _refill(out, params, k0, k1, c2, reps):
    for r in range(reps):
        _kernels.fill_serial(out, params, None, k0, k1, c2, np.uint64(32), np.uint64(r * out.size))


@numba.njit(parallel=True)
def _refill_threads(outs, params, k0, k1, c2, reps):
    for t in numba.prange(outs.shape[0]):
        for r in range(reps):
            _kernels.fill_serial(outs[t], params, None, k0, k1, c2, np.uint64(32),
                                 np.uint64((r * outs.shape[0] + t) * outs.shape[1]))


CASES = {"uniform": (_kernels.Uniform(0.0, 1.0, float(np.nextafter(np.float32(1), np.float32(0)))), UNIFORM_ID),
         "normal": (_kernels.Normal(0.0, 1.0), NORMAL_ID)}


def fastinit_rate(kind, size, threads):
    """G samples/s of one measurement."""
    params, ident = CASES[kind]
    k0, k1, c2 = np.uint64(0x12345678), np.uint64(0x9ABCDEF0), np.uint64(ident)
    if size == SMALL:
        if threads == 1:
            out = np.empty(SMALL, np.float32)
            _refill(out, params, k0, k1, c2, 1)
            start = time.perf_counter()
            _refill(out, params, k0, k1, c2, REPS)
            return REPS * SMALL / (time.perf_counter() - start) / 1e9
        outs = np.empty((threads, SMALL), np.float32)
        _refill_threads(outs, params, k0, k1, c2, 1)
        start = time.perf_counter()
        _refill_threads(outs, params, k0, k1, c2, REPS)
        return REPS * SMALL * threads / (time.perf_counter() - start) / 1e9
    out = _BIG_BUFFERS[size]
    fill = fastinit.fill_uniform if kind == "uniform" else fastinit.fill_normal
    saved = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        fill(out, seed=1)
        start = time.perf_counter()
        fill(out, seed=1)
        return out.size / (time.perf_counter() - start) / 1e9
    finally:
        numba.set_num_threads(saved)


#: The 1e8-element outputs: NumPy's (np.empty of this size lies 16 bytes past
#: a 64-byte line: streamed through a staging block) and one on a 64-byte
#: boundary, as fastinit's and torch's allocations are (the float32 uniform
#: streams its values from the registers). Filled with zeros before timing.
ALIGNED = "1e8, on a 64-byte boundary"
_BIG_BUFFERS = {}
_LINE = re.compile(r"^(uniform|normal)\s+(16k|1e8)\s+x(\d)\s+median\s+([\d.]+)")


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
    for _ in range(args.rounds):
        if binary is not None:
            for (kind, size, threads), rate in phx_rates(binary).items():
                for where in ((SMALL,) if size == SMALL else (BIG, ALIGNED)):
                    if (kind, where, threads) in limit:
                        limit[kind, where, threads].append(rate)
            for (kind, size, threads), rate in phx_rates(streaming, {"NTONLY": "1"}).items():
                for where in (BIG, ALIGNED):
                    if (kind, where, threads) in limit_nt:
                        limit_nt[kind, where, threads].append(rate)
        for key in keys:
            ours[key].append(fastinit_rate(*key))
    print(f"{os.cpu_count()} CPUs, Numba {numba.__version__}, {args.rounds} interleaved rounds; "
          f"G samples/s, median [min, max]{'' if binary else ' (no C limit: gcc or phx.c missing)'}\n")
    print("| case | threads | C limit | fastinit | fraction |")
    print("|---|---:|---:|---:|---:|")
    rows = [(key, limit[key], "") for key in keys]
    rows += [(key, limit_nt[key], ", C with streaming stores") for key in limit_nt]
    for key, c, note in rows:
        kind, size, threads = key
        where = {SMALL: "in cache (16k)", BIG: "1e8, np.empty"}.get(size, size) + note
        f = ours[key]
        cell = f"{statistics.median(f):.2f} [{min(f):.2f}, {max(f):.2f}]"
        if c:
            print(f"| {kind}, {where} | {threads} | {statistics.median(c):.2f} [{min(c):.2f}, {max(c):.2f}] | {cell} | "
                  f"{statistics.median(f) / statistics.median(c):.0%} |")
        else:
            print(f"| {kind}, {where} | {threads} | | {cell} | |")


if __name__ == "__main__":
    main()
