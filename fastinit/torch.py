"""PyTorch backend: ``torch.nn.init`` on fastinit's kernels.

Every function of ``torch.nn.init`` is here with the same name, signature and
semantics (PyTorch's ``(out, in, *kernel)`` layout, absolute truncation bounds,
untruncated ``xavier_normal_``/``kaiming_normal_``), filling CPU tensors of
dtype float32, float64, float16 and bfloat16 in place, without a copy
(non-contiguous tensors included). Each takes one extra keyword, ``seed``:

* ``seed=None`` (default): the seed is drawn from ``generator``, or from
  torch's global generator, so ``torch.manual_seed`` makes runs reproducible;
* ``seed=s``: the values are fastinit's stream of ``s``.

Tensors these kernels cannot fill (CUDA, meta, integer dtypes) go to torch's
own function unchanged.

``fast_init(seed)`` makes the ``torch.nn.init`` calls that modules make in
their constructors go through fastinit::

    with fastinit.torch.fast_init(seed=0):
        model = build_model()      # same code, same distributions, faster

Example::

    >>> w = torch.empty(768, 3072)
    >>> fastinit.torch.kaiming_uniform_(w, a=math.sqrt(5), seed=0)
"""

import contextlib
import functools
import itertools
import sys
import threading
import warnings

import torch
import torch.nn.init as _torch_init

from . import _formats
from . import schemes as _schemes
from .bits import _check_seed, derive_seed
from .distributions import fill_constant, fill_normal, fill_truncated_normal, fill_uniform
from .schemes import calculate_gain

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
    "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal", "kaiming_uniform",
    "kaiming_normal", "orthogonal", "sparse", "fast_init", "reset_parameters",
]

_INIT_NAMES = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
               "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")
#: torch's own functions, captured at import: the fallback for tensors fastinit can't fill.
_TORCH = {name: getattr(_torch_init, name) for name in _INIT_NAMES}
_VIEWABLE = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _numpy_view(tensor):
    """A numpy array sharing tensor's memory, or None where fastinit can't fill it."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.device.type != "cpu" or tensor.dtype not in _VIEWABLE or tensor.layout != torch.strided:
        return None
    data = tensor.detach()
    if data.is_conj() or data.is_neg():
        return None
    if data.dtype == torch.bfloat16:
        return data.view(torch.int16).numpy().view(_formats.bfloat16_dtype())
    return data.numpy()


def _seed(seed, generator):
    """The given seed, or 64 bits drawn from generator (or torch's global generator)."""
    if seed is not None:
        return _check_seed(seed)
    words = torch.randint(0, 2**32, (2,), dtype=torch.int64, generator=generator)
    return int(words[0]) | int(words[1]) << 32


def _empty(tensor):
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def _filled(name, tensor, fill, *fallback_args):
    """Run fill(view) on tensor's memory, or torch's function where that is impossible."""
    view = _numpy_view(tensor)
    if view is None:
        return _TORCH[name](tensor, *fallback_args)
    fill(view)
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None, *, seed=None):
    r"""Fill ``tensor`` with :math:`\mathcal{U}(a, b)` (values in ``[a, b)``)."""
    return _filled("uniform_", tensor, lambda v: fill_uniform(v, a, b, seed=_seed(seed, generator)), a, b, generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None, *, seed=None):
    r"""Fill ``tensor`` with :math:`\mathcal{N}(\text{mean}, \text{std}^2)`."""
    return _filled("normal_", tensor, lambda v: fill_normal(v, mean, std, seed=_seed(seed, generator)),
                   mean, std, generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None, *, seed=None):
    r"""Fill ``tensor`` with :math:`\mathcal{N}(\text{mean}, \text{std}^2)` truncated to the absolute
    bounds :math:`[a, b]` (exact in the tails, every value in ``[a, b]``)."""
    return _filled("trunc_normal_", tensor,
                   lambda v: fill_truncated_normal(v, mean, std, a, b, seed=_seed(seed, generator)),
                   mean, std, a, b, generator)


def constant_(tensor, val):
    """Fill ``tensor`` with ``val``."""
    return _filled("constant_", tensor, lambda v: fill_constant(v, val), val)


