"""``torch.nn.init`` on fastinit's kernels: the drop-in functions.

Every function of ``torch.nn.init`` is here with the same name, signature and
semantics (PyTorch's ``(out, in, *kernel)`` layout, absolute truncation bounds,
untruncated ``xavier_normal_``/``kaiming_normal_``), filling CPU and CUDA
tensors of dtype float32, float64, float16 and bfloat16 in place
(non-contiguous tensors included): CPU tensors without a copy, CUDA tensors on
their GPU with the CPU's bits (``fastinit[cuda]``; without numba-cuda, filled
on the host and copied). Each takes one extra keyword, ``seed``:

* ``seed=None`` (default): the seed is drawn from ``generator``, or from
  torch's global generator, so ``torch.manual_seed`` makes runs reproducible;
* ``seed=s``: the values are fastinit's stream of ``s``.

Tensors these kernels cannot fill (meta, other devices, integer dtypes) go to
torch's own function unchanged.

Inside ``fastinit.torch.fast_init`` or ``fastinit.torch.initialize``, a call
without ``seed=`` and ``generator=`` takes its stream from the active context,
exactly as the same ``torch.nn.init`` call would.

Example::

    >>> w = torch.empty(768, 3072)
    >>> fastinit.torch.kaiming_uniform_(w, a=math.sqrt(5), seed=0)
"""

import functools
import warnings

import torch
import torch.nn.init as _torch_init

from .. import schemes as _schemes
from ..bits import _check_seed
from ..distributions import _normal, _truncated_normal, _uniform, fill_constant
from ..schemes import calculate_gain
from . import _state
from ._dtensor import global_boxes, is_dtensor, local_of
from ._tensors import advise_huge_pages, fill_target, fillable, numpy_view, on_gpu, on_memory, seed_from_generator

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
    "uniform", "normal", "constant", "eye", "dirac", "xavier_uniform", "xavier_normal", "kaiming_uniform",
    "kaiming_normal", "orthogonal", "sparse",
]

_INIT_NAMES = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
               "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_")
#: torch's own functions, captured at import: the fallback for tensors fastinit can't fill.
_TORCH = {name: getattr(_torch_init, name) for name in _INIT_NAMES}
def _seed(seed, generator):
    """The given seed, or 64 bits drawn from generator (or torch's global generator)."""
    return _check_seed(seed) if seed is not None else seed_from_generator(generator)


def _delegated(seed, generator):
    """True where a random call goes to torch's own function for the active
    context to intercept: no ``seed``, no ``generator``, a context active."""
    return seed is None and generator is None and _state.active() is not None


def _empty(tensor):
    if tensor.numel() == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def _filled(name, tensor, fill, *fallback_args, seed=None, generator=None, random=True, by_address=False):
    """Run ``fill(view, seed)`` on tensor's memory, or torch's function where that is impossible.

    ``by_address``: ``fill`` is a distribution's (a ``fill_*`` function of
    fastinit.distributions), which also takes a small tensor's memory by
    address (``_tensors.fill_target``) instead of its NumPy view.

    A random call with neither ``seed`` nor ``generator`` inside an active
    ``fast_init``/``initialize`` goes to torch's own function, which the
    context intercepts: the stream is then the context's. A DTensor gets
    ``fill(box, seed, shape=global shape, region=box bounds)`` for each box of
    its local shard, so its gathered values are those of the unsharded call."""
    if random and _delegated(seed, generator):
        return _TORCH[name](tensor, *fallback_args)
    if fillable(tensor):
        stream = _seed(seed, generator) if random else None
        if tensor.is_cuda:
            return on_gpu(tensor, lambda view: fill(view, stream))
        advise_huge_pages(tensor)  # on_memory's CPU branch, inline: a bias's call is all overhead
        fill(fill_target(tensor) if by_address else numpy_view(tensor), stream)
        return tensor
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if random and is_dtensor(tensor) and fillable(local_of(tensor)):
        boxes = global_boxes(tensor)  # placements without element positions raise before any write
        local = local_of(tensor)
        stream = _seed(seed, generator)

        def boxes_of(view):
            for index, bounds in boxes:
                fill(view[index], stream, shape=tuple(tensor.shape), region=bounds)
        on_memory(local, boxes_of)
        return tensor
    return _TORCH[name](tensor, *fallback_args)


def _whole(name, tensor):
    """Random schemes without regions (the QR of orthogonal_, sparse_'s per-column draws) need the whole tensor."""
    if is_dtensor(tensor):
        raise TypeError(f"{name} needs the whole tensor, got a DTensor: initialize the unsharded parameter, "
                        f"or use the tensor-parallel-safe schemes (uniform_, normal_, trunc_normal_, xavier_*, "
                        f"kaiming_*)")


def uniform_(tensor, a=0.0, b=1.0, generator=None, *, seed=None):
    r"""Fill ``tensor`` with :math:`\mathcal{U}(a, b)` (values in ``[a, b)``)."""
    def fill(v, s, shape=None, region=None):
        if region is None:  # the whole tensor: straight to the kernel (a bias is all call overhead)
            return _uniform(v, a, b, s, 0, checked=True)
        return _schemes.uniform(shape, out=v, low=a, high=b, seed=s, region=region)

    return _filled("uniform_", tensor, fill, a, b, generator, seed=seed, generator=generator, by_address=True)


