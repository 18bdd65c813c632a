"""SHA-256 of every fastinit stream of a fixed set, as JSON (sorted keys).

    python bench/cross_arch_hashes.py                      # 1,000,003 elements a stream
    python bench/cross_arch_hashes.py --elements 200003 --dump /tmp/x86_64

The set: every distribution (uniform, normal, truncated normal, constant) in
float32, float64, float16 and bfloat16 over the parameter sets below, and the
named initializers (fan-based schemes, orthogonal, sparse) on small shapes.
Each stream's seed is ``derive_seed(0, stream name)``. Only the public API is
used. Run it on two machines and compare with bench/cross_arch_compare.py:
the stream-format promise is that every hash is the same everywhere.

A stream is filled in consecutive calls of fewer than
``fastinit.distributions.PARALLEL_THRESHOLD`` elements at their ``offset``
(``--chunk``), which by the same promise equals one call over the whole
buffer, and keeps the set of Numba specializations to the serial kernels:
under emulation (qemu-user), compiling is what takes the time.
``--chunk 0`` fills each buffer in one call instead (native use).
"""

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import time

import numpy as np

import fastinit
import fastinit.distributions

DTYPES = ("float32", "float64", "float16", "bfloat16")

UNIFORM = ((0.0, 1.0), (-0.1, 0.1), (1.0, 1.5))
NORMAL = ((0.0, 1.0), (0.1, 0.02))
#: (mean, std, a, b): a and b absolute, as fill_truncated_normal takes them.
TRUNCATED = (
    (0.0, 1.0, -2.0, 2.0),
    (0.1, 1.5, -2.0, 3.5),
    (0.0, 1.0, 2.9, 3.5),
    (0.0, 1.0, 2.0, 3.0),
    (0.0, 1.0, 5.0, 6.0),
    (0.0, 1.0, -30.0, 0.5),
    (0.0, 0.02, -0.04, 0.04),
    (0.0, 1.0, -2.0, 3.0),
    (0.0, 1.0, -3.0, 3.0),
    (0.0, 1.0, 0.0, 30.0),   # one-sided, wide
)
CONSTANT = (0.5, -0.02)

#: Named initializers: (name, shape, keyword arguments). Shapes stay below
#: PARALLEL_THRESHOLD elements (serial kernels only).
SCHEMES = (
    ("xavier_uniform", (96, 80), {}),
    ("xavier_normal", (96, 80), {"gain": 0.5}),
    ("glorot_uniform", (3, 3, 16, 48), {"layout": "keras"}),
    ("kaiming_uniform", (96, 80), {"a": math.sqrt(5.0)}),
    ("kaiming_normal", (32, 16, 3, 3), {"mode": "fan_out", "nonlinearity": "relu"}),
    ("he_normal", (96, 80), {}),
    ("lecun_normal", (96, 80), {}),
    ("lecun_uniform", (96, 80), {}),
    ("truncated_normal", (96, 80), {"std": 0.02, "a": -0.04, "b": 0.04}),
    ("variance_scaling", (96, 80), {"scale": 2.0, "mode": "fan_avg", "distribution": "truncated_normal"}),
    ("variance_scaling", (3, 3, 16, 48), {"scale": 0.1, "mode": "fan_in", "distribution": "truncated_normal",
                                          "layout": "jax"}),
    ("variance_scaling", (96, 80), {"scale": 1.0, "mode": "fan_geo_avg", "distribution": "uniform"}),
    ("orthogonal", (96, 80), {"gain": math.sqrt(2.0)}),
    ("orthogonal", (40, 150), {}),
    ("sparse", (96, 80), {"sparsity": 0.9}),
)


def _number(x):
    return f"{x:g}"


def _dtype(name):
    """The numpy dtype fastinit writes for ``name`` ("bfloat16": ml_dtypes', as fastinit resolves it)."""
    return fastinit.zeros((1,), dtype=name).dtype


def _chunked(fill, dtype, *params):
    def make(elements, chunk, seed):
        buffer = np.empty(elements, _dtype(dtype))
        step = chunk or elements
        for start in range(0, elements, step):
            fill(buffer[start:start + step], *params, seed=seed, offset=start)
        return buffer
    return make


