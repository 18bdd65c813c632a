"""fastinit.distributions: when fills use the threads, and the parallel kernel's shared chunk counter."""

import numba
import numpy as np
import pytest

import fastinit
from fastinit import _kernels, distributions


@pytest.fixture
def idle():
    """A clean back-off state before and after the test."""
    distributions._busy_until, distributions._held_back = 0.0, 0
    yield
    distributions._busy_until, distributions._held_back = 0.0, 0


def test_each_kernel_has_its_measured_threshold(idle):
    normal = _kernels.Normal(0.0, 1.0)
    assert not distributions._parallel((1 << 15) - 1, normal, "<f4")
    assert distributions._parallel(1 << 15, normal, "<f4")
    assert distributions._parallel(1 << 14, normal, "<f8")       # the ziggurat pays earlier
    uniform = _kernels.Uniform(0.0, 1.0, 0.9)
    assert not distributions._parallel(1 << 16, uniform, "<f4") and distributions._parallel(1 << 17, uniform, "<f4")
    # every regime of the truncated normal has one, and every kernel's is at least the floor
    for kind in ("CentralTruncatedNormal", "RationalTruncatedNormal", "TruncatedNormal"):
        assert {(kind, d) for d in ("<f4", "<f8", "<u2")} <= set(distributions.PARALLEL_THRESHOLDS)
    assert min(distributions.PARALLEL_THRESHOLDS.values()) >= distributions.PARALLEL_THRESHOLD


def test_two_held_back_fills_in_a_row_keep_mid_sizes_on_one_thread(idle, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(distributions.time, "monotonic", lambda: clock[0])
    normal, size = _kernels.Normal(0.0, 1.0), 1 << 20
    held_back = np.array([16, 16, 0], np.uint64)     # counter, then chunks per thread: thread 1 filled none
    both = np.array([16, 9, 7], np.uint64)
    distributions._note_held_back(held_back, 2)
    assert distributions._parallel(size, normal, "<f4")            # once happens on an idle machine
    distributions._note_held_back(both, 2)
    distributions._note_held_back(held_back, 2)
    assert distributions._parallel(size, normal, "<f4")            # not in a row
    distributions._note_held_back(held_back, 2)
    assert not distributions._parallel(size, normal, "<f4")        # busy: one thread
    assert distributions._parallel(distributions.LOADED_THRESHOLD, normal, "<f4")   # large fills still use both
    clock[0] += distributions.BUSY_SECONDS
    assert distributions._parallel(size, normal, "<f4")            # and then the threads are tried again


def test_the_parallel_kernel_counts_every_chunk_once(idle):
    out = np.empty(1 << 20, np.float32)
    fastinit.fill_normal(out, seed=3)
    threads = numba.get_num_threads()
    taken = distributions._taken.array
    chunks = min(out.size // 512, threads * _kernels.CHUNKS_PER_THREAD)
    assert int(taken[1:1 + threads].sum()) == chunks
    assert int(taken[0]) == chunks + threads          # each thread's last take found nothing left
    # whichever thread fills a chunk, the values are the stream's
    serial = out.copy()
    distributions._busy_until = float("inf")
    try:
        fastinit.fill_normal(out, seed=3)
    finally:
        distributions._busy_until = 0.0
    assert np.array_equal(serial, out)
