"""Out-of-core files: write an initialized tensor to ``.npy`` or ``.safetensors`` chunk by chunk.

Every element depends only on (seed, index), so a tensor larger than memory is
written in row chunks through the initializers' ``region=``, each chunk
bit-identical to the same rows of the in-memory result. The write is atomic
(into ``PATH.partial``, renamed when complete), refuses to overwrite unless
asked, and can resume an interrupted write without redoing its finished chunks.

Example::

    >>> fastinit.io.save("emb.npy", (10_000_000, 256), init="normal", std=0.02,
    ...                  dtype="bfloat16", seed=0, progress=True)
    >>> emb = np.load("emb.npy", mmap_mode="r")     # bfloat16: .view(ml_dtypes.bfloat16)
"""

import errno
import json
import math
import os
import time

import numpy as np

from . import _formats, schemes
from ._regions import check_shape
from .bits import STREAM_FORMAT_VERSION, _check_seed

__all__ = ["save", "INITIALIZERS"]


def fastinit_version():
    from . import __version__
    return __version__

#: Initializers that ``save`` (and the command line) can write: the element-wise ones.
INITIALIZERS = schemes.ELEMENTWISE
_STATE_VERSION = 1


def _takes_seed(name):
    return name not in schemes._UNSEEDED


def _call(init, shape, region, out, dtype, seed, params):
    return schemes.initialize(init, shape, region=region, out=out, dtype=dtype, seed=seed, **params)


_SAFETENSORS_DTYPES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16"}


def _safetensors_header(shape, dtype, name, metadata):
    """The safetensors header: 8-byte little-endian length, then JSON padded to 8 bytes."""
    nbytes = math.prod(shape) * dtype.itemsize
    body = json.dumps({"__metadata__": metadata,
                       name: {"dtype": _SAFETENSORS_DTYPES[dtype.name], "shape": list(shape),
                              "data_offsets": [0, nbytes]}}, separators=(",", ":")).encode()
    body += b" " * (-len(body) % 8)
    return len(body).to_bytes(8, "little") + body


def _header(shape, dtype):
    """The .npy header bytes (format 1.0, or 2.0 for very long headers)."""
    import io
    buffer = io.BytesIO()
    d = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)}
    try:
        np.lib.format.write_array_header_1_0(buffer, d)
    except ValueError:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_2_0(buffer, d)
    return buffer.getvalue()


def _reserve(fd, size):
    """Reserve the file's disk space up front, so a full disk fails now, not midway."""
    try:
        os.posix_fallocate(fd, 0, size)
    except AttributeError:  # pragma: no cover - platforms without posix_fallocate
        os.ftruncate(fd, size)
    except OSError as error:
        if error.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # file systems that can't reserve
            os.ftruncate(fd, size)
        else:
            raise


