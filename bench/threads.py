"""When two threads pay, on an idle machine and with the other core busy.

    python bench/threads.py crossover            # serial vs parallel kernel by size, per distribution and dtype
    python bench/threads.py loaded               # large fills with a busy process on the other core
    python bench/threads.py loaded --size 1000000 --settings "one thread,omp"

``crossover`` times the serial and the parallel kernel of each distribution
and dtype at sizes 2**10 .. 2**22 (medians of interleaved rounds), and the
library's own choice between them, and prints the ratios; the size from which
the parallel kernel stays at least 1.1x faster on an idle machine is the
threshold that ``fastinit.distributions.PARALLEL_THRESHOLDS`` gives that
kernel. With ``--busy`` a process spinning on the CPU runs alongside.

``loaded`` starts one busy process (a Python loop, the other core's load),
then, in a new process per setting, times the fills of ``--size`` elements on
one thread and, as the library makes them, on all threads with the threading
layers ``omp`` and ``workqueue`` (``tbb`` where installed) and GNU OpenMP's
passive wait policy. Medians and ranges of the rounds; ``--idle`` without the
busy process.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROUNDS = 15


def _kernels():
    import numpy as np

    import fastinit
    from fastinit import distributions
    cases = {
        "uniform": lambda out: fastinit.fill_uniform(out, -1.0, 1.0, seed=1),
        "normal": lambda out: fastinit.fill_normal(out, 0.0, 0.02, seed=1),
        "truncated_normal": lambda out: fastinit.fill_truncated_normal(out, 0.0, 0.02, -0.04, 0.04, seed=1),
    }
    dtypes = {"float32": np.float32, "float64": np.float64, "bfloat16": fastinit._formats.resolve_dtype("bfloat16")}
    return np, distributions, cases, dtypes


def _time(call, repeats):
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def crossover(args):
    np, distributions, cases, dtypes = _kernels()
    busy = _busy() if args.busy else None
    try:
        for name, fill in cases.items():
            for dtype_name, dtype in dtypes.items():
                print(f"\n{name} {dtype_name}: size, serial us, parallel us, fastinit's choice us, "
                      f"serial / parallel, serial / choice (median of {ROUNDS})")
                for exponent in range(10, 23):
                    n = 2 ** exponent
                    out = np.empty(n, dtype)
                    repeats = max(1, 2 ** 21 // n)
                    modes = ("serial", "parallel", "auto")
                    times = {mode: [] for mode in modes}
                    for mode in modes:  # compile first
                        _forced(distributions, mode, lambda: fill(out))
                    for _ in range(ROUNDS):
                        for mode in modes:
                            times[mode].append(_forced(distributions, mode, lambda: _time(lambda: fill(out), repeats)))
                    s, p, a = (statistics.median(times[mode]) for mode in modes)
                    print(f"  2^{exponent:2d} {s * 1e6:10.1f} {p * 1e6:10.1f} {a * 1e6:10.1f} {s / p:6.2f} {s / a:6.2f}")
    finally:
        if busy is not None:
            busy.kill()


def _forced(distributions, mode, call):
    """call() with every fill on one thread (serial), on all (parallel), or as
    the library decides (auto: thresholds, and one thread while the other
    cores are busy)."""
    if mode == "auto":
        return call()
    saved = distributions.PARALLEL_THRESHOLDS.copy(), distributions.PARALLEL_THRESHOLD, distributions.LOADED_THRESHOLD
    limit = 1 if mode == "parallel" else 2 ** 62
    for key in distributions.PARALLEL_THRESHOLDS:
        distributions.PARALLEL_THRESHOLDS[key] = limit
    distributions.PARALLEL_THRESHOLD = limit
    distributions.LOADED_THRESHOLD = limit
    try:
        return call()
    finally:
        distributions.PARALLEL_THRESHOLDS.update(saved[0])
        distributions.PARALLEL_THRESHOLD, distributions.LOADED_THRESHOLD = saved[1], saved[2]


def _busy():
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


SETTINGS = {
    "one thread": {"NUMBA_NUM_THREADS": "1"},
    "omp": {"NUMBA_THREADING_LAYER": "omp"},
    "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
    "tbb": {"NUMBA_THREADING_LAYER": "tbb"},
    "omp passive": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "PASSIVE"},
}


def _measure_child(size, rounds):
    """In a child process: the fill times of every case at ``size`` (JSON on stdout)."""
    import numba

    np, distributions, cases, dtypes = _kernels()
    result = {"threads": numba.get_num_threads(), "layer": None, "times": {}}
    for name, fill in cases.items():
        for dtype_name in ("float32", "float64"):
            out = np.empty(size, dtypes[dtype_name])
            fill(out)
            result["layer"] = numba.threading_layer()
            result["times"][f"{name} {dtype_name}"] = [_time(lambda: fill(out), 1) for _ in range(rounds)]
    print(json.dumps(result))


def loaded(args):
    busy = None if args.idle else _busy()
    try:
        time.sleep(0.5)
        rows = {}
        for setting in args.settings.split(","):
            env = dict(os.environ, **SETTINGS[setting])
            run = subprocess.run([sys.executable, __file__, "_child", "--size", str(args.size),
                                  "--rounds", str(args.rounds)], env=env, capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{setting}: not available ({run.stderr.strip().splitlines()[-1] if run.stderr else 'failed'})")
                continue
            rows[setting] = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        if busy is not None:
            busy.kill()
    load = "idle" if args.idle else "a busy process on the other core"
    print(f"\n{args.size} elements, {load}; ms per fill, median [min, max] of {args.rounds} rounds:\n")
    cases = next(iter(rows.values()))["times"] if rows else {}
    print("| setting | layer | threads | " + " | ".join(cases) + " |")
    print("|---|---|---:|" + "---:|" * len(cases))
    for setting, row in rows.items():
        cells = [f"{statistics.median(t) * 1e3:.2f} [{min(t) * 1e3:.2f}, {max(t) * 1e3:.2f}]"
                 for t in row["times"].values()]
        print(f"| {setting} | {row['layer']} | {row['threads']} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("crossover", help="serial against parallel kernel by size")
    c.add_argument("--busy", action="store_true", help="with a busy process on the other core")
    lo = sub.add_parser("loaded", help="large fills with the other core busy, per threading setting")
    lo.add_argument("--size", type=int, default=10 ** 7)
    lo.add_argument("--rounds", type=int, default=21)
    lo.add_argument("--settings", default="one thread,omp,workqueue,tbb,omp passive")
    lo.add_argument("--idle", action="store_true", help="without the busy process (the reference)")
    child = sub.add_parser("_child")
    child.add_argument("--size", type=int)
    child.add_argument("--rounds", type=int)
    args = parser.parse_args()
    if args.command == "crossover":
        crossover(args)
    elif args.command == "loaded":
        loaded(args)
    else:
        _measure_child(args.size, args.rounds)


if __name__ == "__main__":
    main()
