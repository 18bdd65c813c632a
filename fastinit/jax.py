"""JAX backend: ``jax.nn.initializers`` factories on fastinit's kernels.

Each factory has the signature of its ``jax.nn.initializers`` namesake and
returns ``init(key, shape, dtype=None)``, which Flax accepts as
``kernel_init``/``bias_init``. Semantics are JAX's: ``(*kernel, in, out)``
shapes with ``in_axis``/``out_axis``/``batch_axis``, truncated normals in
``variance_scaling`` divided by 0.87962566103423978, ``truncated_normal``
bounds in multiples of ``stddev``, ``uniform`` on ``[0, scale)``,
``orthogonal`` along ``column_axis``, ``delta_orthogonal``'s centre tap
``(k - 1) // 2``.

The seed is derived from the key: ``derive_seed(0, "fastinit.jax", hex of the
key's data)``, so the same key gives the same values on any machine and
thread count, and different keys give independent streams. Where JAX's
default device is an NVIDIA GPU and numba-cuda is installed
(``fastinit[cuda]``), the values are computed on that GPU (fastinit.cuda: the
same bits as on the CPU) into a device buffer that JAX adopts through DLPack
without a copy. Otherwise they are computed on the host into a
64-byte-aligned buffer, which ``jax.device_put`` adopts without a copy on the
CPU backend (another device gets one host-to-device copy). Inside ``jax.jit``
the initializer runs on the host through ``jax.pure_callback``, whose result
JAX copies into a buffer it owns.

Example::

    >>> import flax.linen as nn
    >>> layer = nn.Dense(256, kernel_init=fastinit.jax.glorot_uniform())
    >>> params = layer.init(jax.random.key(0), jnp.ones((1, 784)))
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from . import schemes as _schemes
from ._buffers import aligned_empty
from .bits import derive_seed
from .distributions import fill_constant

__all__ = [
    "constant", "zeros", "ones", "uniform", "normal", "truncated_normal", "variance_scaling",
    "glorot_uniform", "glorot_normal", "xavier_uniform", "xavier_normal", "he_uniform", "he_normal",
    "kaiming_uniform", "kaiming_normal", "lecun_uniform", "lecun_normal", "orthogonal", "delta_orthogonal",
    "seed_from_key",
]


def seed_from_key(key):
    """The fastinit seed of a JAX PRNG key (typed or raw uint32 data)."""
    data = _key_data(key)
    return derive_seed(0, "fastinit.jax", np.asarray(data, dtype=np.uint32).tobytes().hex())


def _key_data(key):
    if jnp.issubdtype(getattr(key, "dtype", None), jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def _default_dtype(dtype):
    """JAX's dtype: the default float, 64-bit types narrowed unless jax_enable_x64."""
    return jax.dtypes.canonicalize_dtype(dtype if dtype is not None else jnp.float_)


def gpu_device():
    """JAX's default device where it is a CUDA GPU and fastinit can fill its
    memory (numba-cuda installed); else None."""
    device = jax.config.jax_default_device  # None, a device, or a platform's name
    device = device if hasattr(device, "platform") else jax.devices(device)[0]
    if device.platform != "gpu" or "cuda" not in getattr(device.client, "platform_version", "").lower():
        return None
    from . import cuda
    return device if cuda.available() else None


def on_gpu(device, shape, dtype, fill):
    """``fill(out)`` on a new Numba device array of ``shape`` and ``dtype`` on
    the JAX GPU ``device``, handed to JAX through DLPack (no copy) once the
    fill is done."""
    from . import cuda
    from .cuda import _dlpack
    with cuda.on_device(f"cuda:{device.local_hardware_id}"):
        out = cuda.empty(shape, np.dtype(dtype))
        fill(out)
        # JAX reads the buffer once it holds it: the fill's stream (fastinit.cuda.stream's, or the default) is waited for
        return _dlpack.hand_over(functools.partial(jax.dlpack.from_dlpack, device=device), out, ready=cuda.synchronize)


def _initializer(fill_host, default=None, host_only=False):
    """init(key, shape, dtype) running ``fill_host(seed, out)`` on a device
    buffer of JAX's default GPU (``on_gpu``), or on an aligned host buffer,
    which ``jax.device_put`` adopts without a copy on the CPU backend.
    ``host_only``: always the host buffer (orthogonal's QR is computed there)."""

    def init(key, shape, dtype=None):
        dtype = _default_dtype(dtype if dtype is not None else default)
        shape = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        data = _key_data(key)

        def host(key_words):
            out = aligned_empty(shape, np.dtype(dtype))
            fill_host(seed_from_key(key_words), out)
            return out

        if isinstance(data, jax.core.Tracer):  # inside jit: JAX owns (and copies) the callback's result
            return jax.pure_callback(host, jax.ShapeDtypeStruct(shape, dtype), data, vmap_method="sequential")
        device = None if host_only else gpu_device()
        if device is not None:
            seed = seed_from_key(np.asarray(data))
            return on_gpu(device, shape, dtype, lambda out: fill_host(seed, out))
        return jax.device_put(host(np.asarray(data)))

    return init


def constant(value, dtype=None):
    """Every value ``value`` (``jax.nn.initializers.constant``)."""
    value = float(value)
    return _initializer(lambda seed, out: fill_constant(out, value), dtype)


