"""``keras.initializers`` on fastinit's kernels: the same classes, names,
constructor arguments, defaults and semantics.

Every class subclasses ``keras.initializers.Initializer`` and is registered
as serializable under the package ``"fastinit"``, so
``keras.initializers.get("fastinit>HeNormal")``, ``serialize``/``deserialize``
and saved models find it. Shapes are Keras' ``(*kernel, in, out)``; fans
follow ``keras.initializers``' rule (0-d: 1 and 1; 1-d ``(n,)``: n and n;
``input_axes``/``output_axes``: the products of those axes).

Seeds, as in Keras:

* an int seed (or ``None``, resolved once at construction with Keras' own
  ``make_default_seed``, so ``keras.utils.set_random_seed`` makes it
  reproducible) gives the same values on every call: the values are
  fastinit's stream of that seed (``RandomNormal(stddev=0.02, seed=5)(shape)``
  equals ``fastinit.normal(shape, std=0.02, seed=5)``);
* a ``keras.random.SeedGenerator`` gives new values on every call: each call
  advances the generator (``next()``) and draws the stream of
  ``derive_seed(0, "fastinit.keras.SeedGenerator", *state words as hex)``,
  so the sequence is reproducible from the generator's own seed.

Truncated normals are exact on every backend: every value lies in
``mean +- 2 stddev`` (Keras' torch backend keeps some values outside).

Example::

    >>> layer = keras.layers.Dense(4096, kernel_initializer=fastinit.keras.HeNormal(seed=0))
"""

import math
import random

import keras
import numpy as np

from .. import schemes as _schemes
from ..bits import SEED_LIMIT, derive_seed
from ..distributions import fill_constant
from ._backend import filled, float_dtype

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "Identity", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
    "Orthogonal", "compute_fans",
]

_PACKAGE = "fastinit"
_register = keras.saving.register_keras_serializable(package=_PACKAGE)
Initializer = keras.initializers.Initializer


def _shape(shape):
    try:
        dims = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    except (TypeError, ValueError) as error:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from error
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must not have negative dimensions, got {dims}")
    return dims


def compute_fans(shape, input_axes=None, output_axes=None):
    """Keras' ``(fan_in, fan_out)`` of a shape: with ``input_axes`` and
    ``output_axes``, the products of those axes; else 0-d (1, 1), 1-d (n, n),
    2-d (in, out), and ``(*kernel, in, out)`` with the receptive field."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    return _schemes.compute_fans(shape, layout="keras")


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------
@_register
class Constant(Initializer):
    """Every value ``value`` (a scalar). Example: ``Constant(0.1)((768,))``."""

    def __init__(self, value=0.0):
        if np.ndim(value) != 0:
            raise ValueError(f"value must be a scalar, got an array of shape {np.shape(value)}")
        self.value = value

    def __call__(self, shape, dtype=None):
        value = float(self.value)
        return filled(_shape(shape), float_dtype(dtype), lambda out: fill_constant(out, value))

    def get_config(self):
        return {"value": self.value}


def _fixed_constant(name, value):
    """``Zeros`` and ``Ones``: a Constant without arguments."""

    def __init__(self):
        Constant.__init__(self, value)

    def get_config(self):
        return {}

    cls = type(name, (Constant,), {"__init__": __init__, "get_config": get_config, "__doc__": f"{value} everywhere.",
                                   "__module__": __name__})
    return _register(cls)


Zeros = _fixed_constant("Zeros", 0.0)
Ones = _fixed_constant("Ones", 1.0)


@_register
class Identity(Initializer):
    """``gain`` times the identity matrix (2-d shapes only; rectangular allowed)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity initializer requires a 2D shape, got shape={shape} of rank {len(shape)}")
        gain = float(self.gain)
        return filled(shape, float_dtype(dtype), lambda out: _schemes.eye(out=out, gain=gain))

    def get_config(self):
        return {"gain": self.gain}


# ---------------------------------------------------------------------------
# Random initializers: Keras' seed semantics
# ---------------------------------------------------------------------------
class RandomInitializer(Initializer):
    """Base of the random initializers: ``seed`` an int, ``None`` or a ``keras.random.SeedGenerator``."""

    def __init__(self, seed=None):
        self._init_seed = seed
        if seed is None:  # Keras' make_default_seed: Python's random, which keras.utils.set_random_seed seeds
            seed = random.randint(1, int(1e9))
        elif isinstance(seed, dict):
            seed = keras.saving.deserialize_keras_object(seed)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer, keras.random.SeedGenerator)):
            raise ValueError(f"seed must be an int, None or a keras.random.SeedGenerator, got seed={seed!r}")
        if not isinstance(seed, keras.random.SeedGenerator) and not 0 <= int(seed) < SEED_LIMIT:
            raise ValueError(f"seed must be in [0, 2**64), got seed={seed}")
        self.seed = seed if isinstance(seed, keras.random.SeedGenerator) else int(seed)

    def stream_seed(self):
        """The fastinit seed of this call (a SeedGenerator advances)."""
        if isinstance(self.seed, keras.random.SeedGenerator):
            words = np.asarray(keras.ops.convert_to_numpy(self.seed.next())).astype(np.int64) & 0xFFFFFFFF
            return derive_seed(0, "fastinit.keras.SeedGenerator", *(format(int(w), "x") for w in words))
        return self.seed

    def get_config(self):
        return {"seed": keras.saving.serialize_keras_object(self._init_seed)}


