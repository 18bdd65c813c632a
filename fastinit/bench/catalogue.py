"""The methods the benchmarks compare: fastinit, NumPy, PyTorch, JAX and the fill bandwidth.

One catalogue serves both drivers: the pytest-benchmark suite in ``bench/``
and the interleaved report runner (``python -m fastinit.bench``). A method's
``make(size, dtype, threads)`` prepares everything outside the timing
(buffers, generators, thread pools, jitted functions) and returns the
zero-argument call that is timed.

Libraries: ``fastinit``; ``numpy`` (one ``Generator``, one thread, ``out=``);
``numpy-threads`` (NumPy's documented multithreaded recipe: one generator per
thread from ``SeedSequence.spawn``, each filling a slice; its values depend on
the thread count, fastinit's do not); ``torch``; ``jax`` (allocating only:
JAX arrays are immutable); ``ndarray.fill`` (NumPy's single-threaded fill of
the same buffer, the reference bandwidth).
"""

import concurrent.futures
import importlib.util
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

import fastinit
from fastinit import _formats

DISTRIBUTIONS = ("uniform", "normal", "truncated_normal", "xavier_uniform", "kaiming_normal")
DTYPES = ("float32", "float64", "bfloat16", "float16")


@dataclass(frozen=True)
class Method:
    name: str
    library: str
    distribution: str          # one of DISTRIBUTIONS, or "fill"
    allocating: bool
    dtypes: tuple
    make: Callable             # make(size, dtype_name, threads) -> zero-argument callable

    def supports(self, dtype):
        return dtype in self.dtypes


def numpy_dtype(name):
    return _formats.resolve_dtype(name)


def matrix_shape(size):
    """A 2-d weight shape with size elements (cols a power of two up to 1024)."""
    cols = 1024 if size % 1024 == 0 else math.gcd(size, 1024)
    return size // cols, cols


def available(module):
    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------------------
# fastinit and NumPy
# ---------------------------------------------------------------------------
def _fastinit(distribution, allocating):
    def make(size, dtype, threads):
        dt = numpy_dtype(dtype)
        shape = matrix_shape(size)
        out = None if allocating else np.empty(shape, dt)
        call = {
            "uniform": lambda o: fastinit.uniform(shape, dtype=dt, out=o, seed=1),
            "normal": lambda o: fastinit.normal(shape, dtype=dt, out=o, seed=1),
            "truncated_normal": lambda o: fastinit.truncated_normal(shape, dtype=dt, out=o, seed=1),
            "xavier_uniform": lambda o: fastinit.xavier_uniform(shape, dtype=dt, out=o, seed=1),
            "kaiming_normal": lambda o: fastinit.kaiming_normal(shape, dtype=dt, out=o, seed=1),
        }[distribution]
        return lambda: call(out)
    return make


def _fill(size, dtype, threads):
    out = np.empty(size, numpy_dtype(dtype))
    return lambda: out.fill(1.0)


def _numpy(distribution, allocating):
    def make(size, dtype, threads):
        rng = np.random.default_rng(1)
        dt = np.dtype(dtype)
        if allocating:
            if distribution == "uniform":
                return lambda: rng.random(size, dtype=dt)
            return lambda: rng.standard_normal(size, dtype=dt)
        out = np.empty(size, dt)
        if distribution == "uniform":
            return lambda: rng.random(out=out, dtype=dt)
        return lambda: rng.standard_normal(out=out, dtype=dt)
    return make


_POOLS = []


