"""Interleaved measurement: every method of a group timed round by round.

A group is one (dtype, size, thread count). Each method is called once to
compile and to touch its buffers (JIT excluded from throughput), then timed
in rounds; in every round each method runs once, in a rotating order, so a
burst of load on the shared machine hits all of them alike and the ratios
hold. Short calls are batched so that a round of one method lasts at least
``MIN_ROUND_SECONDS``.
"""

import math
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

import numba

from .catalogue import close_pools

MIN_ROUND_SECONDS = 2e-3
THREADED_LIBRARIES = ("fastinit", "torch", "numpy-threads")


@dataclass
class Record:
    method: str
    library: str
    distribution: str
    allocating: bool
    dtype: str
    size: int
    threads: int
    itemsize: int
    times: list = field(default_factory=list)   # seconds per call, one per round

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def spread(self):
        """Interquartile range of the rounds over their median: robust to one
        stalled round, wide when the machine was busy throughout."""
        if len(self.times) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.times, n=4, method="inclusive")
        return (q3 - q1) / self.median

    @property
    def samples_per_second(self):
        return self.size / self.median

    @property
    def bytes_per_second(self):
        return self.size * self.itemsize / self.median

    def as_dict(self):
        d = asdict(self)
        d.update(median=self.median, spread=self.spread, samples_per_second=self.samples_per_second,
                 bytes_per_second=self.bytes_per_second)
        return d


def set_threads(threads):
    numba.set_num_threads(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _estimate(call, budget=1e-3, most=1024):
    """Seconds per call, from back-to-back calls (doubling until budget is spent):
    one lone call can be several times slower (sleeping threads, cold caches)."""
    count = 1
    while True:
        start = time.perf_counter()
        for _ in range(count):
            call()
        elapsed = time.perf_counter() - start
        if elapsed >= budget or count >= most:
            return max(elapsed / count, 1e-7)
        count *= 2


def measure_group(methods, dtype, size, threads, rounds=(3, 9), seconds=1.0):
    """Records of every method that supports dtype, timed in interleaved rounds.

    rounds: (fewest, most) rounds; within that range, as many as fit in
    ``seconds`` of total timed work."""
    set_threads(threads)
    from .catalogue import numpy_dtype
    itemsize = numpy_dtype(dtype).itemsize
    calls, records, batch, estimates = [], [], [], []
    for method in methods:
        if not method.supports(dtype):
            continue
        call = method.make(size, dtype, threads)
        call()  # compile, first-touch the buffers
        estimate = _estimate(call)
        calls.append(call)
        estimates.append(estimate)
        batch.append(max(1, math.ceil(MIN_ROUND_SECONDS / estimate)))
        records.append(Record(method.name, method.library, method.distribution, method.allocating,
                              dtype, size, threads, itemsize))
    if not calls:
        return []
    per_round = sum(b * e for b, e in zip(batch, estimates))
    n_rounds = min(max(rounds[0], int(seconds / max(per_round, 1e-9))), rounds[1])
    for r in range(n_rounds):
        order = list(range(len(calls)))
        order = order[r % len(order):] + order[: r % len(order)]
        for i in order:
            start = time.perf_counter()
            for _ in range(batch[i]):
                calls[i]()
            records[i].times.append((time.perf_counter() - start) / batch[i])
    close_pools()
    return records


STARTUP_PROGRAM = """
import time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
import fastinit
t2 = time.perf_counter()
fastinit.fill_normal(np.empty(1_000_000, np.float32), seed=0)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def measure_startup(repeats=2):
    """import numpy, import fastinit, first fill_normal (1e6 float32), each in a
    new process: with an empty kernel cache (cold), then with it (warm)."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(__import__("os").environ, NUMBA_CACHE_DIR=cache)
        for label in ["cold"] + ["warm"] * repeats:
            out = subprocess.run([sys.executable, "-c", STARTUP_PROGRAM], env=env, capture_output=True,
                                 text=True, check=True)
            numpy_s, import_s, fill_s = (float(v) for v in out.stdout.split())
            rows.append({"cache": label, "import_numpy": numpy_s, "import_fastinit": import_s,
                         "first_fill": fill_s, "total": numpy_s + import_s + fill_s})
    return rows
