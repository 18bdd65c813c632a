"""PyTorch backend: ``torch.nn.init`` on fastinit's kernels, interception, model initialization.

* ``fastinit.torch.init``: every function of ``torch.nn.init`` with the same
  name, signature and semantics, filling CPU float32/float64/float16/bfloat16
  tensors in place (``fastinit.torch.normal_(w, std=0.02, seed=0)``).
* ``fastinit.torch.intercept``: ``fast_init(seed)``, which routes the random
  initialization that model code makes, however it reaches torch, to fastinit
  on the calling thread.
* ``fastinit.torch.model``: ``initialize(model, seed)``, which runs a model's
  own initialization with one stream per parameter name and materializes
  meta-device models; ``empty_init()``; ``reset_parameters(model, seed)``.

Example::

    >>> import fastinit.torch as ft
    >>> with ft.fast_init(seed=0):
    ...     model = build_model()                 # unchanged model code
    >>> with torch.device("meta"):
    ...     big = build_model()
    >>> ft.initialize(big, seed=0)                # allocated and initialized, bits keyed by name
"""

from .init import *  # noqa: F401,F403 (torch.nn.init's names)
from .init import __all__ as _init_all
from .intercept import fast_init
from .model import empty_init, initialize, reset_parameters

__all__ = [*_init_all, "fast_init", "initialize", "empty_init", "reset_parameters"]