def _numpy_threads(distribution):
    """NumPy's "Multithreaded Generation" recipe: one Generator per thread."""
    def make(size, dtype, threads):
        dt = np.dtype(dtype)
        rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(1).spawn(threads)]
        pool = concurrent.futures.ThreadPoolExecutor(threads)
        _POOLS.append(pool)
        out = np.empty(size, dt)
        step = -(-size // threads)
        slices = [out[i * step:(i + 1) * step] for i in range(threads)]

        def fill(rng, part):
            if distribution == "uniform":
                rng.random(out=part, dtype=dt)
            else:
                rng.standard_normal(out=part, dtype=dt)

        def call():
            for future in [pool.submit(fill, rng, part) for rng, part in zip(rngs, slices)]:
                future.result()
        return call
    return make


def close_pools():
    while _POOLS:
        _POOLS.pop().shutdown()


# ---------------------------------------------------------------------------
# PyTorch and JAX
# ---------------------------------------------------------------------------
def _torch(distribution, allocating):
    def make(size, dtype, threads):
        import torch
        torch.set_num_threads(threads)
        dt = getattr(torch, dtype)
        shape = matrix_shape(size)
        if allocating:
            if distribution == "uniform":
                return lambda: torch.rand(shape, dtype=dt)
            return lambda: torch.randn(shape, dtype=dt)
        w = torch.empty(shape, dtype=dt)
        init = torch.nn.init
        return {
            "uniform": lambda: init.uniform_(w),
            "normal": lambda: init.normal_(w),
            "truncated_normal": lambda: init.trunc_normal_(w),
            "xavier_uniform": lambda: init.xavier_uniform_(w),
            "kaiming_normal": lambda: init.kaiming_normal_(w),
        }[distribution]
    return make


def _jax(distribution):
    def make(size, dtype, threads):
        import jax
        import jax.numpy as jnp
        dt = getattr(jnp, dtype)
        shape = matrix_shape(size)
        sample = {
            "uniform": lambda key: jax.random.uniform(key, shape, dt),
            "normal": lambda key: jax.random.normal(key, shape, dt),
            "truncated_normal": lambda key: jax.random.truncated_normal(key, -2.0, 2.0, shape, dt),
            "xavier_uniform": lambda key: jax.nn.initializers.glorot_uniform()(key, shape, dt),
            "kaiming_normal": lambda key: jax.nn.initializers.he_normal()(key, shape, dt),
        }[distribution]
        jitted = jax.jit(sample)
        key = jax.random.key(1)
        return lambda: jitted(key).block_until_ready()
    return make


#: The libraries fastinit is compared with besides NumPy: the pyproject extra that installs each.
OPTIONAL_LIBRARIES = {"torch": "torch", "jax": "jax"}


def catalogue(exclude=()):
    """Every method whose library is installed, less the libraries in ``exclude``."""
    methods = [Method("ndarray.fill", "ndarray.fill", "fill", False, DTYPES, _fill)]
    for dist in DISTRIBUTIONS:
        methods.append(Method(f"fastinit {dist}", "fastinit", dist, False, DTYPES, _fastinit(dist, False)))
        methods.append(Method(f"fastinit {dist} (allocating)", "fastinit", dist, True, DTYPES, _fastinit(dist, True)))
    for dist in ("uniform", "normal"):
        call = "random" if dist == "uniform" else "standard_normal"
        methods.append(Method(f"numpy Generator.{call}(out=)", "numpy", dist, False, ("float32", "float64"),
                              _numpy(dist, False)))
        methods.append(Method(f"numpy Generator.{call}(size)", "numpy", dist, True, ("float32", "float64"),
                              _numpy(dist, True)))
        methods.append(Method(f"numpy multithreaded {call}", "numpy-threads", dist, False, ("float32", "float64"),
                              _numpy_threads(dist)))
    if available("torch") and "torch" not in exclude:
        names = {"uniform": "uniform_", "normal": "normal_", "truncated_normal": "trunc_normal_",
                 "xavier_uniform": "xavier_uniform_", "kaiming_normal": "kaiming_normal_"}
        for dist in DISTRIBUTIONS:
            methods.append(Method(f"torch nn.init.{names[dist]}", "torch", dist, False, DTYPES, _torch(dist, False)))
        methods.append(Method("torch.rand", "torch", "uniform", True, DTYPES, _torch("uniform", True)))
        methods.append(Method("torch.randn", "torch", "normal", True, DTYPES, _torch("normal", True)))
    if available("jax") and "jax" not in exclude:
        import jax
        # without x64, JAX computes a requested float64 in float32: measure only what it really does
        jax_dtypes = DTYPES if jax.config.jax_enable_x64 else ("float32", "bfloat16")
        names = {"uniform": "jax.random.uniform", "normal": "jax.random.normal",
                 "truncated_normal": "jax.random.truncated_normal",
                 "xavier_uniform": "jax.nn.initializers.glorot_uniform",
                 "kaiming_normal": "jax.nn.initializers.he_normal"}
        for dist in DISTRIBUTIONS:
            methods.append(Method(names[dist], "jax", dist, True, jax_dtypes, _jax(dist)))
    return methods
