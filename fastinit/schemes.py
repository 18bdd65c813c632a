"""The schemes layer: fans, gains and every named initializer.

Every fan-based scheme is a thin case of :func:`variance_scaling`, as in JAX's
``jax.nn.initializers``. Each initializer is called either as

    fastinit.NAME(shape, *, seed, dtype=np.float32, **params)   # a new array
    fastinit.NAME(out=buffer, *, seed, **params)                # in place

and, for element-wise initializers, on a rectangular ``region`` of a larger
tensor: ``fastinit.NAME(full_shape, region=(slice(a, b), slice(None)), seed=s)``
returns (or fills, with ``out=``) exactly that block of the full tensor, with
fans taken from ``full_shape``.

Shapes follow PyTorch's layout ``(out, in, *kernel)`` unless ``layout="keras"``
or ``layout="jax"`` (``(*kernel, in, out)``) or explicit axes say otherwise.
"""

import functools
import inspect
import math
import numbers
import operator
from collections import namedtuple

import numpy as np

from . import _formats
from ._buffers import aligned_empty
from ._qr import orthonormal_columns
from ._regions import check_shape, fill_region, normalize_region, region_shape
from ._validate import check_out, check_real
from .cuda import device_view, is_cuda_array
from .bits import _check_seed, derive_seed
from .distributions import fill_constant, fill_normal, fill_truncated_normal, fill_uniform

__all__ = [
    "TRUNCATED_NORMAL_STD", "Axes", "compute_fans", "calculate_gain", "variance_scaling",
    "zeros", "ones", "constant", "uniform", "normal", "truncated_normal",
    "xavier_uniform", "xavier_normal", "glorot_uniform", "glorot_normal",
    "kaiming_uniform", "kaiming_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "fan_in_uniform",
    "orthogonal", "eye", "identity", "dirac", "sparse",
]

#: Standard deviation of a standard normal truncated to [-2, 2]
#: (``scipy.stats.truncnorm.std(-2, 2)``). ``variance_scaling`` divides by it so
#: that its truncated normal has the target variance, as Keras and JAX do.
TRUNCATED_NORMAL_STD = 0.87962566103423978

#: Explicit fan axes, as JAX's ``in_axis``, ``out_axis`` and ``batch_axis``
#: (each an int or a tuple of ints). Pass it as ``layout=``.
Axes = namedtuple("Axes", ["in_axis", "out_axis", "batch_axis"], defaults=(-2, -1, ()))

_LAYOUT_AXES = {"keras": Axes(-2, -1, ()), "jax": Axes(-2, -1, ())}
_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("truncated_normal", "normal", "untruncated_normal", "uniform")


# ---------------------------------------------------------------------------
# Fans and gains
# ---------------------------------------------------------------------------
def _axis_tuple(axes, ndim, name):
    axes = (axes,) if isinstance(axes, numbers.Integral) else tuple(axes)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}={a} is out of range for a {ndim}-d shape")
        out.append(a % ndim)
    return tuple(out)


def _axes_fans(shape, axes):
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(
            f"can't compute fans of a {ndim}-d shape {shape} with in/out axes: pass fan_in= and fan_out=")
    in_axes = _axis_tuple(axes.in_axis, ndim, "in_axis")
    out_axes = _axis_tuple(axes.out_axis, ndim, "out_axis")
    batch_axes = _axis_tuple(axes.batch_axis, ndim, "batch_axis")
    used = in_axes + out_axes + batch_axes
    if len(set(used)) != len(used):
        raise ValueError(f"in_axis, out_axis and batch_axis overlap: {in_axes}, {out_axes}, {batch_axes}")
    receptive = math.prod(shape[d] for d in range(ndim) if d not in used)
    return (math.prod(shape[d] for d in in_axes) * receptive,
            math.prod(shape[d] for d in out_axes) * receptive)


