"""fastinit in forked and spawned processes and in concurrent Python threads."""

import concurrent.futures
import hashlib
import multiprocessing

import numpy as np
import pytest

import fastinit


def digest(seed, n=1_000_000, dtype=np.float32):
    a = fastinit.fill_normal(np.empty(n, dtype), seed=seed)
    b = fastinit.fill_constant(np.empty(n, dtype), 0.5)
    return hashlib.sha256(a.tobytes() + b[:8].tobytes()).hexdigest()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_worker_processes_give_the_parent_bits(method):
    # The parent has run the parallel kernels (GNU OpenMP is running): a forked
    # child must neither hang nor be terminated, and must give the same bits.
    expected = digest(7)
    context = multiprocessing.get_context(method)
    with context.Pool(2) as pool:
        got = pool.map_async(digest, [7, 7, 7]).get(timeout=120)
    assert got == [expected] * 3


def test_concurrent_python_threads():
    seeds = list(range(8))
    sequential = [digest(s, 400_000) for s in seeds]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        concurrent_results = list(pool.map(lambda s: digest(s, 400_000), seeds))
    assert concurrent_results == sequential
