"""Keras 3 backend: ``keras.initializers`` on fastinit's kernels, on every Keras backend.

* :mod:`fastinit.keras.initializers`: every class of ``keras.initializers``
  with the same name, arguments, defaults and semantics (``Zeros``, ``Ones``,
  ``Constant``, ``Identity``, ``RandomNormal``, ``RandomUniform``,
  ``TruncatedNormal``, ``VarianceScaling``, ``Glorot*``, ``He*``, ``Lecun*``,
  ``Orthogonal``), serializable as ``"fastinit>Name"``;
* :func:`scope`: Keras' string names (``"glorot_uniform"``, ``"zeros"``, ...)
  resolve to these classes while a model is built.

Values are filled on the host and handed to the backend without a copy where
it allows (JAX on the CPU, torch on the CPU, NumPy); see ``_backend.py``.

Example::

    >>> import keras, fastinit.keras
    >>> init = fastinit.keras.HeNormal(seed=0)
    >>> kernel = init((3, 3, 64, 128))
    >>> with fastinit.keras.scope():
    ...     model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(4096), keras.layers.Dense(10)])
"""

from .initializers import *  # noqa: F401,F403
from .initializers import __all__ as _initializers_all
from .scope import KERAS_NAMES, scope

__all__ = [*_initializers_all, "scope", "KERAS_NAMES"]
