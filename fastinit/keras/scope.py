"""``scope()``: Keras' string initializer names resolve to fastinit's classes.

Keras layers resolve their initializer arguments (``"glorot_uniform"``,
``"zeros"``, ...) with ``keras.initializers.get`` when they are constructed;
inside ``scope()`` those names find fastinit's classes first (through
``keras.saving.custom_object_scope``, on the calling thread), so an unchanged
model builds through fastinit. Initializer objects given explicitly are left
as they are, and so are names fastinit has no class for (``"stft"``).
"""

import contextlib

import keras

from . import initializers as _initializers

__all__ = ["scope", "KERAS_NAMES"]


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


_CLASSES = ("Zeros", "Ones", "Constant", "Identity", "RandomNormal", "RandomUniform", "TruncatedNormal",
            "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
            "LecunNormal", "Orthogonal")

#: Every name ``keras.initializers.get`` accepts for these classes -> fastinit's class.
KERAS_NAMES = {}
for _name in _CLASSES:
    KERAS_NAMES[_name] = KERAS_NAMES[_snake(_name)] = getattr(_initializers, _name)
KERAS_NAMES.update({"normal": _initializers.RandomNormal, "uniform": _initializers.RandomUniform,
                    "one": _initializers.Ones, "zero": _initializers.Zeros,
                    "IdentityInitializer": _initializers.Identity, "OrthogonalInitializer": _initializers.Orthogonal})


@contextlib.contextmanager
def scope():
    """Build Keras models with fastinit's initializers wherever they name one by string.

    Example::

        >>> with fastinit.keras.scope():
        ...     model = keras.Sequential([keras.layers.Dense(4096), keras.layers.Dense(10)])
        >>> model.build((None, 784))      # kernels: fastinit.keras.GlorotUniform, biases: Zeros
    """
    with keras.saving.custom_object_scope(KERAS_NAMES):
        yield
