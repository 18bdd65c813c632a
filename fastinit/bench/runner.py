"""Interleaved measurement: every method of a group timed round by round.

A group is one (dtype, size, thread count). Each method is called once to
compile and to touch its buffers (JIT excluded from throughput), then timed
in rounds; in every round each method runs once, in a rotating order, so a
burst of load on the shared machine hits all of them alike and the ratios
hold. Short calls are batched so that a round of one method lasts at least
``MIN_ROUND_SECONDS``.
"""

import glob
import math
import os
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


def _rounds(per_round, rounds, seconds):
    """How many rounds: as many as fit in ``seconds``, within (fewest, most)."""
    return min(max(rounds[0], int(seconds / max(per_round, 1e-9))), rounds[1])


def measure_group(methods, dtype, size, threads, rounds=(3, 9), seconds=1.0, progress=None, planned=None):
    """Records of every method that supports dtype, timed in interleaved rounds.

    rounds: (fewest, most) rounds; within that range, as many as fit in
    ``seconds`` of total timed work. progress: called with a number of planned
    seconds after each method's preparation and after each round, so that the
    calls of a group add up to its plan (``planned``, a ``GroupPlan``)."""
    set_threads(threads)
    from .catalogue import numpy_dtype
    itemsize = numpy_dtype(dtype).itemsize
    supported = [m for m in methods if m.supports(dtype)]
    if progress is not None and planned is None:
        planned = Planner().group(supported, dtype, size, threads, rounds, seconds)
    calls, records, batch, estimates = [], [], [], []
    for i, method in enumerate(supported):
        call = method.make(size, dtype, threads)
        call()  # compile, first-touch the buffers
        estimate = _estimate(call)
        calls.append(call)
        estimates.append(estimate)
        batch.append(max(1, math.ceil(MIN_ROUND_SECONDS / estimate)))
        records.append(Record(method.name, method.library, method.distribution, method.allocating,
                              dtype, size, threads, itemsize))
        if progress is not None:
            progress(planned.setup[i])
    if not calls:
        return []
    n_rounds = _rounds(sum(b * e for b, e in zip(batch, estimates)), rounds, seconds)
    for r in range(n_rounds):
        order = list(range(len(calls)))
        order = order[r % len(order):] + order[: r % len(order)]
        for i in order:
            start = time.perf_counter()
            for _ in range(batch[i]):
                calls[i]()
            records[i].times.append((time.perf_counter() - start) / batch[i])
        if progress is not None:
            progress(planned.timed / n_rounds)
    close_pools()
    return records


# ---------------------------------------------------------------------------
# Planned durations
# ---------------------------------------------------------------------------
# A rough model of what one call costs, from a run of the full report on a
# 2-core AMD EPYC (AVX-512) with NumPy, PyTorch and JAX. It sets the progress
# bar's total and the expected duration printed at the start; nothing that is
# reported as measured depends on it. Nanoseconds per element at sizes beyond
# the caches, all (2) threads, by (library, kind) and then float32, float64,
# 16-bit.
_NS_PER_ELEMENT = {
    ("ndarray.fill", "fill"): (0.15, 0.3, 0.3),
    ("fastinit", "uniform"): (0.3, 0.45, 0.3),
    ("fastinit", "normal"): (0.35, 1.1, 0.4),
    ("fastinit", "truncated_normal"): (0.35, 1.3, 0.35),
    ("numpy", "uniform"): (1.5, 1.9, 1.9),
    ("numpy", "normal"): (8.5, 9.6, 9.6),
    ("numpy-threads", "uniform"): (0.9, 1.1, 1.1),
    ("numpy-threads", "normal"): (4.5, 5.0, 5.0),
    ("torch", "uniform"): (2.2, 3.5, 3.3),
    ("torch", "normal"): (2.7, 15.5, 3.9),
    ("torch", "truncated_normal"): (20.0, 85.0, 30.0),  # and more beyond 1e6 elements (below)
    ("jax", "uniform"): (2.5, 2.5, 3.0),
    ("jax", "normal"): (2.7, 2.7, 4.0),
    ("jax", "truncated_normal"): (3.0, 3.0, 7.0),
}
_KIND = {"uniform": "uniform", "xavier_uniform": "uniform", "normal": "normal", "kaiming_normal": "normal",
         "truncated_normal": "truncated_normal", "fill": "fill"}
_CALL_OVERHEAD = {"fastinit": 6e-6, "numpy": 2e-6, "numpy-threads": 70e-6, "torch": 5e-6, "jax": 150e-6,
                  "ndarray.fill": 1e-6}
_ONE_THREAD_FACTOR = {"fastinit": 1.8, "numpy-threads": 1.8}  # slower with one thread than with two
_FRESH_BYTES = 6e6            # allocations beyond this get new pages (page faults) on every call
_FRESH_NS_PER_BYTE = 0.4      # faulting in new pages, one thread (fastinit's threads share it)
_JAX_FRESH_NS_PER_ELEMENT = 7.0
_COMPILE_SECONDS = {"cold": 3.0, "warm": 0.15}   # fastinit, per kernel kind, dtype and serial/parallel path
_FIRST_COMPILE_SECONDS = {"cold": 2.0, "warm": 1.0}
_JAX_JIT_SECONDS = 0.6        # per JAX method and group (one shape each)
_TORCH_IMPORT_SECONDS = 2.5
_ESTIMATE_SECONDS = 1.5e-3    # _estimate's back-to-back calls of a short method


