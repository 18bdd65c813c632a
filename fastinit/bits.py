"""The bits layer: Philox4x32-10, seeds, keys and named streams.

Everything here is defined by the stream format, ``docs/stream-format.md``.
"""

import hashlib
import numbers
import operator

import numpy as np

from ._philox import philox_rows

__all__ = ["STREAM_FORMAT_VERSION", "SEED_LIMIT", "philox4x32", "key_from_seed", "derive_seed"]

#: Version of the stream format (docs/stream-format.md). Any change to how
#: seeds, counters or words become values bumps it.
STREAM_FORMAT_VERSION = 4

#: Seeds are integers 0 <= seed < SEED_LIMIT.
SEED_LIMIT = 2**64

# Counter word 2 of every stream: which distribution (docs/stream-format.md).
UNIFORM_ID = 1
NORMAL_ID = 2
TRUNCATED_NORMAL_ID = 3

# The derivation's own label, fixed since format 1: named streams did not
# change with formats 2 and 3 (which changed the float64 normal and the
# float32-stream truncated normal alone).
_DERIVE_PREFIX = b"fastinit/stream/v1\x00"


def _check_seed(seed, name="seed"):
    if type(seed) is not int and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {type(seed).__name__}")
    seed = operator.index(seed)
    if not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"{name} must be in [0, 2**64), got {seed}")
    return seed


def _key_words(seed):
    """(k0, k1) of a checked seed, as Python ints: seed mod 2**32, seed div 2**32."""
    return seed & 0xFFFFFFFF, seed >> 32


def key_from_seed(seed):
    """The Philox key of a seed: ``(seed mod 2**32, seed // 2**32)`` as uint32 (2,).

    Example::

        >>> fastinit.key_from_seed(2**32 + 5)
        array([5, 1], dtype=uint32)
    """
    return np.array(_key_words(_check_seed(seed)), dtype=np.uint32)


def derive_seed(seed, *names):
    """A seed for an independent stream named by strings, derived from ``seed``.

    ``derive_seed(seed, "encoder", "layer0.weight")`` is the first 8 bytes,
    little-endian, of ``SHA-256(b"fastinit/stream/v1\\0" + seed as 8 bytes
    little-endian + for each name: its UTF-8 length as 8 bytes little-endian
    and its UTF-8 bytes)``. It is stable across processes, platforms and Python
    versions (unlike ``hash()``), and each name gets a stream of its own, so
    one seed initializes every parameter of a model.

    Args:
        seed: integer, 0 <= seed < 2**64.
        *names: one or more strings; ``derive_seed(s, "a", "b")`` differs from
            ``derive_seed(s, "a.b")`` and from ``derive_seed(s, "ab")``.

    Example::

        >>> w = fastinit.fill_normal(np.empty((768, 768), np.float32), std=0.02,
        ...                          seed=fastinit.derive_seed(0, "layer0.weight"))
    """
    seed = _check_seed(seed)
    if not names:
        raise TypeError("derive_seed needs at least one name")
    h = hashlib.sha256(_DERIVE_PREFIX + seed.to_bytes(8, "little"))
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"names[{i}] must be a str, got {type(name).__name__}")
        data = name.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return int.from_bytes(h.digest()[:8], "little")


def philox4x32(counters, key):
    """Philox4x32-10, exactly as Random123 defines it.

    Args:
        counters: unsigned integers of shape (..., 4), each < 2**32: the counter
            words in Random123 order (word 0 first).
        key: two unsigned integers < 2**32, shape (2,).

    Returns:
        uint32 array of shape (..., 4), the output words.

    Example::

        >>> fastinit.philox4x32(np.zeros(4, np.uint32), np.zeros(2, np.uint32))
        array([1713891541, 3781805453, 3159862348, 2600524760], dtype=uint32)
    """
    counters = _as_words(counters, "counters")
    key = _as_words(key, "key")
    if counters.ndim == 0 or counters.shape[-1] != 4:
        raise ValueError(f"counters must have shape (..., 4), got {counters.shape}")
    if key.shape != (2,):
        raise ValueError(f"key must have shape (2,), got {key.shape}")
    flat = np.ascontiguousarray(counters.reshape(-1, 4))
    out = np.empty_like(flat)
    if flat.shape[0]:
        philox_rows(flat, key, out)
    return out.reshape(counters.shape)


def _as_words(value, name):
    arr = np.asarray(value)
    if arr.dtype == np.uint32:
        return arr
    if arr.dtype.kind not in "ui":
        raise TypeError(f"{name} must hold unsigned 32-bit integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > 0xFFFFFFFF):
        raise ValueError(f"{name} words must be in [0, 2**32)")
    return arr.astype(np.uint32)
