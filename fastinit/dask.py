"""Dask backend: initialized tensors as ``dask.array`` s generated on the workers.

``fastinit.dask.NAME(shape, chunks="auto", *, seed, dtype="float32", **params)``
returns a lazy ``dask.array.Array``. Each block is made where it is computed,
from its own location in the full tensor (``region=``, fans from the full
shape), so nothing but the parameters travels from the client, and the result
equals ``fastinit.NAME(shape, ...)`` bit for bit whatever the chunks, workers
or scheduler. Store it with ``to_zarr``, ``to_npy_stack`` or ``da.store``.

Example::

    >>> emb = fastinit.dask.normal((100_000_000, 256), chunks=(1_000_000, 256), std=0.02, seed=0)
    >>> emb.to_zarr("emb.zarr")
"""

import dask.array as da
import numpy as np
from dask.base import tokenize

from . import _formats, schemes

__all__ = ["array"] + list(schemes.ELEMENTWISE)


def _block(init, shape, dtype, seed, params, block_info=None):
    location = block_info[None]["array-location"]
    return schemes.initialize(init, shape, region=tuple(location), dtype=dtype, seed=seed, **params)


def array(init, shape, chunks="auto", *, seed=None, dtype="float32", **params):
    """The initializer ``init`` (a name in ``fastinit.schemes.ELEMENTWISE``) as a dask array.

    Args:
        init: initializer name, e.g. ``"normal"`` or ``"kaiming_uniform"``.
        shape: the full tensor shape.
        chunks: dask chunks (``"auto"``, a block shape, or per-axis sizes).
        seed: integer in [0, 2**64) (not needed for zeros, ones, constant, eye).
        dtype: float32, float64, float16 or bfloat16.
        **params: the initializer's parameters.
    """
    shape = tuple(int(d) for d in shape)
    dtype = _formats.resolve_dtype(dtype)
    schemes.check_request(init, shape, dtype, seed, params)  # errors here, not on a worker
    chunks = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    name = f"fastinit-{init}-{tokenize(init, shape, chunks, dtype.str, dtype.name, seed, sorted(params.items()))}"
    return da.map_blocks(_block, init, shape, dtype, seed, params, chunks=chunks, dtype=dtype, name=name,
                         meta=np.empty((0,) * len(shape), dtype))


def _factory(init):
    def make(shape, chunks="auto", *, seed=None, dtype="float32", **params):
        return array(init, shape, chunks, seed=seed, dtype=dtype, **params)
    make.__name__ = make.__qualname__ = init
    make.__doc__ = (f"``fastinit.{init}`` as a dask array: ``{init}(shape, chunks='auto', *, seed, dtype, "
                    f"**params)``; blocks are generated on the workers, bit-identical to the in-memory tensor.")
    return make


for _name in schemes.ELEMENTWISE:
    globals()[_name] = _factory(_name)