def _constant(dtype, value):
    return lambda elements, chunk, seed: fastinit.fill_constant(np.empty(elements, _dtype(dtype)), value)


def _scheme(name, shape, dtype, kwargs):
    return lambda elements, chunk, seed: getattr(fastinit, name)(shape, seed=seed, dtype=dtype, **kwargs)


def streams():
    """[(name, make)]: make(elements, chunk, seed) returns the stream's array."""
    out = []
    for dtype in DTYPES:
        for low, high in UNIFORM:
            out.append((f"uniform/{dtype}/low={_number(low)},high={_number(high)}",
                        _chunked(fastinit.fill_uniform, dtype, low, high)))
        for mean, std in NORMAL:
            out.append((f"normal/{dtype}/mean={_number(mean)},std={_number(std)}",
                        _chunked(fastinit.fill_normal, dtype, mean, std)))
        for mean, std, a, b in TRUNCATED:
            out.append((f"truncated_normal/{dtype}/mean={_number(mean)},std={_number(std)},a={_number(a)},b={_number(b)}",
                        _chunked(fastinit.fill_truncated_normal, dtype, mean, std, a, b)))
        for value in CONSTANT:
            out.append((f"constant/{dtype}/value={_number(value)}", _constant(dtype, value)))
        for name, shape, kwargs in SCHEMES:
            label = "".join(f",{k}={_number(v) if isinstance(v, float) else v}" for k, v in sorted(kwargs.items()))
            out.append((f"{name}/{dtype}/shape={'x'.join(map(str, shape))}{label}", _scheme(name, shape, dtype, kwargs)))
    return out


def _versions():
    from importlib import metadata
    versions = {}
    for name in ("numpy", "numba", "llvmlite", "ml_dtypes", "tqdm"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["python"] = platform.python_version()
    return versions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=1_000_003,
                        help="elements of each distribution stream (default 1,000,003; schemes keep their shapes)")
    parser.add_argument("--chunk", type=int, default=fastinit.distributions.PARALLEL_THRESHOLD - 1,
                        help="elements a call (default PARALLEL_THRESHOLD - 1; 0: one call a stream)")
    parser.add_argument("--dump", metavar="DIR", help="also write each stream's bytes to DIR (for the compare script)")
    parser.add_argument("--only", metavar="SUBSTRING", action="append",
                        help="only the streams whose name contains SUBSTRING (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="each stream's time on stderr")
    args = parser.parse_args(argv)
    if args.elements < 1 or args.chunk < 0:
        parser.error("--elements must be >= 1 and --chunk >= 0")
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
    print(f"fastinit from {os.path.dirname(fastinit.__file__)}, {platform.machine()}", file=sys.stderr)
    hashes, dumps = {}, {}
    started = time.perf_counter()
    for index, (name, make) in enumerate(streams()):
        if args.only and not any(part in name for part in args.only):
            continue
        t0 = time.perf_counter()
        data = np.ascontiguousarray(make(args.elements, args.chunk, fastinit.derive_seed(0, name)))
        raw = data.tobytes()
        hashes[name] = hashlib.sha256(raw).hexdigest()
        if args.dump:
            filename = f"{index:03d}.bin"
            with open(os.path.join(args.dump, filename), "wb") as f:
                f.write(raw)
            dumps[name] = {"file": filename, "dtype": str(data.dtype)}
        if args.verbose:
            print(f"{time.perf_counter() - t0:8.2f} s  {name}", file=sys.stderr, flush=True)
    if args.verbose:
        print(f"{time.perf_counter() - started:8.2f} s  all {len(hashes)} streams", file=sys.stderr)
    if args.dump:
        with open(os.path.join(args.dump, "index.json"), "w") as f:
            json.dump(dumps, f, indent=1, sort_keys=True)
    report = {
        "STREAM_FORMAT_VERSION": fastinit.STREAM_FORMAT_VERSION,
        "machine": platform.machine(),
        "elements": args.elements,
        "chunk": args.chunk,
        "versions": _versions(),
        "hashes": hashes,
    }
    print(json.dumps(report, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