def ones_(tensor):
    """Fill ``tensor`` with ones."""
    return _filled("ones_", tensor, lambda v: fill_constant(v, 1.0))


def zeros_(tensor):
    """Fill ``tensor`` with zeros."""
    return _filled("zeros_", tensor, lambda v: fill_constant(v, 0.0))


def eye_(tensor):
    """Fill the 2-d ``tensor`` with the identity matrix."""
    return _filled("eye_", tensor, lambda v: _schemes.eye(out=v))


def dirac_(tensor, groups=1):
    """Fill the 3-, 4- or 5-d ``tensor`` with the Dirac delta (torch's centre tap ``k // 2``)."""
    return _filled("dirac_", tensor, lambda v: _schemes.dirac(out=v, groups=groups), groups)


def xavier_uniform_(tensor, gain=1.0, generator=None, *, seed=None):
    r""":math:`\mathcal{U}(-a, a)`, :math:`a = \text{gain} \sqrt{6 / (\text{fan\_in} + \text{fan\_out})}`."""
    if _empty(tensor):
        return tensor
    return _filled("xavier_uniform_", tensor,
                   lambda v: _schemes.xavier_uniform(out=v, gain=gain, seed=_seed(seed, generator)), gain, generator)


def xavier_normal_(tensor, gain=1.0, generator=None, *, seed=None):
    r""":math:`\mathcal{N}(0, \sigma^2)`, :math:`\sigma = \text{gain} \sqrt{2 / (\text{fan\_in} + \text{fan\_out})}` (untruncated)."""
    if _empty(tensor):
        return tensor
    return _filled("xavier_normal_", tensor,
                   lambda v: _schemes.xavier_normal(out=v, gain=gain, seed=_seed(seed, generator)), gain, generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *, seed=None):
    r""":math:`\mathcal{U}(-b, b)`, :math:`b = \text{gain} \sqrt{3 / \text{fan\_mode}}` (He et al., 2015)."""
    if _empty(tensor):
        return tensor
    return _filled("kaiming_uniform_", tensor,
                   lambda v: _schemes.kaiming_uniform(out=v, a=a, mode=mode, nonlinearity=nonlinearity,
                                             seed=_seed(seed, generator)),
                   a, mode, nonlinearity, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *, seed=None):
    r""":math:`\mathcal{N}(0, \sigma^2)`, :math:`\sigma = \text{gain} / \sqrt{\text{fan\_mode}}` (untruncated)."""
    if _empty(tensor):
        return tensor
    return _filled("kaiming_normal_", tensor,
                   lambda v: _schemes.kaiming_normal(out=v, a=a, mode=mode, nonlinearity=nonlinearity,
                                            seed=_seed(seed, generator)),
                   a, mode, nonlinearity, generator)