def zeros(key, shape, dtype=None):
    """Zeros, called directly like ``jax.nn.initializers.zeros``."""
    return jnp.zeros(shape, _default_dtype(dtype))


def ones(key, shape, dtype=None):
    """Ones, called directly like ``jax.nn.initializers.ones``."""
    return jnp.ones(shape, _default_dtype(dtype))


def uniform(scale=1e-2, dtype=None):
    r""":math:`\mathcal{U}[0, \text{scale})`."""
    return _initializer(lambda seed, out: _schemes.uniform(out=out, low=0.0, high=float(scale), seed=seed), dtype)


def normal(stddev=1e-2, dtype=None):
    r""":math:`\mathcal{N}(0, \text{stddev}^2)`."""
    return _initializer(lambda seed, out: _schemes.normal(out=out, std=float(stddev), seed=seed), dtype)


def truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0):
    r"""``stddev`` times a standard normal truncated to ``[lower, upper]`` (bounds in units of stddev)."""
    stddev, lower, upper = float(stddev), float(lower), float(upper)
    return _initializer(lambda seed, out: _schemes.truncated_normal(
        out=out, std=stddev, a=lower * stddev, b=upper * stddev, seed=seed), dtype)


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
    r"""JAX's ``variance_scaling``: variance ``scale / n``, ``n`` the fan of ``mode`` from the axes;
    ``distribution`` ``"truncated_normal"`` (std divided by 0.8796...), ``"normal"`` or ``"uniform"``."""
    def make(seed, out):
        return _schemes.variance_scaling(out=out, scale=float(scale), mode=mode, distribution=distribution,
                                         in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis, seed=seed)
    if mode not in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg"):
        raise ValueError(f"invalid mode for variance scaling initializer: {mode}")
    if distribution not in ("truncated_normal", "normal", "uniform"):
        raise ValueError(f"invalid distribution for variance scaling initializer: {distribution}")
    return _initializer(make, dtype)


def _scheme(scale, mode, distribution, doc):
    def factory(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)
    factory.__doc__ = doc
    return factory


glorot_uniform = _scheme(1.0, "fan_avg", "uniform", "``variance_scaling(1.0, 'fan_avg', 'uniform')``.")
glorot_normal = _scheme(1.0, "fan_avg", "truncated_normal", "``variance_scaling(1.0, 'fan_avg', 'truncated_normal')``.")
he_uniform = _scheme(2.0, "fan_in", "uniform", "``variance_scaling(2.0, 'fan_in', 'uniform')``.")
he_normal = _scheme(2.0, "fan_in", "truncated_normal", "``variance_scaling(2.0, 'fan_in', 'truncated_normal')``.")
lecun_uniform = _scheme(1.0, "fan_in", "uniform", "``variance_scaling(1.0, 'fan_in', 'uniform')``.")
lecun_normal = _scheme(1.0, "fan_in", "truncated_normal", "``variance_scaling(1.0, 'fan_in', 'truncated_normal')``.")
for _name in ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"):
    globals()[_name].__name__ = globals()[_name].__qualname__ = _name
xavier_uniform = glorot_uniform
xavier_normal = glorot_normal
kaiming_uniform = he_uniform
kaiming_normal = he_normal


def _orthogonal_into(seed, out, scale, column_axis):
    """JAX's orthogonal into ``out``: Q of an (n_rows, n_cols) normal matrix, n_cols = shape[column_axis]."""
    shape = out.shape
    if len(shape) < 2:
        raise ValueError("orthogonal initializer requires at least a 2D shape")
    n_cols = shape[column_axis]
    n_rows = int(np.prod(shape)) // n_cols if n_cols else 0
    moved = tuple(np.delete(shape, column_axis)) + (n_cols,)
    q = _schemes.orthogonal((n_rows, n_cols), gain=float(scale), dtype=out.dtype, seed=seed)
    out[...] = np.moveaxis(q.reshape(moved), -1, column_axis)
    return out


def orthogonal(scale=1.0, column_axis=-1, dtype=None):
    """A matrix with orthonormal columns along ``column_axis`` (Haar distributed), times ``scale``."""
    return _initializer(functools.partial(_orthogonal_into, scale=scale, column_axis=column_axis), dtype,
                        host_only=True)


def delta_orthogonal(scale=1.0, column_axis=-1, dtype=None):
    """Xiao et al. (2018): an orthogonal ``shape[-2:]`` matrix at the centre tap ``(k - 1) // 2`` of a
    3-, 4- or 5-d conv kernel ``(*kernel, in, out)``, zeros elsewhere."""
    def make(seed, out):
        shape = out.shape
        if len(shape) not in (3, 4, 5):
            raise ValueError("Delta orthogonal initializer requires a 3D, 4D or 5D shape.")
        if shape[-1] < shape[-2]:
            raise ValueError("`fan_in` must be less or equal than `fan_out`. ")
        fill_constant(out, 0.0)
        centre = tuple((k - 1) // 2 for k in shape[:-2])
        _orthogonal_into(seed, out[centre], scale, column_axis)
        return out
    return _initializer(make, dtype, host_only=True)
