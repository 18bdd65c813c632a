"""Keras 3: Keras' own initializers against fastinit.keras, per backend.

    python bench/keras_init.py                       # jax and torch backends, 11 rounds
    python bench/keras_init.py --backend numpy --rounds 3
    python bench/keras_init.py --alternate --rounds 8   # fresh memory: each call's time, torch backend

For each backend (a fresh process with KERAS_BACKEND set; Keras picks its
backend once per process): an 8192 x 8192 float32 kernel from Keras' class and
from fastinit's class of the same name (interleaved rounds after a warm-up,
median and best time, the result ready on the backend, a pause of SETTLE_S before each
call), and a Keras model (a 32000 x 1024
embedding and four dense layers, 75M parameters) built without and
inside ``fastinit.keras.scope()``. Prints a Markdown table.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SHAPE = (8192, 8192)
CLASSES = ("RandomNormal", "GlorotUniform", "HeNormal", "TruncatedNormal")


def _ready(x):
    """The value computed (JAX dispatches asynchronously)."""
    if hasattr(x, "block_until_ready"):
        x.block_until_ready()
    return x


def _model(keras):
    return keras.Sequential([keras.Input((16,), dtype="int32"), keras.layers.Embedding(32000, 1024),
                             keras.layers.Dense(4096), keras.layers.Dense(4096), keras.layers.Dense(4096),
                             keras.layers.Dense(1024)])


#: Pause before each timed call: the backends free memory and finish work on
#: their own threads after a call returns (JAX deallocates asynchronously), and
#: that would otherwise land on whichever method runs next.
SETTLE_S = 0.5


def _settle():
    import gc

    gc.collect()
    time.sleep(SETTLE_S)


def child(rounds):

    import keras

    import fastinit.keras as fk

    results = {"backend": keras.backend.backend(), "kernels": {}, "model": {}}
    for name in CLASSES:
        makers = {"keras": getattr(keras.initializers, name)(seed=0), "fastinit": getattr(fk, name)(seed=0)}
        times = {k: [] for k in makers}
        for r in range(rounds + 1):
            for label, init in makers.items():
                _settle()
                start = time.perf_counter()
                out = _ready(init(SHAPE, dtype="float32"))
                elapsed = time.perf_counter() - start
                del out
                if r:
                    times[label].append(elapsed)
        results["kernels"][name] = {k: (statistics.median(v), min(v)) for k, v in times.items()}
    builds = {"keras": [], "fastinit": []}
    for r in range(rounds + 1):
        for label in builds:
            _settle()
            start = time.perf_counter()
            if label == "fastinit":
                with fk.scope():
                    model = _model(keras)
            else:
                model = _model(keras)
            for variable in model.weights:
                _ready(variable.value)
            elapsed = time.perf_counter() - start
            results["parameters"] = int(model.count_params())
            del model
            if r:
                builds[label].append(elapsed)
    results["model"] = {k: (statistics.median(v), min(v)) for k, v in builds.items()}
    print(json.dumps(results))


def alternate(rounds):
    """Keras' RandomNormal call, then fastinit's, ``rounds`` times, with and
    without huge pages asked for fastinit's tensor: each call's time."""
    import gc

    import keras

    import fastinit.keras as fk
    from fastinit import _buffers

    def timed(call):
        gc.collect()
        start = time.perf_counter()
        out = _ready(call())
        elapsed = time.perf_counter() - start
        del out
        return elapsed

    ours, theirs = fk.RandomNormal(seed=0), keras.initializers.RandomNormal(seed=0)
    ours((10,)), theirs((10,)), ours(SHAPE)  # load the kernels
    default = _buffers.HUGE_PAGES
    for label, huge in (("huge pages asked for", True), ("4 KiB pages", False)):
        _buffers.HUGE_PAGES = huge
        pairs = [(timed(lambda: theirs(SHAPE)), timed(lambda: ours(SHAPE))) for _ in range(rounds)]
        print(f"{keras.backend.backend()}, {label}: Keras / fastinit.keras (s): "
              + "  ".join(f"{k:.3f}/{f:.3f}" for k, f in pairs))
    _buffers.HUGE_PAGES = default


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", action="append", choices=["jax", "torch", "numpy"])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--alternate", action="store_true",
                        help="torch backend: Keras' and fastinit's RandomNormal calls in turn, each call's time, "
                             "with and without huge pages for fastinit's tensors")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        alternate(args.rounds) if args.alternate else child(args.rounds)
        return 0
    if args.alternate:
        run = subprocess.run([sys.executable, __file__, "--child", "--alternate", "--rounds", str(args.rounds)],
                             env=dict(os.environ, KERAS_BACKEND="torch"), capture_output=True, text=True, check=True)
        print(run.stdout.strip())
        return 0
    print(f"8192 x 8192 float32 kernels and an embedding + dense model, {args.rounds} interleaved rounds, "
          f"{os.cpu_count()} cores, medians\n")
    print("| backend | what | Keras median (best) (s) | fastinit.keras median (best) (s) | speedup of medians |")
    print("|---|---|---:|---:|---:|")
    for backend in args.backend or ["jax", "torch"]:
        run = subprocess.run([sys.executable, __file__, "--child", "--rounds", str(args.rounds)],
                             env=dict(os.environ, KERAS_BACKEND=backend), capture_output=True, text=True, check=True)
        results = json.loads(run.stdout.strip().splitlines()[-1])
        rows = [(f"`{name}` kernel", t) for name, t in results["kernels"].items()]
        rows.append((f"model build ({results['parameters'] / 1e6:.0f}M parameters), `scope()`", results["model"]))
        for what, t in rows:
            (k, k_best), (f, f_best) = t["keras"], t["fastinit"]
            print(f"| {backend} | {what} | {k:.3f} ({k_best:.3f}) | {f:.3f} ({f_best:.3f}) | {k / f:.1f}x |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