def expected_call_seconds(method, dtype, size, threads):
    """The model's seconds for one timed call (see ``_NS_PER_ELEMENT``)."""
    from .catalogue import numpy_dtype
    itemsize = numpy_dtype(dtype).itemsize
    kind = _KIND.get(method.distribution, "uniform")
    library = method.library
    column = {"float32": 0, "float64": 1}.get(dtype, 2)
    per_element = _NS_PER_ELEMENT.get((library, kind), _NS_PER_ELEMENT.get((library, "uniform"), (2.0,) * 3))[column]
    if library == "torch" and kind == "truncated_normal" and size > 1e6:
        per_element *= (size / 1e6) ** 0.25
    if threads == 1:
        per_element *= _ONE_THREAD_FACTOR.get(library, 1.0)
    fresh = size * itemsize > _FRESH_BYTES
    if fresh and library == "jax":
        per_element += _JAX_FRESH_NS_PER_ELEMENT
    elif fresh and method.allocating:
        share = min(threads, 2) if library == "fastinit" else 1
        per_element += _FRESH_NS_PER_BYTE * itemsize / share
    return _CALL_OVERHEAD.get(library, 5e-6) + size * per_element * 1e-9


def kernel_cache_warm():
    """Whether compiled fastinit kernels are on disk (then the first calls load
    them instead of compiling): looked for where Numba caches them (as
    ``fastinit._jit`` finds it, where it can say), under NUMBA_CACHE_DIR and in
    the package's ``__pycache__``."""
    import fastinit
    from fastinit import _jit
    folders = []
    locate = getattr(_jit, "_numba_cache_path", None)
    if callable(locate):
        try:
            folders.append(locate())
        except Exception:  # only an estimate depends on it
            pass
    if getattr(_jit, "_CACHE_DIR", None):
        folders += glob.glob(os.path.join(_jit._CACHE_DIR, "fastinit*"))
    if not any(folders):
        root = os.environ.get("NUMBA_CACHE_DIR")
        folders = (glob.glob(os.path.join(root, "fastinit*")) if root else
                   [os.path.join(os.path.dirname(fastinit.__file__), "__pycache__")])
    return any(glob.glob(os.path.join(f, "_kernels.*.nbc")) for f in folders if f)


@dataclass
class GroupPlan:
    setup: list     # planned seconds of each supported method's preparation (compile, warm-up, estimate)
    timed: float    # planned seconds of all timed rounds

    @property
    def total(self):
        return sum(self.setup) + self.timed


class Planner:
    """Planned seconds of measurement groups in the order they run: first
    compilations, PyTorch's import and JAX's per-shape compilation included."""

    def __init__(self, cache_warm=None):
        self.cache = ("warm" if kernel_cache_warm() else "cold") if cache_warm is None else \
            ("warm" if cache_warm else "cold")
        self.compiled = set()
        self.torch_imported = "torch" in sys.modules

    def _setup(self, method, dtype, size, threads, call):
        from .catalogue import numpy_dtype
        seconds = 2 * call if call >= 1e-3 else call + _ESTIMATE_SECONDS  # warm-up call, then _estimate
        nbytes = size * numpy_dtype(dtype).itemsize
        if not method.allocating and nbytes > _FRESH_BYTES:  # the warm-up call touches the new buffer
            seconds += nbytes * _FRESH_NS_PER_BYTE * 1e-9
        if method.library == "fastinit":
            from fastinit.distributions import PARALLEL_THRESHOLD  # smaller: filled on the calling thread
            key = (dtype, _KIND.get(method.distribution), size < PARALLEL_THRESHOLD)
            if key not in self.compiled:
                if not self.compiled:
                    seconds += _FIRST_COMPILE_SECONDS[self.cache]
                self.compiled.add(key)
                seconds += _COMPILE_SECONDS[self.cache]
        elif method.library == "jax":
            seconds += _JAX_JIT_SECONDS
        elif method.library == "torch" and not self.torch_imported:
            self.torch_imported = True
            seconds += _TORCH_IMPORT_SECONDS
        return seconds

    def group(self, methods, dtype, size, threads, rounds, seconds):
        supported = [m for m in methods if m.supports(dtype)]
        calls = [expected_call_seconds(m, dtype, size, threads) for m in supported]
        setup = [self._setup(m, dtype, size, threads, c) for m, c in zip(supported, calls)]
        per_round = sum(max(1, math.ceil(MIN_ROUND_SECONDS / c)) * c for c in calls)
        timed = _rounds(per_round, rounds, seconds) * per_round if supported else 0.0
        return GroupPlan(setup, timed)


def planned_startup_seconds(repeats):
    """measure_startup's new processes: Python, NumPy and fastinit imports, a
    first fill that compiles (cold) or loads (warm) its kernel."""
    return (6.0 + 1.2 * repeats) if repeats else 0.0


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