def orthogonal_(tensor, gain=1, generator=None, *, seed=None):
    r"""A (semi-)orthogonal matrix times ``gain``: the QR of a standard normal ``(rows, cols)`` matrix
    (``rows = tensor.shape[0]``), signs fixed so that ``R`` has a positive diagonal.

    The normal matrix comes from fastinit's stream; the QR is torch's (``torch.linalg.qr`` in the
    tensor's dtype, float32 for 16-bit tensors), as ``torch.nn.init.orthogonal_`` does it."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    if _numpy_view(tensor) is None:
        return _TORCH["orthogonal_"](tensor, gain, generator)
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    work = tensor.dtype if tensor.dtype in (torch.float32, torch.float64) else torch.float32
    matrix = torch.empty((rows, cols) if rows >= cols else (cols, rows), dtype=work)
    fill_normal(matrix.numpy(), seed=_seed(seed, generator))
    q, r = torch.linalg.qr(matrix)
    q *= torch.where(torch.diagonal(r) < 0, -float(gain), float(gain))
    if rows < cols:
        q = q.T
    with torch.no_grad():
        tensor.copy_(q.reshape(tensor.shape))
    return tensor


def sparse_(tensor, sparsity, std=0.01, generator=None, *, seed=None):
    r"""A 2-d matrix of :math:`\mathcal{N}(0, \text{std}^2)` values with exactly ``ceil(sparsity * rows)``
    zeros in each column, at uniformly random rows (Martens, 2010)."""
    return _filled("sparse_", tensor,
                   lambda v: _schemes.sparse(out=v, sparsity=sparsity, std=std, seed=_seed(seed, generator)),
                   sparsity, std, generator)


def _deprecated(new):
    old = new.__name__[:-1]

    @functools.wraps(new)
    def call(*args, **kwargs):
        warnings.warn(f"nn.init.{old} is now deprecated in favor of nn.init.{new.__name__}.",
                      FutureWarning, stacklevel=2)
        return new(*args, **kwargs)

    call.__name__ = call.__qualname__ = old
    return call


# torch.nn.init's deprecated spellings, with its warning.
uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)

_RANDOM = {"uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
           "kaiming_normal_", "orthogonal_", "sparse_"}
_patch_lock = threading.Lock()


@contextlib.contextmanager
def _routed(next_seed):
    """Route torch.nn.init (and the torch modules that imported its functions
    by name) to this module while the block runs; random calls without a
    ``seed=`` take ``next_seed()``."""
    this = sys.modules[__name__]

    def routed(name):
        ours = getattr(this, name)
        if name not in _RANDOM:
            return ours

        @functools.wraps(ours)
        def call(*args, **kwargs):
            if "seed" not in kwargs:
                kwargs["seed"] = next_seed()
            return ours(*args, **kwargs)

        return call

    replacements = {id(_TORCH[name]): routed(name) for name in _INIT_NAMES}
    with _patch_lock:
        patched = []
        for module in list(sys.modules.values()):
            if module is None or not getattr(module, "__name__", "").startswith("torch"):
                continue
            for name in _INIT_NAMES:
                current = module.__dict__.get(name)
                if current is not None and id(current) in replacements:
                    patched.append((module, name, current))
                    setattr(module, name, replacements[id(current)])
    try:
        yield
    finally:
        with _patch_lock:
            for module, name, original in reversed(patched):
                setattr(module, name, original)


def fast_init(seed=0):
    """Route ``torch.nn.init`` through fastinit while the block runs.

    Every ``torch.nn.init`` function (as the attribute of ``torch.nn.init`` and
    wherever a ``torch`` module imported it by name, as
    ``torch.nn.MultiheadAttention`` does) is replaced by the function of this
    module. The n-th random initialization in the block uses the stream of
    ``derive_seed(seed, "fastinit.torch.fast_init", str(n))``, so the same code
    under the same seed builds the same model on any machine and thread count.
    A call that passes ``seed=`` keeps it.

    Example::

        >>> with fastinit.torch.fast_init(seed=0):
        ...     model = torch.nn.Sequential(torch.nn.Linear(768, 3072), torch.nn.GELU(),
        ...                                 torch.nn.Linear(3072, 768))
    """
    seed = _check_seed(seed)
    counter = itertools.count()
    return _routed(lambda: derive_seed(seed, "fastinit.torch.fast_init", str(next(counter))))


def reset_parameters(module, seed=0):
    """Re-initialize a built model through fastinit, one stream per parameter name.

    Calls ``reset_parameters()`` of every submodule that has one (the
    initialization torch's own modules run in their constructors), with the
    k-th random call of the submodule named ``name`` (as in
    ``module.named_modules()``) using ``derive_seed(seed,
    "fastinit.torch.reset_parameters", name, str(k))``. The values of a
    parameter depend on the seed and on its submodule's name, not on the order
    in which the model was built.

    Example::

        >>> model = build_model()                              # any init
        >>> fastinit.torch.reset_parameters(model, seed=0)     # named streams
    """
    seed = _check_seed(seed)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    for name, sub in module.named_modules():
        reset = getattr(sub, "reset_parameters", None)
        if not callable(reset):
            continue
        counter = itertools.count()  # the k-th random call within this submodule

        def next_seed(name=name, counter=counter):
            return derive_seed(seed, "fastinit.torch.reset_parameters", name, str(next(counter)))

        with _routed(next_seed):
            reset()
    return module