def compute_fans(shape, layout="torch", *, in_axis=None, out_axis=None, batch_axis=(), fan_in=None, fan_out=None):
    r"""``(fan_in, fan_out)`` of a weight shape.

    * ``layout="torch"``: ``(out, in, *kernel)``, as
      ``torch.nn.init._calculate_fan_in_and_fan_out``: ``fan_in = in * k``,
      ``fan_out = out * k`` with ``k`` the product of the kernel dims; at least
      2-d.
    * ``layout="keras"``: ``(*kernel, in, out)`` with Keras' rule, which also
      takes 0-d shapes (fans 1, 1) and 1-d shapes ``(n,)`` (fans n, n).
    * ``layout="jax"``: ``(*kernel, in, out)``, as ``jax.nn.initializers``
      (at least 2-d).
    * explicit axes: ``in_axis``, ``out_axis``, ``batch_axis`` (ints or
      tuples, JAX semantics) or ``layout=Axes(...)``; the receptive field is
      the product of the remaining dims.
    * ``fan_in=`` / ``fan_out=`` replace the computed values (and make any
      shape acceptable when both are given).

    Zero-size dims give zero fans (never a ZeroDivisionError); the
    initializers treat a tensor with no elements as a no-op.

    Example::

        >>> fastinit.compute_fans((64, 3, 7, 7))                  # conv weight, torch
        (147, 3136)
        >>> fastinit.compute_fans((7, 7, 3, 64), layout="keras")  # the same, Keras/JAX
        (147, 3136)
    """
    shape = check_shape(shape)
    overrides = {name: value for name, value in (("fan_in", fan_in), ("fan_out", fan_out)) if value is not None}
    for name, value in overrides.items():
        if check_real(name, value) <= 0:
            raise ValueError(f"{name} must be > 0, got {value}")
    if len(overrides) == 2:
        return fan_in, fan_out
    if in_axis is not None or out_axis is not None or isinstance(layout, Axes):
        axes = layout if isinstance(layout, Axes) else Axes()
        axes = Axes(axes.in_axis if in_axis is None else in_axis,
                    axes.out_axis if out_axis is None else out_axis,
                    batch_axis if batch_axis != () else axes.batch_axis)
        fans = _axes_fans(shape, axes)
    elif layout == "torch":
        if len(shape) < 2:
            raise ValueError(
                f"fan_in and fan_out can't be computed for a {len(shape)}-d shape {shape} in the torch layout "
                f"(out, in, *kernel): pass fan_in= and fan_out=, or layout='keras'")
        receptive = math.prod(shape[2:])
        fans = (shape[1] * receptive, shape[0] * receptive)
    elif layout == "keras":
        if len(shape) == 0:
            fans = (1, 1)
        elif len(shape) == 1:
            fans = (shape[0], shape[0])
        else:
            receptive = math.prod(shape[:-2])
            fans = (shape[-2] * receptive, shape[-1] * receptive)
    elif layout == "jax":
        fans = _axes_fans(shape, Axes(-2, -1, batch_axis))
    else:
        raise ValueError(f"layout must be 'torch', 'keras', 'jax' or an Axes, got {layout!r}")
    return overrides.get("fan_in", fans[0]), overrides.get("fan_out", fans[1])


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity, param=None):
    r"""The recommended gain for a nonlinearity, PyTorch's table.

    ================= ====================================================
    nonlinearity      gain
    ================= ====================================================
    linear, conv*d,   :math:`1`
    conv_transpose*d,
    sigmoid
    tanh              :math:`\frac{5}{3}`
    relu              :math:`\sqrt{2}`
    leaky_relu        :math:`\sqrt{\frac{2}{1 + \text{negative\_slope}^2}}` (slope ``param``, default 0.01)
    selu              :math:`\frac{3}{4}`
    ================= ====================================================

    Example::

        >>> fastinit.calculate_gain("leaky_relu", 0.2)
        1.3867504905630728
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope * slope))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}; supported: "
                     f"{', '.join(_LINEAR + ('sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu'))}")


def _squared(x):
    """``x * x``: one correctly rounded product (``x ** 2`` is the C library's
    ``pow``, whose last bit is not the same on every machine)."""
    return x * x


# ---------------------------------------------------------------------------
# Calling convention: shape or out=, dtype, region
# ---------------------------------------------------------------------------
def _cuda_out(function, on_host=False):
    """``function`` with two ways to the GPU (fastinit.cuda):

    * ``out=`` a CUDA array: filled on its device (the fills of
      fastinit.distributions take a device view), or, ``on_host`` (the
      initializers that are no element-wise fill: a QR, scattered ones, a
      sparsity pattern), computed in a host array of its shape and dtype and
      copied to the device; returns ``out``;
    * ``device="cuda"`` (or ``"cuda:N"``, N the device's number) instead of
      ``out=``: a new Numba device array of the result's shape and dtype,
      filled so; returns it. ``device="cpu"`` is the default: a NumPy array.
    """
    @functools.wraps(function)
    def with_cuda_out(*args, out=None, device=None, **kwargs):
        if device is not None and device != "cpu":
            if out is not None:
                raise ValueError("pass out= or device=, not both")
            from .cuda import on_device
            with on_device(device):  # the new array, and the kernels that fill it, on that device
                return with_cuda_out(*args, out=_new_device_array(function.__name__, args, kwargs, device),
                                     **kwargs)
        if out is None or isinstance(out, np.ndarray) or not is_cuda_array(out):
            return function(*args, out=out, **kwargs)
        view = device_view(out)
        if on_host:
            host = function(*args, out=np.empty(view.shape, np.dtype(view.dtype)), **kwargs)
            from .cuda import copy_from_host
            copy_from_host(view, host)
        else:
            function(*args, out=view, **kwargs)
        return out
    signature = inspect.signature(function)
    with_cuda_out.__signature__ = signature.replace(parameters=[
        *signature.parameters.values(), inspect.Parameter("device", inspect.Parameter.KEYWORD_ONLY, default=None)])
    return with_cuda_out


def _cuda_out_on_host(function):
    return _cuda_out(function, on_host=True)


def _new_device_array(name, args, kwargs, device):
    """An uninitialized device array for ``name(*args, **kwargs)``'s result."""
    from .cuda import empty
    shape = args[0] if args else kwargs.get("shape")
    if shape is None:
        raise TypeError(f"{name}() needs a shape with device=")
    full = check_shape(shape)
    region = kwargs.get("region")
    result = full if region is None else region_shape(normalize_region(region, full))
    dtype = _formats.resolve_dtype(np.float32 if kwargs.get("dtype") is None else kwargs["dtype"])
    return empty(result, dtype, device)


def _target(name, shape, out, dtype, region):
    """(array to fill, full shape, region bounds or None), validated."""
    if out is not None:
        out = check_out(out)
        if dtype is not None and _formats.resolve_dtype(dtype) != out.dtype:
            raise ValueError(f"dtype={dtype} does not match out.dtype={out.dtype}")
        if region is None:
            if shape is not None and check_shape(shape) != out.shape:
                raise ValueError(f"shape {check_shape(shape)} does not match out.shape {out.shape}")
            return out, out.shape, None
        if shape is None:
            raise TypeError(f"{name}(): region= needs the full tensor's shape")
        full = check_shape(shape)
        bounds = normalize_region(region, full)
        if region_shape(bounds) != out.shape:
            raise ValueError(f"out.shape {out.shape} does not match the region's shape {region_shape(bounds)}")
        return out, full, bounds
    if shape is None:
        raise TypeError(f"{name}() needs a shape or out=")
    full = check_shape(shape)
    resolved = _formats.resolve_dtype(np.float32 if dtype is None else dtype)
    bounds = None if region is None else normalize_region(region, full)
    return aligned_empty(full if bounds is None else region_shape(bounds), resolved), full, bounds


def _fill(target, full, bounds, fill, **kwargs):
    if bounds is None:
        fill(target, **kwargs)
    else:
        fill_region(fill, target, full, bounds, **kwargs)
    return target


def _no_region(name, region):
    if region is not None:
        raise ValueError(f"{name} needs the whole tensor: region= is not supported")


# ---------------------------------------------------------------------------
# The core
# ---------------------------------------------------------------------------
@_cuda_out
def variance_scaling(shape=None, *, seed, scale=1.0, mode="fan_in", distribution="truncated_normal",
                     dtype=None, out=None, layout="torch", in_axis=None, out_axis=None, batch_axis=(),
                     fan_in=None, fan_out=None, region=None):
    r"""Values with variance ``scale / n``, ``n`` a fan of the shape.

    ``n`` is ``fan_in``, ``fan_out``, their mean (``fan_avg``) or their
    geometric mean (``fan_geo_avg``), from :func:`compute_fans`. Then

    * ``distribution="truncated_normal"``: a normal with standard deviation
      :math:`\sqrt{\text{scale}/n} / 0.87962566103423978`, truncated to two of
      those standard deviations (Keras and JAX: the result has the target
      variance);
    * ``"normal"`` (or ``"untruncated_normal"``): :math:`\mathcal{N}(0, \text{scale}/n)`;
    * ``"uniform"``: :math:`\mathcal{U}(-\sqrt{3\,\text{scale}/n}, \sqrt{3\,\text{scale}/n})`.

    Args:
        shape: the (full) tensor shape; optional with ``out=``.
        seed: integer in [0, 2**64).
        scale: variance multiplier, ``>= 0`` (a squared gain).
        mode: ``"fan_in"``, ``"fan_out"``, ``"fan_avg"`` or ``"fan_geo_avg"``.
        distribution: ``"truncated_normal"``, ``"normal"`` or ``"uniform"``.
        dtype: float32 (default), float64, float16 or bfloat16.
        out: a buffer to fill in place instead of a new array.
        layout, in_axis, out_axis, batch_axis, fan_in, fan_out: see :func:`compute_fans`.
        region: a block of the tensor (slices or (start, stop) per axis) to
            produce; the result equals that block of the whole tensor.

    Example::

        >>> w = fastinit.variance_scaling((3, 3, 64, 128), scale=2.0, mode="fan_in",
        ...                               distribution="truncated_normal", layout="keras", seed=0)
    """
    target, full, bounds = _target("variance_scaling", shape, out, dtype, region)
    scale = check_real("scale", scale)
    if scale < 0:
        raise ValueError(f"scale must be >= 0, got {scale}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
    seed = _check_seed(seed)
    fan_in, fan_out = compute_fans(full, layout, in_axis=in_axis, out_axis=out_axis, batch_axis=batch_axis,
                                   fan_in=fan_in, fan_out=fan_out)
    if target.size == 0:
        return target
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
         "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]
    if scale == 0:  # a zero gain: every value is 0, wherever the region lies
        return fill_constant(target, 0.0)
    variance = scale / n
    if distribution == "truncated_normal":
        std = math.sqrt(variance) / TRUNCATED_NORMAL_STD
        return _fill(target, full, bounds, fill_truncated_normal, mean=0.0, std=std, a=-2 * std, b=2 * std, seed=seed)
    if distribution == "uniform":
        limit = math.sqrt(3 * variance)
        return _fill(target, full, bounds, fill_uniform, low=-limit, high=limit, seed=seed)
    return _fill(target, full, bounds, fill_normal, mean=0.0, std=math.sqrt(variance), seed=seed)


# ---------------------------------------------------------------------------
# Distributions and constants
# ---------------------------------------------------------------------------
@_cuda_out
def zeros(shape=None, *, dtype=None, out=None, region=None):
    """Zeros. Example: ``fastinit.zeros((768,))``."""
    return constant(shape, value=0.0, dtype=dtype, out=out, region=region)


@_cuda_out
def ones(shape=None, *, dtype=None, out=None, region=None):
    """Ones (LayerNorm weights). Example: ``fastinit.ones((768,))``."""
    return constant(shape, value=1.0, dtype=dtype, out=out, region=region)


@_cuda_out
def constant(shape=None, *, value, dtype=None, out=None, region=None):
    """``value`` everywhere. Example: ``fastinit.constant((768,), value=0.1)``."""
    target, _, _ = _target("constant", shape, out, dtype, region)
    return fill_constant(target, value)


@_cuda_out
def uniform(shape=None, *, seed, low=0.0, high=1.0, dtype=None, out=None, region=None):
    r""":math:`\mathcal{U}[\text{low}, \text{high})` (``torch.nn.init.uniform_``'s ``a``, ``b``).

    Example: ``fastinit.uniform((768, 768), low=-0.1, high=0.1, seed=0)``."""
    target, full, bounds = _target("uniform", shape, out, dtype, region)
    return _fill(target, full, bounds, fill_uniform, low=low, high=high, seed=seed)


@_cuda_out
def normal(shape=None, *, seed, mean=0.0, std=1.0, dtype=None, out=None, region=None):
    r""":math:`\mathcal{N}(\text{mean}, \text{std}^2)`.

    Example: ``fastinit.normal((50257, 768), std=0.02, seed=0)`` (GPT-2 embeddings)."""
    target, full, bounds = _target("normal", shape, out, dtype, region)
    return _fill(target, full, bounds, fill_normal, mean=mean, std=std, seed=seed)


@_cuda_out
def truncated_normal(shape=None, *, seed, mean=0.0, std=1.0, a=-2.0, b=2.0, dtype=None, out=None, region=None):
    r""":math:`\mathcal{N}(\text{mean}, \text{std}^2)` truncated to :math:`[a, b]`, absolute bounds
    as ``torch.nn.init.trunc_normal_`` (so the default cuts at -2 and 2, not at 2 std).

    Example: ``fastinit.truncated_normal((768, 768), std=0.02, a=-0.04, b=0.04, seed=0)``."""
    target, full, bounds = _target("truncated_normal", shape, out, dtype, region)
    return _fill(target, full, bounds, fill_truncated_normal, mean=mean, std=std, a=a, b=b, seed=seed)


# ---------------------------------------------------------------------------
# Fan-based schemes: thin cases of variance_scaling
# ---------------------------------------------------------------------------
@_cuda_out
def xavier_uniform(shape=None, *, seed, gain=1.0, dtype=None, out=None, layout="torch",
                   fan_in=None, fan_out=None, region=None):
    r"""Glorot & Bengio (2010), as ``torch.nn.init.xavier_uniform_``:
    :math:`\mathcal{U}(-a, a)`, :math:`a = \text{gain} \times \sqrt{\frac{6}{\text{fan\_in} + \text{fan\_out}}}`.

    ``variance_scaling(scale=gain**2, mode="fan_avg", distribution="uniform")``.

    Example: ``fastinit.xavier_uniform((256, 128), gain=fastinit.calculate_gain("tanh"), seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=_squared(check_real("gain", gain)), mode="fan_avg",
                            distribution="uniform", dtype=dtype, out=out, layout=layout,
                            fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def xavier_normal(shape=None, *, seed, gain=1.0, dtype=None, out=None, layout="torch",
                  fan_in=None, fan_out=None, region=None):
    r"""Glorot & Bengio (2010), as ``torch.nn.init.xavier_normal_`` (untruncated):
    :math:`\mathcal{N}(0, \sigma^2)`, :math:`\sigma = \text{gain} \times \sqrt{\frac{2}{\text{fan\_in} + \text{fan\_out}}}`.

    ``variance_scaling(scale=gain**2, mode="fan_avg", distribution="normal")``. Keras' and JAX's
    ``glorot_normal`` is truncated: see :func:`glorot_normal`.

    Example: ``fastinit.xavier_normal((256, 128), seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=_squared(check_real("gain", gain)), mode="fan_avg",
                            distribution="normal", dtype=dtype, out=out, layout=layout,
                            fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def glorot_uniform(shape=None, *, seed, dtype=None, out=None, layout="torch", fan_in=None, fan_out=None,
                   region=None):
    r"""Keras/JAX ``glorot_uniform``: :math:`\mathcal{U}(-a, a)`, :math:`a = \sqrt{\frac{6}{\text{fan\_in} + \text{fan\_out}}}`
    (:func:`xavier_uniform` with gain 1). Pass ``layout="keras"`` for ``(*kernel, in, out)`` shapes.

    Example: ``fastinit.glorot_uniform((784, 256), layout="keras", seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=1.0, mode="fan_avg", distribution="uniform", dtype=dtype,
                            out=out, layout=layout, fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def glorot_normal(shape=None, *, seed, dtype=None, out=None, layout="torch", fan_in=None, fan_out=None,
                  region=None):
    r"""Keras/JAX ``glorot_normal``: truncated normal with variance :math:`\frac{2}{\text{fan\_in} + \text{fan\_out}}`
    (``variance_scaling(1, "fan_avg", "truncated_normal")``; torch's xavier_normal is untruncated).

    Example: ``fastinit.glorot_normal((784, 256), layout="keras", seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=1.0, mode="fan_avg", distribution="truncated_normal",
                            dtype=dtype, out=out, layout=layout, fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def kaiming_uniform(shape=None, *, seed, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=None, out=None,
                    layout="torch", fan_in=None, fan_out=None, region=None):
    r"""He et al. (2015), as ``torch.nn.init.kaiming_uniform_``: :math:`\mathcal{U}(-b, b)`,
    :math:`b = \text{gain} \times \sqrt{\frac{3}{\text{fan\_mode}}}`, gain = ``calculate_gain(nonlinearity, a)``.

    ``variance_scaling(scale=gain**2, mode=mode, distribution="uniform")``. With ``a=math.sqrt(5)``
    this is PyTorch's default for Linear and Conv weights, :math:`\mathcal{U}(\pm 1/\sqrt{\text{fan\_in}})`.

    Example: ``fastinit.kaiming_uniform((256, 128), nonlinearity="relu", seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=_squared(calculate_gain(nonlinearity, a)), mode=_torch_mode(mode),
                            distribution="uniform", dtype=dtype, out=out, layout=layout,
                            fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def kaiming_normal(shape=None, *, seed, a=0.0, mode="fan_in", nonlinearity="leaky_relu", dtype=None, out=None,
                   layout="torch", fan_in=None, fan_out=None, region=None):
    r"""He et al. (2015), as ``torch.nn.init.kaiming_normal_`` (untruncated): :math:`\mathcal{N}(0, \sigma^2)`,
    :math:`\sigma = \frac{\text{gain}}{\sqrt{\text{fan\_mode}}}`.

    ``variance_scaling(scale=gain**2, mode=mode, distribution="normal")``.

    Example: ``fastinit.kaiming_normal((64, 3, 7, 7), mode="fan_out", nonlinearity="relu", seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=_squared(calculate_gain(nonlinearity, a)), mode=_torch_mode(mode),
                            distribution="normal", dtype=dtype, out=out, layout=layout,
                            fan_in=fan_in, fan_out=fan_out, region=region)


def _torch_mode(mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return mode


@_cuda_out
def he_uniform(shape=None, *, seed, dtype=None, out=None, layout="torch", fan_in=None, fan_out=None, region=None):
    r"""Keras/JAX ``he_uniform``: :math:`\mathcal{U}(\pm\sqrt{6/\text{fan\_in}})`
    (``variance_scaling(2, "fan_in", "uniform")``, = ``kaiming_uniform(nonlinearity="relu")``).

    Example: ``fastinit.he_uniform((3, 3, 64, 128), layout="keras", seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=2.0, mode="fan_in", distribution="uniform", dtype=dtype,
                            out=out, layout=layout, fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def he_normal(shape=None, *, seed, dtype=None, out=None, layout="torch", fan_in=None, fan_out=None, region=None):
    r"""Keras/JAX ``he_normal``: truncated normal with variance :math:`2/\text{fan\_in}`
    (``variance_scaling(2, "fan_in", "truncated_normal")``; torch's kaiming_normal is untruncated).

    Example: ``fastinit.he_normal((3, 3, 64, 128), layout="keras", seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=2.0, mode="fan_in", distribution="truncated_normal",
                            dtype=dtype, out=out, layout=layout, fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def lecun_uniform(shape=None, *, seed, dtype=None, out=None, layout="torch", fan_in=None, fan_out=None,
                  region=None):
    r"""LeCun uniform: :math:`\mathcal{U}(\pm\sqrt{3/\text{fan\_in}})` (``variance_scaling(1, "fan_in", "uniform")``).

    Example: ``fastinit.lecun_uniform((256, 128), seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=1.0, mode="fan_in", distribution="uniform", dtype=dtype,
                            out=out, layout=layout, fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def lecun_normal(shape=None, *, seed, dtype=None, out=None, layout="torch", fan_in=None, fan_out=None,
                 region=None):
    r"""Keras/JAX ``lecun_normal``: truncated normal with variance :math:`1/\text{fan\_in}`
    (``variance_scaling(1, "fan_in", "truncated_normal")``), the SELU initialization.

    Example: ``fastinit.lecun_normal((256, 128), seed=0)``."""
    return variance_scaling(shape, seed=seed, scale=1.0, mode="fan_in", distribution="truncated_normal",
                            dtype=dtype, out=out, layout=layout, fan_in=fan_in, fan_out=fan_out, region=region)


@_cuda_out
def fan_in_uniform(shape=None, *, seed, dtype=None, out=None, layout="torch", fan_in=None, fan_out=None,
                   region=None):
    r"""The classic "random uniform" :math:`\mathcal{U}(\pm 1/\sqrt{\text{fan\_in}})`: PyTorch's default for
    ``nn.Linear`` and ``nn.ConvNd`` weights (``kaiming_uniform_(a=sqrt(5))``) and, with ``fan_in=`` the
    weight's fan, for their biases (``variance_scaling(1/3, "fan_in", "uniform")``).

    Example: ``fastinit.fan_in_uniform((768,), fan_in=3072, fan_out=768, seed=1)`` (a Linear bias)."""
    return variance_scaling(shape, seed=seed, scale=1.0 / 3.0, mode="fan_in", distribution="uniform", dtype=dtype,
                            out=out, layout=layout, fan_in=fan_in, fan_out=fan_out, region=region)


# ---------------------------------------------------------------------------
# Structured initializers
# ---------------------------------------------------------------------------
@_cuda_out_on_host
def orthogonal(shape=None, *, seed, gain=1.0, dtype=None, out=None):
    r"""Saxe et al. (2013), as ``torch.nn.init.orthogonal_``: the ``Q`` of the QR
    decomposition of a standard normal ``(rows, cols)`` matrix (``rows = shape[0]``,
    ``cols`` the product of the other dims; the transpose when ``rows < cols``), with
    the signs fixed so that ``R`` has a positive diagonal (``Q`` is then Haar
    distributed), times ``gain``. Computed in float64 by fastinit's own Householder QR
    (``fastinit._qr``: the same bits on every machine, unlike LAPACK's), then rounded.

    Example: ``fastinit.orthogonal((512, 512), gain=fastinit.calculate_gain("relu"), seed=0)``."""
    target, full, _ = _target("orthogonal", shape, out, dtype, None)
    gain = check_real("gain", gain)
    seed = _check_seed(seed)
    if len(full) < 2:
        raise ValueError(f"orthogonal needs a shape of at least 2 dims, got {full}")
    if target.size == 0:
        return target
    rows = full[0]
    cols = target.size // rows
    q = fill_normal(np.empty((rows, cols) if rows >= cols else (cols, rows)), seed=seed)
    orthonormal_columns(q, float(gain))  # in place; sign fix and gain included
    if rows < cols:
        q = q.T
    # into target itself: reshaping a non-contiguous target of 3 or more axes would give a copy
    target[...] = (q.astype(target.dtype) if target.dtype.itemsize == 2 else q).reshape(target.shape)
    return target


@_cuda_out_on_host
def eye(shape=None, *, gain=1.0, dtype=None, out=None, region=None):
    r"""Identity matrix (``torch.nn.init.eye_``; Keras ``Identity(gain)``): ``gain`` on the diagonal, 0
    elsewhere, 2-d shapes only (rectangular allowed). With ``region=``, the block of that matrix.

    Example: ``fastinit.eye((512, 512))``."""
    target, full, bounds = _target("eye", shape, out, dtype, region)
    gain = check_real("gain", gain)
    if len(full) != 2:
        raise ValueError(f"eye needs a 2-d shape, got {full}")
    fill_constant(target, 0.0)
    (r0, r1), (c0, c1) = bounds if bounds is not None else ((0, full[0]), (0, full[1]))
    first, last = max(r0, c0), min(r1, c1)
    if first < last:
        index = np.arange(first, last)
        target[index - r0, index - c0] = gain
    return target


identity = eye


@_cuda_out_on_host
def dirac(shape=None, *, groups=1, center="torch", dtype=None, out=None):
    r"""Dirac delta (``torch.nn.init.dirac_``): for 3-, 4- and 5-d conv weights ``(out, in, *kernel)``,
    1 at ``[g * out_per_group + d, d, c...]`` for every group ``g`` and ``d < min(out_per_group, in)``,
    0 elsewhere, so the convolution preserves the identity of its inputs.

    ``center`` picks the tap of even-sized kernels: ``"torch"`` uses index ``k // 2`` (PyTorch),
    ``"jax"`` uses ``(k - 1) // 2`` (JAX's ``delta_orthogonal``); odd sizes agree.

    Example: ``fastinit.dirac((64, 64, 3, 3))``."""
    target, full, _ = _target("dirac", shape, out, dtype, None)
    if len(full) not in (3, 4, 5):
        raise ValueError(f"dirac needs a 3-, 4- or 5-d shape, got {full}")
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    if full[0] % groups:
        raise ValueError(f"shape[0] = {full[0]} is not divisible by groups = {groups}")
    if center not in ("torch", "jax"):
        raise ValueError(f"center must be 'torch' or 'jax', got {center!r}")
    fill_constant(target, 0.0)
    per_group = full[0] // groups
    taps = tuple(k // 2 if center == "torch" else (k - 1) // 2 for k in full[2:])
    if target.size == 0:
        return target
    d = np.arange(min(per_group, full[1]))
    for g in range(groups):
        target[(g * per_group + d, d) + taps] = 1.0
    return target


@_cuda_out_on_host
def sparse(shape=None, *, seed, sparsity, std=0.01, dtype=None, out=None):
    r"""Martens (2010), as ``torch.nn.init.sparse_``: a 2-d matrix of :math:`\mathcal{N}(0, \text{std}^2)`
    values in which each column has exactly ``ceil(sparsity * rows)`` zeros at uniformly random rows.

    The values are the normal stream of ``seed``; the zero rows of each column are those holding
    its smallest keys in the uniform stream of ``derive_seed(seed, "fastinit.sparse")`` (between
    equal keys, the lower row).

    Example: ``fastinit.sparse((1024, 512), sparsity=0.9, seed=0)``."""
    target, full, _ = _target("sparse", shape, out, dtype, None)
    if len(full) != 2:
        raise ValueError(f"sparse needs a 2-d shape, got {full}")
    sparsity = check_real("sparsity", sparsity)
    if not 0 <= sparsity <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    seed = _check_seed(seed)
    fill_normal(target, 0.0, std, seed=seed)
    rows = full[0]
    zeros_per_column = math.ceil(sparsity * rows)
    if zeros_per_column and target.size:
        keys = fill_uniform(np.empty(full), seed=derive_seed(seed, "fastinit.sparse"))
        np.put_along_axis(target, _smallest_rows(keys, zeros_per_column), 0, axis=0)
    return target


def _smallest_rows(keys, k):
    """Per column of the 2-d ``keys``, the rows of its ``k`` smallest keys;
    between equal keys the lower row first (a stable sort: the same rows
    with any NumPy version, where ``argpartition``'s choice between equal
    keys at the cut is unspecified)."""
    return np.argsort(keys, axis=0, kind="stable")[:k]


# ---------------------------------------------------------------------------
# By name, on a region: what the file writer and the Dask adapter call
# ---------------------------------------------------------------------------
#: The element-wise initializers: any region of them can be made on its own.
ELEMENTWISE = (
    "zeros", "ones", "constant", "uniform", "normal", "truncated_normal", "variance_scaling",
    "xavier_uniform", "xavier_normal", "glorot_uniform", "glorot_normal", "kaiming_uniform", "kaiming_normal",
    "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "fan_in_uniform", "eye",
)
_UNSEEDED = ("zeros", "ones", "constant", "eye")


def initialize(name, shape, *, region=None, out=None, dtype=None, seed=None, **params):
    """``fastinit.<name>(shape, region=region, out=out, dtype=dtype, seed=seed, **params)``
    for an element-wise initializer given by name (seed ignored by the unseeded ones)."""
    if name not in ELEMENTWISE:
        raise ValueError(f"init must be one of {', '.join(ELEMENTWISE)}; got {name!r}")
    kwargs = dict(params, region=region, out=out, dtype=dtype)
    if name not in _UNSEEDED:
        if seed is None:
            raise TypeError(f"init={name!r} needs a seed")
        kwargs["seed"] = seed
    return globals()[name](shape, **kwargs)


def check_request(name, shape, dtype, seed, params):
    """Validate an initializer request on one element, before any work or file."""
    shape = check_shape(shape)
    initialize(name, shape, region=tuple((0, 1) for _ in shape) if math.prod(shape) else None,
               dtype=dtype, seed=seed, **params)
