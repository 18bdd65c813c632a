"""Figures for huge embeddings: writing a large float32 .npy against the disk's
sequential write speed, the peak memory of that write, and Dask on 2 workers against 1.

    python bench/embedding.py [--gb 4] [--dir /tmp]

Every write is timed to the end of fsync. Each measurement runs in a fresh
process so that ru_maxrss is its own peak resident memory.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

PLAIN = """
import os, time, resource, numpy as np
path, total = {path!r}, {total}
block = np.ones(16 << 20, np.float32)  # 64 MB of data, written again and again
t = time.perf_counter()
with open(path, "wb") as f:
    written = 0
    while written < total:
        n = min(block.nbytes, total - written)
        f.write(block.data[:n]); written += n
    f.flush(); os.fsync(f.fileno())
s = time.perf_counter() - t
print(s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

FASTINIT = """
import time, resource, numpy as np, fastinit, fastinit.io as fio
fastinit.fill_normal(np.empty(10**6, np.float32), seed=0)       # load the kernels before timing
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
fio.save({path!r}, ({rows}, 1024), init="normal", std=0.02, seed=0, overwrite=True)
s = time.perf_counter() - t
print(s, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, base)
"""

DASK = """
import time, numpy as np, fastinit.dask as fd
from distributed import Client, LocalCluster
# one core per worker: Dask runs one task at a time on it, and fastinit's kernels one thread
with LocalCluster(n_workers={workers}, threads_per_worker=1, processes=True, host="127.0.0.1",
                  dashboard_address=None, env={{"NUMBA_NUM_THREADS": "1"}}) as cluster, Client(cluster) as client:
    x = fd.normal(({rows}, 1024), chunks=(2 ** 16, 1024), std=0.02, seed=0)
    client.compute(fd.normal((2 ** 17, 1024), chunks=(2 ** 16, 1024), seed=1).sum()).result()  # warm workers
    t = time.perf_counter()
    total = client.compute(x.sum()).result()
    print(time.perf_counter() - t)
"""


def run(program):
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    return [float(v) for v in out.stdout.split()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=4.0, help="file size in GB (default 4)")
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="folder on the disk to measure")
    args = parser.parse_args()
    rows = int(args.gb * 1e9) // 4096
    total = rows * 4096
    plain_path = os.path.join(args.dir, "fastinit-plain.bin")
    npy_path = os.path.join(args.dir, "fastinit-emb.npy")
    results = {}
    try:  # plain, fastinit, plain again: the disk's speed drifts, so bracket fastinit
        plain_before = run(PLAIN.format(path=plain_path, total=total))[0]
        os.remove(plain_path)
        save_s, save_rss, base_rss = run(FASTINIT.format(path=npy_path, rows=rows))
        os.remove(npy_path)
        plain_after = run(PLAIN.format(path=plain_path, total=total))[0]
        plain_s = (plain_before + plain_after) / 2
    finally:
        for p in (plain_path, npy_path):
            if os.path.exists(p):
                os.remove(p)
    results["file"] = {"bytes": total, "plain_write_s": plain_s, "plain_GBps": total / plain_s / 1e9,
                       "plain_write_s_before_after": [plain_before, plain_after],
                       "fastinit_save_s": save_s, "fastinit_GBps": total / save_s / 1e9,
                       "fastinit_peak_rss_mb": save_rss, "rss_before_write_mb": base_rss}
    dask_rows = rows // 2
    one = run(DASK.format(workers=1, rows=dask_rows))[0]
    two = run(DASK.format(workers=2, rows=dask_rows))[0]
    n = dask_rows * 1024
    results["dask"] = {"elements": n, "one_worker_s": one, "two_workers_s": two, "speedup": one / two}
    f = results["file"]
    print(f"| {total / 1e9:.1f} GB float32 .npy | seconds | GB/s |\n|---|---:|---:|")
    print(f"| plain sequential write (64 MB blocks, fsync; mean of before and after: "
          f"{plain_before:.2f} s, {plain_after:.2f} s) | {f['plain_write_s']:.2f} | {f['plain_GBps']:.2f} |")
    print(f"| fastinit.io.save, normal, 64 MB chunks, fsync per chunk | {f['fastinit_save_s']:.2f} | "
          f"{f['fastinit_GBps']:.2f} |")
    print(f"\npeak resident memory of the fastinit write: {f['fastinit_peak_rss_mb']:.0f} MB "
          f"({f['rss_before_write_mb']:.0f} MB before it; file {total / 2**20:.0f} MB)")
    d = results["dask"]
    print(f"\nDask, normal, {n / 1e9:.2f}e9 elements (sum of a fastinit.dask array, 256 MB blocks, one core "
          f"per worker): 1 worker {d['one_worker_s']:.2f} s, 2 workers {d['two_workers_s']:.2f} s, speedup {d['speedup']:.2f}x")
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