def _write_state(path, state):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save(path, shape, init="normal", *, seed=None, dtype="float32", overwrite=False, resume=False,
         chunk_bytes=64 << 20, progress=False, name="weight", **params):
    """Write ``fastinit.<init>(shape, seed=seed, dtype=dtype, **params)`` to ``path``:
    a ``.npy`` file, or a ``.safetensors`` file holding one tensor called ``name``
    (with the initializer, seed and parameters in its ``__metadata__``).

    Memory stays near ``chunk_bytes`` (or one row, if larger) whatever the file size.

    Args:
        path: destination ending in ``.npy`` or ``.safetensors``.
        shape: the full tensor shape (fans are taken from it).
        init: one of :data:`INITIALIZERS`.
        seed: integer in [0, 2**64) (not needed for zeros, ones, constant, eye).
        dtype: float32, float64, float16 or bfloat16 (stored as NumPy stores it, ``<V2``).
        overwrite: replace an existing file (or discard an interrupted write).
        resume: continue an interrupted write of the same request; its finished chunks are kept
            and the result equals an uninterrupted write bit for bit.
        chunk_bytes: bytes generated and written at a time.
        progress: show a progress bar (needs tqdm).
        name: the tensor's name in a ``.safetensors`` file.
        **params: the initializer's parameters (``std=0.02``, ``gain=...``, ``layout=...``).

    Returns:
        A dict with ``path``, ``bytes``, ``seconds`` and ``bytes_per_second``.

    Raises:
        FileExistsError: ``path`` exists (pass ``overwrite=True``), or an interrupted write of
            ``path`` exists (pass ``resume=True`` or ``overwrite=True``).
        ValueError, TypeError: a bad argument, raised before any file is touched.
        OSError: the disk is full or the folder not writable; nothing is left under ``path``.
    """
    path = os.fspath(path)
    if not path.endswith((".npy", ".safetensors")):
        raise ValueError(f"path must end in .npy or .safetensors, got {path!r}")
    if not isinstance(name, str) or not name or name == "__metadata__":
        raise ValueError(f"name must be a non-empty string other than '__metadata__', got {name!r}")
    shape = check_shape(shape)
    dtype = _formats.resolve_dtype(dtype)
    if _takes_seed(init) and seed is not None:
        seed = _check_seed(seed)
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be a positive integer, got {chunk_bytes!r}")
    # every parameter is checked on a one-element region before any file is touched
    schemes.check_request(init, shape, dtype, seed, params)

    partial, state_path = path + ".partial", path + ".partial.json"
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists: pass overwrite=True (--overwrite) to replace it")
    rows = shape[0] if shape else 1
    row_bytes = (math.prod(shape[1:]) if shape else 1) * dtype.itemsize
    chunk_rows = max(1, chunk_bytes // max(row_bytes, 1))
    metadata = {"fastinit": fastinit_version(), "stream_format": str(STREAM_FORMAT_VERSION), "init": init,
                "seed": str(seed), "params": json.dumps(params, sort_keys=True, default=str)}
    header = _safetensors_header(shape, dtype, name, metadata) if path.endswith(".safetensors") \
        else _header(shape, dtype)
    request = {"version": _STATE_VERSION, "shape": list(shape), "dtype": dtype.name, "init": init, "seed": seed,
               "params": {k: params[k] for k in sorted(params)}, "chunk_rows": chunk_rows}
    done = 0
    if os.path.exists(partial) or os.path.exists(state_path):
        if resume:
            try:
                with open(state_path) as f:
                    state = json.load(f)
            except (OSError, ValueError):
                state = None
            if state is None or {k: state.get(k) for k in request} != request:
                raise ValueError(f"{partial} was written for another request (shape, dtype, init, seed, params "
                                 f"or chunk size): pass overwrite=True to start again")
            done = state["done_rows"]
        elif not overwrite:
            raise FileExistsError(f"an interrupted write of {path} exists ({partial}): pass resume=True to "
                                  f"finish it, or overwrite=True to start again")

    total = len(header) + rows * row_bytes if shape else len(header) + dtype.itemsize
    start_time = time.perf_counter()
    try:
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | (0 if done else os.O_TRUNC), 0o644)
    except OSError as error:
        raise OSError(error.errno, f"can't write {partial}: {error.strerror}") from None
    bar = None
    try:
        with os.fdopen(fd, "r+b") as f:
            if not done:
                _reserve(f.fileno(), total)
                f.write(header)
                _write_state(state_path, dict(request, done_rows=0))
            if progress:
                from tqdm import tqdm
                bar = tqdm(total=rows * row_bytes, initial=done * row_bytes, unit="B", unit_scale=True,
                           desc=os.path.basename(path))
            if not shape:  # 0-d
                f.write(_call(init, shape, None, None, dtype, seed, params).tobytes())
            buffer = np.empty((min(chunk_rows, rows),) + shape[1:], dtype) if shape else None
            for r0 in range(done, rows if shape else 0, chunk_rows):
                r1 = min(r0 + chunk_rows, rows)
                part = buffer[: r1 - r0]
                region = ((r0, r1),) + tuple((0, d) for d in shape[1:])
                _call(init, shape, region, part, dtype, seed, params)
                f.seek(len(header) + r0 * row_bytes)
                f.write(part.reshape(-1).view(np.uint8).data)  # bytes of any dtype, no copy
                f.flush()
                os.fsync(f.fileno())
                _write_state(state_path, dict(request, done_rows=r1))
                if bar is not None:
                    bar.update((r1 - r0) * row_bytes)
            f.flush()
            os.fsync(f.fileno())
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"disk full while writing {path}: the finished chunks are kept in "
                                        f"{partial}; free space and pass resume=True to finish") from None
        raise
    finally:
        if bar is not None:
            bar.close()
    os.replace(partial, path)
    os.remove(state_path)
    directory = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    seconds = time.perf_counter() - start_time
    written = (rows - done) * row_bytes
    return {"path": path, "bytes": total, "seconds": seconds, "bytes_per_second": written / max(seconds, 1e-9)}