class _MeanStddev(RandomInitializer):
    """The arguments, defaults and config of RandomNormal and TruncatedNormal."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


@_register
class RandomNormal(_MeanStddev):
    r""":math:`\mathcal{N}(\text{mean}, \text{stddev}^2)`."""

    def __call__(self, shape, dtype=None):
        seed, mean, std = self.stream_seed(), float(self.mean), float(self.stddev)
        return filled(_shape(shape), float_dtype(dtype),
                      lambda out: _schemes.normal(out=out, mean=mean, std=std, seed=seed))


@_register
class TruncatedNormal(_MeanStddev):
    r""":math:`\mathcal{N}(\text{mean}, \text{stddev}^2)` truncated to ``mean +- 2 stddev``
    (no variance correction), exact in the tails: every value lies in the interval."""

    def __call__(self, shape, dtype=None):
        seed, mean, std = self.stream_seed(), float(self.mean), float(self.stddev)
        return filled(_shape(shape), float_dtype(dtype), lambda out: _schemes.truncated_normal(
            out=out, mean=mean, std=std, a=mean - 2 * std, b=mean + 2 * std, seed=seed))


@_register
class RandomUniform(RandomInitializer):
    r""":math:`\mathcal{U}[\text{minval}, \text{maxval})`."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        seed, low, high = self.stream_seed(), float(self.minval), float(self.maxval)
        return filled(_shape(shape), float_dtype(dtype),
                      lambda out: _schemes.uniform(out=out, low=low, high=high, seed=seed))

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")


@_register
class VarianceScaling(RandomInitializer):
    r"""Keras' variance scaling: ``scale /= max(1, n)``, ``n`` the fan of ``mode``, then

    * ``"truncated_normal"`` (also ``"normal"``): stddev :math:`\sqrt{\text{scale}} / 0.87962566103423978`,
      truncated to two of those stddevs;
    * ``"untruncated_normal"``: :math:`\mathcal{N}(0, \text{scale})`;
    * ``"uniform"``: :math:`\mathcal{U}(-\sqrt{3\,\text{scale}}, \sqrt{3\,\text{scale}})`.

    A thin case of :func:`fastinit.variance_scaling` with Keras' fans (``max(1, n)`` applied).
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        if scale <= 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in _MODES:
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {set(_MODES)}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` argument: {distribution}. "
                             f"Please use one of {set(_DISTRIBUTIONS)}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        # Keras divides by max(1, fan). Fans are products of dimensions, so a
        # tensor with elements has fans >= 1 and the max changes nothing; an
        # empty one (a zero fan) gets fans of 1 and no values.
        fan_in, fan_out = max(1, fan_in), max(1, fan_out)
        seed, scale = self.stream_seed(), float(self.scale)
        distribution = "normal" if self.distribution == "untruncated_normal" else self.distribution
        return filled(shape, float_dtype(dtype), lambda out: _schemes.variance_scaling(
            out=out, scale=scale, mode=self.mode, distribution=distribution, fan_in=fan_in, fan_out=fan_out,
            seed=seed))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "input_axes": self.input_axes, "output_axes": self.output_axes}


def _named_scheme(name, scale, mode, distribution, doc):
    """A named Keras scheme: VarianceScaling with fixed scale, mode and distribution."""

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution, seed=seed,
                                 input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": keras.saving.serialize_keras_object(self._init_seed), "input_axes": self.input_axes,
                "output_axes": self.output_axes}

    cls = type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                          "__module__": __name__})
    return _register(cls)


GlorotUniform = _named_scheme("GlorotUniform", 1.0, "fan_avg", "uniform",
                              "``VarianceScaling(1.0, 'fan_avg', 'uniform')`` (Glorot & Bengio, 2010).")
GlorotNormal = _named_scheme("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                             "``VarianceScaling(1.0, 'fan_avg', 'truncated_normal')``.")
HeUniform = _named_scheme("HeUniform", 2.0, "fan_in", "uniform",
                          "``VarianceScaling(2.0, 'fan_in', 'uniform')`` (He et al., 2015).")
HeNormal = _named_scheme("HeNormal", 2.0, "fan_in", "truncated_normal",
                         "``VarianceScaling(2.0, 'fan_in', 'truncated_normal')``.")
LecunUniform = _named_scheme("LecunUniform", 1.0, "fan_in", "uniform", "``VarianceScaling(1.0, 'fan_in', 'uniform')``.")
LecunNormal = _named_scheme("LecunNormal", 1.0, "fan_in", "truncated_normal",
                            "``VarianceScaling(1.0, 'fan_in', 'truncated_normal')`` (LeCun et al., 1998).")


@_register
class Orthogonal(RandomInitializer):
    """An orthogonal matrix times ``gain``: the shape flattened to
    ``(prod(shape[:-1]), shape[-1])``, the Q of the QR of a standard normal
    matrix with the signs of R's diagonal, transposed when it has fewer rows
    than columns (Haar distributed)."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. Received: "
                             f"shape={shape} of rank {len(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        seed, gain = self.stream_seed(), float(self.gain)
        return filled(shape, float_dtype(dtype), lambda out: _schemes.orthogonal(
            out=out.reshape(rows, cols), gain=gain, seed=seed))

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}
