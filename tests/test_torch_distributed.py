"""fastinit.torch on sharded models: a real gloo process group on 127.0.0.1.

The test starts 2 and then 4 processes (spawned, so no thread state of this
process is inherited), each a rank of one process group; every rank runs the
scenarios of tests/distributed_scenarios.py: FSDP2 per layer and on the root
(uneven and empty shards), tensor-parallel plans (column-wise, row-wise,
replicated), a 2-d FSDP x TP mesh, transformers GPT-2 and Llama models sharded
per decoder layer, float32 and bfloat16. Each scenario gathers the model and
compares it bit for bit with a single-process initialization of the unsharded
model. Collectives time out after 60 s and the whole group after
GROUP_TIMEOUT_S, so a hang fails instead of blocking.
"""

import multiprocessing
import queue

import pytest

from tests import distributed_scenarios as scenarios

GROUP_TIMEOUT_S = 900


def run_group(world_size):
    """{rank: {scenario: problems}} from a process group of ``world_size`` ranks."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    port = scenarios.free_port()
    names = scenarios.BY_WORLD_SIZE[world_size]
    ranks = [context.Process(target=scenarios.worker, args=(rank, world_size, port, names, results), daemon=True)
             for rank in range(world_size)]
    for process in ranks:
        process.start()
    reports = {}
    try:
        for _ in ranks:
            rank, report = results.get(timeout=GROUP_TIMEOUT_S)
            reports[rank] = report
    except queue.Empty:
        pass
    finally:
        for process in ranks:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return reports


@pytest.fixture(scope="module")
def groups():
    return {}


def _cases():
    return [(world, name) for world, names in scenarios.BY_WORLD_SIZE.items() for name in names]


@pytest.mark.parametrize("world_size, scenario", _cases(), ids=[f"{w}-ranks-{n}" for w, n in _cases()])
def test_sharded_initialization_equals_single_process(groups, world_size, scenario):
    if world_size not in groups:
        groups[world_size] = run_group(world_size)
    reports = groups[world_size]
    assert sorted(reports) == list(range(world_size)), f"ranks that reported: {sorted(reports)} (a rank hung or died)"
    failures = {rank: reports[rank].get(scenario, ["did not run"]) for rank in reports}
    failures = {rank: problems for rank, problems in failures.items() if problems}
    assert not failures, "\n".join(f"rank {rank}: {problems}" for rank, problems in failures.items())