def normal_(tensor, mean=0.0, std=1.0, generator=None, *, seed=None):
    r"""Fill ``tensor`` with :math:`\mathcal{N}(\text{mean}, \text{std}^2)`."""
    def fill(v, s, shape=None, region=None):
        if region is None:
            return _normal(v, mean, std, s, 0, checked=True)
        return _schemes.normal(shape, out=v, mean=mean, std=std, seed=s, region=region)

    return _filled("normal_", tensor, fill, mean, std, generator, seed=seed, generator=generator, by_address=True)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None, *, seed=None):
    r"""Fill ``tensor`` with :math:`\mathcal{N}(\text{mean}, \text{std}^2)` truncated to the absolute
    bounds :math:`[a, b]` (exact in the tails, every value in ``[a, b]``)."""
    def fill(v, s, shape=None, region=None):
        if region is None:
            return _truncated_normal(v, mean, std, a, b, s, 0, checked=True)
        return _schemes.truncated_normal(shape, out=v, mean=mean, std=std, a=a, b=b, seed=s, region=region)

    return _filled("trunc_normal_", tensor, fill, mean, std, a, b, generator, seed=seed, generator=generator,
                   by_address=True)


def constant_(tensor, val):
    """Fill ``tensor`` with ``val``."""
    return _filled("constant_", tensor, lambda v, _: fill_constant(v, val), val, random=False)


def ones_(tensor):
    """Fill ``tensor`` with ones."""
    return _filled("ones_", tensor, lambda v, _: fill_constant(v, 1.0), random=False)


def zeros_(tensor):
    """Fill ``tensor`` with zeros."""
    return _filled("zeros_", tensor, lambda v, _: fill_constant(v, 0.0), random=False)


def eye_(tensor):
    """Fill the 2-d ``tensor`` with the identity matrix."""
    return _filled("eye_", tensor, lambda v, _: _schemes.eye(out=v), random=False)


def dirac_(tensor, groups=1):
    """Fill the 3-, 4- or 5-d ``tensor`` with the Dirac delta (torch's centre tap ``k // 2``)."""
    return _filled("dirac_", tensor, lambda v, _: _schemes.dirac(out=v, groups=groups), groups, random=False)


def _fan_scheme(scheme, **options):
    """``fill(view, seed, shape=None, region=None)`` for a fan-based scheme: fans from the whole tensor's shape."""
    return lambda v, s, **where: scheme(where.get("shape"), out=v, seed=s, region=where.get("region"), **options)


def xavier_uniform_(tensor, gain=1.0, generator=None, *, seed=None):
    r""":math:`\mathcal{U}(-a, a)`, :math:`a = \text{gain} \sqrt{6 / (\text{fan\_in} + \text{fan\_out})}`."""
    if _empty(tensor):
        return tensor
    return _filled("xavier_uniform_", tensor, _fan_scheme(_schemes.xavier_uniform, gain=gain), gain, generator,
                   seed=seed, generator=generator)


def xavier_normal_(tensor, gain=1.0, generator=None, *, seed=None):
    r""":math:`\mathcal{N}(0, \sigma^2)`, :math:`\sigma = \text{gain} \sqrt{2 / (\text{fan\_in} + \text{fan\_out})}` (untruncated)."""
    if _empty(tensor):
        return tensor
    return _filled("xavier_normal_", tensor, _fan_scheme(_schemes.xavier_normal, gain=gain), gain, generator,
                   seed=seed, generator=generator)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *, seed=None):
    r""":math:`\mathcal{U}(-b, b)`, :math:`b = \text{gain} \sqrt{3 / \text{fan\_mode}}` (He et al., 2015)."""
    if _empty(tensor):
        return tensor
    return _filled("kaiming_uniform_", tensor,
                   _fan_scheme(_schemes.kaiming_uniform, a=a, mode=mode, nonlinearity=nonlinearity),
                   a, mode, nonlinearity, generator, seed=seed, generator=generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None, *, seed=None):
    r""":math:`\mathcal{N}(0, \sigma^2)`, :math:`\sigma = \text{gain} / \sqrt{\text{fan\_mode}}` (untruncated)."""
    if _empty(tensor):
        return tensor
    return _filled("kaiming_normal_", tensor,
                   _fan_scheme(_schemes.kaiming_normal, a=a, mode=mode, nonlinearity=nonlinearity),
                   a, mode, nonlinearity, generator, seed=seed, generator=generator)


def orthogonal_(tensor, gain=1, generator=None, *, seed=None):
    r"""A (semi-)orthogonal matrix times ``gain``: the Q of the QR of a standard normal ``(rows, cols)``
    matrix (``rows = tensor.shape[0]``), signs fixed so that ``R`` has a positive diagonal.

    The values are those of ``fastinit.orthogonal(tensor.shape, gain=gain, seed=seed)``: the float64
    normal stream and fastinit's own Householder QR (the same bits on every machine; torch's
    ``torch.linalg.qr`` is LAPACK's, whose last bits depend on the build and the CPU), rounded to the
    tensor's dtype."""
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    if not _delegated(seed, generator):
        _whole("orthogonal_", tensor)
    return _filled("orthogonal_", tensor, lambda v, s: _schemes.orthogonal(out=v, gain=float(gain), seed=s),
                   gain, generator, seed=seed, generator=generator)


def sparse_(tensor, sparsity, std=0.01, generator=None, *, seed=None):
    r"""A 2-d matrix of :math:`\mathcal{N}(0, \text{std}^2)` values with exactly ``ceil(sparsity * rows)``
    zeros in each column, at uniformly random rows (Martens, 2010)."""
    if not _delegated(seed, generator):
        _whole("sparse_", tensor)
    return _filled("sparse_", tensor,
                   lambda v, s: _schemes.sparse(out=v, sparsity=sparsity, std=std, seed=s),
                   sparsity, std, generator, seed=seed, generator=generator)


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

