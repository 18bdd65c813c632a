"""fastinit: neural-network weight initialization at memory speed.

Counter-based (Philox4x32-10) fill kernels compiled with Numba: element ``i``
of a tensor depends only on ``(seed, distribution, parameters, i)``, so any
thread count, chunking or machine gives the same bits.

Example::

    >>> import numpy as np, fastinit
    >>> w = np.empty((4096, 4096), np.float32)
    >>> fastinit.fill_normal(w, std=0.02, seed=fastinit.derive_seed(0, "layer0.weight"))
"""

from .bits import SEED_LIMIT, STREAM_FORMAT_VERSION, derive_seed, key_from_seed, philox4x32
from .distributions import fill_constant, fill_normal, fill_truncated_normal, fill_uniform
from .io import save
from .schemes import (
    TRUNCATED_NORMAL_STD, Axes, calculate_gain, compute_fans, constant, dirac, eye, fan_in_uniform,
    glorot_normal, glorot_uniform, he_normal, he_uniform, identity, kaiming_normal, kaiming_uniform,
    lecun_normal, lecun_uniform, normal, ones, orthogonal, sparse, truncated_normal, uniform,
    variance_scaling, xavier_normal, xavier_uniform, zeros,
)

__version__ = "0.1.0"

__all__ = [
    "STREAM_FORMAT_VERSION",
    "SEED_LIMIT",
    "philox4x32",
    "key_from_seed",
    "derive_seed",
    "fill_uniform",
    "fill_normal",
    "fill_truncated_normal",
    "fill_constant",
    "TRUNCATED_NORMAL_STD",
    "Axes",
    "compute_fans",
    "calculate_gain",
    "variance_scaling",
    "zeros",
    "ones",
    "constant",
    "uniform",
    "normal",
    "truncated_normal",
    "xavier_uniform",
    "xavier_normal",
    "glorot_uniform",
    "glorot_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "fan_in_uniform",
    "orthogonal",
    "eye",
    "identity",
    "dirac",
    "sparse",
    "save",
]
