"""fastinit.dask: blocks generated on workers, bit-identical to the in-memory tensor."""

import dask
import dask.array as da
import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster

import fastinit
import fastinit.dask as fd


@pytest.fixture(scope="module")
def client():
    # A real cluster: scheduler and two worker processes on loopback, started and stopped here.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def test_matches_in_memory_on_a_process_cluster(client):
    x = fd.kaiming_uniform((3000, 500), chunks=(401, 170), a=0.5, seed=11)
    got = client.compute(x).result(timeout=120)
    np.testing.assert_array_equal(got, fastinit.kaiming_uniform((3000, 500), a=0.5, seed=11))
    workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2  # two worker processes did the work


def test_graph_ships_no_data(client):
    x = fd.normal((20_000, 512), chunks=(2_000, 512), std=0.02, seed=1)
    graph = x.__dask_graph__()
    assert len(graph) == 10
    assert len(dask.base.tokenize(graph)) > 0
    import pickle
    assert len(pickle.dumps(dict(graph))) < 20_000  # parameters only, not the 40 MB of values


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_store_to_zarr_and_npy_stack(client, tmp_path, dtype):
    x = fd.truncated_normal((1000, 64), chunks=(250, 64), std=0.1, a=-0.2, b=0.3, dtype=dtype, seed=4)
    expected = fastinit.truncated_normal((1000, 64), std=0.1, a=-0.2, b=0.3, dtype=dtype, seed=4)
    if dtype == "float32":
        x.to_zarr(str(tmp_path / "w.zarr"), compute=True)
        np.testing.assert_array_equal(zarr.open(str(tmp_path / "w.zarr"), mode="r")[:], expected)
    da.to_npy_stack(str(tmp_path / "stack"), x, axis=0)
    back = da.from_npy_stack(str(tmp_path / "stack")).compute(scheduler="sync")
    np.testing.assert_array_equal(back.view(np.uint8), expected.view(np.uint8))


def test_sync_scheduler_and_any_chunks():
    whole = fastinit.he_normal((3, 3, 16, 32), layout="keras", seed=2)
    for chunks in [(1, 3, 16, 32), (3, 1, 5, 7), "auto"]:
        x = fd.he_normal((3, 3, 16, 32), chunks=chunks, layout="keras", seed=2)
        np.testing.assert_array_equal(x.compute(scheduler="sync"), whole)
    assert fd.eye((6, 4), chunks=(4, 3)).compute(scheduler="sync").tolist() == np.eye(6, 4).tolist()


def test_errors_on_the_client():
    with pytest.raises(ValueError, match="std"):
        fd.normal((10, 10), std=-1.0, seed=0)
    with pytest.raises(TypeError, match="seed"):
        fd.normal((10, 10))
    with pytest.raises(ValueError, match="init"):
        fd.array("orthogonal", (10, 10), seed=0)
