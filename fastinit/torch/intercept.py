"""Interception: torch's random initialization, routed to fastinit on the calling thread.

While a context is active (``fast_init``, ``initialize``), a
``torch.overrides.TorchFunctionMode`` of the thread that entered it sees:

* ``torch.nn.init.uniform_``, ``normal_``, ``kaiming_uniform_`` (they dispatch
  through ``handle_torch_function``), wherever a reference to them is held:
  transformers' table of torch's functions, ``functools.partial`` objects made
  at import, names imported into other modules;
* the Tensor methods ``uniform_`` and ``normal_`` (``xavier_*``, ``kaiming_normal_``,
  ``orthogonal_``, ``sparse_``, transformers 4's ``weight.data.normal_(...)`` and
  vision libraries' ``uniform_`` + ``erfinv_`` truncated normals reach these), the
  factories ``torch.rand``, ``torch.randn`` (also with ``out=``), ``torch.rand_like``,
  ``torch.randn_like`` and ``torch.normal(mean, std, size)`` with number arguments;
* ``torch.nn.init.trunc_normal_``, through its helper ``_no_grad_trunc_normal_``,
  which torch looks up at call time: it is replaced while any context is active
  and hands over to torch's own helper on every thread without a context;
* ``torch.linalg.qr`` of a CPU or CUDA float32/float64 matrix (``orthogonal_``'s
  QR): fastinit's Householder QR (``fastinit._qr``, on the host), whose bits
  are the same on every machine, in place of LAPACK's or cuSOLVER's.

Each such fill of a plain CPU or CUDA float32/float64/float16/bfloat16 tensor is
done by fastinit's kernels at the call (a CUDA tensor's on its GPU, queued on
torch's current stream: ``_tensors.on_gpu``), with a stream chosen by the context; a DTensor
whose local shard is such a tensor gets the stream elements at the shard's
global positions (``_dtensor.py``). Nothing is deferred: when the call returns,
a CPU tensor's memory holds its values (a CUDA tensor's, once torch's stream
reaches the fill), for every reader (NumPy views, other
threads, TorchScript, C++ extensions). Everything else goes to torch
unchanged: meta tensors and other devices, integer and complex dtypes, sparse and
quantized tensors, other tensor subclasses, in-place fills that autograd must
record, and the random functions fastinit has no kernel for (``bernoulli_``,
``exponential_``, ``random_``, ``torch.randperm``, ...).
"""

import functools
import itertools
import math
import threading
import warnings
import weakref

import torch
import torch.nn.init as _torch_init
from torch.overrides import TorchFunctionMode

from .. import _qr
from .._regions import fill_region
from ..bits import _check_seed, derive_seed
from ..distributions import _normal, _truncated_normal, _uniform
from ..schemes import calculate_gain
from . import _state
from ._dtensor import global_boxes, is_dtensor, local_of
from ._tensors import (advise_huge_pages, fill_target, fillable, flat_offset, inside, on_gpu, on_memory, same_geometry,
                       seed_from_generator, storage_key, values_at)

__all__ = ["fast_init"]

# (seeds are drawn, derived or checked where a fill is planned; offsets lie inside a tensor)
_FILLS = {
    "uniform": lambda view, p, seed, offset: _uniform(view, p[0], p[1], seed, offset, checked=True),
    "normal": lambda view, p, seed, offset: _normal(view, p[0], p[1], seed, offset, checked=True),
    "truncated_normal": lambda view, p, seed, offset: _truncated_normal(view, *p, seed, offset, checked=True),
}


def write(distribution, params, tensor, seed, offset=0):
    """Elements ``offset ..`` of the stream of (seed, distribution, params) into
    the fillable ``tensor``, in its own C order. A DTensor (offset 0) gets, in
    its local shard, the elements at the shard's positions in the global tensor."""
    fill = _FILLS[distribution]
    if is_dtensor(tensor):
        boxes = global_boxes(tensor)  # raises for placements without element positions
        local = local_of(tensor)

        def boxes_of(view):
            for index, bounds in boxes:
                fill_region(lambda part, offset: fill(part, params, seed, offset), view[index], tuple(tensor.shape),
                            bounds)
        on_memory(local, boxes_of)
        return tensor
    if tensor.is_cuda:
        return on_gpu(tensor, lambda view: fill(view, params, seed, offset))
    advise_huge_pages(tensor)  # on_memory's CPU branch, inline: a bias's call is all overhead
    fill(fill_target(tensor), params, seed, offset)
    return tensor


class Streams:
    """Where the stream of a fill comes from. A subclass defines ``plan``."""

    def plan(self, distribution, params, tensor):
        """The job (a callable, run at once) that fills ``tensor`` (fillable,
        non-empty) with its stream, after the bookkeeping of the call
        (counters, names written)."""
        raise NotImplementedError

    def written(self, tensor, func):
        """Called after torch itself wrote into ``tensor`` in place (bookkeeping hook)."""

    def created(self, result, source):
        """Called when ``result`` was made from ``source`` by ``new_empty``/``empty_like``."""


class CountedStreams(Streams):
    """The n-th fill of the context draws the stream of
    ``derive_seed(seed, *prefix, str(n))``, in the filled tensor's own order."""

    def __init__(self, seed, *prefix):
        self.seed = _check_seed(seed)
        self.prefix = prefix
        self.counter = itertools.count()

    def plan(self, distribution, params, tensor):
        seed = derive_seed(self.seed, *self.prefix, str(next(self.counter)))
        return functools.partial(write, distribution, params, tensor, seed)


class _Context(TorchFunctionMode):
    """The TorchFunctionMode of one active context."""

    def __init__(self, streams):
        super().__init__()
        self.streams = streams

    def __enter__(self):
        _hooks.install()
        try:
            result = super().__enter__()
        except BaseException:
            _hooks.release()
            raise
        _state.stack().append(self)
        return result

    def __exit__(self, *exc):
        try:
            super().__exit__(*exc)
        finally:
            stack = _state.stack()
            if self in stack:
                stack.remove(self)
            _hooks.release()

    def fill(self, distribution, params, tensor, generator, fallback, autograd=False):
        """Fill ``tensor`` from fastinit, or return ``fallback()`` where fastinit can't.

        ``autograd``: the call is an in-place Tensor method, which autograd
        would record: a tensor that requires grad while grad mode is on goes
        to torch (which records it, or raises for a leaf)."""
        if not fillable(local_of(tensor)) or (autograd and tensor.requires_grad and torch.is_grad_enabled()):
            return fallback()
        if tensor.numel():
            if generator is not None:
                seed = seed_from_generator(generator)
                self.streams.written(tensor, None)
                write(distribution, params, tensor, seed)
            else:
                self.streams.plan(distribution, params, tensor)()
        return tensor

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        handler = _HANDLERS.get(func)
        if handler is None:
            handler = _init_handler(func)
        if handler is not None:
            return handler(self, func, args, kwargs)
        result = func(*args, **kwargs)
        # torch.nn.init's functions hand their tensor over as a keyword
        target = args[0] if args else kwargs.get("tensor")
        if isinstance(target, torch.Tensor) and _writes_in_place(func):
            self.streams.written(target, func)  # an in-place write by torch (fill_, zero_, copy_, constant_, ...)
        return result


#: In-place methods that change metadata or flags, not values.
_NOT_WRITES = frozenset({"requires_grad_", "share_memory_", "detach_", "t_", "transpose_", "swapdims_",
                         "swapaxes_", "squeeze_", "unsqueeze_", "as_strided_", "resize_", "resize_as_", "set_",
                         "rename_", "names_", "retain_grad_"})


def _writes_in_place(func):
    if func is torch.Tensor.__setitem__:
        return True
    name = getattr(func, "__name__", "")
    return name.endswith("_") and not name.startswith("_") and name not in _NOT_WRITES


# ---------------------------------------------------------------------------
# Handlers: each takes (context, func, args, kwargs)
# ---------------------------------------------------------------------------
def _tensor_normal(ctx, func, args, kwargs):
    def parse(self, mean=0.0, std=1.0, *, generator=None):
        return self, float(mean), float(std), generator

    tensor, mean, std, generator = parse(*args, **kwargs)
    return ctx.fill("normal", (mean, std), tensor, generator, lambda: func(*args, **kwargs), autograd=True)


def _tensor_uniform(ctx, func, args, kwargs):
    tensor, rest = args[0], args[1:]
    low = float(rest[0] if len(rest) > 0 else kwargs.get("from", 0.0))
    high = float(rest[1] if len(rest) > 1 else kwargs.get("to", 1.0))
    return ctx.fill("uniform", (low, high), tensor, kwargs.get("generator"), lambda: func(*args, **kwargs),
                    autograd=True)


def _init_normal(ctx, func, args, kwargs):
    def parse(tensor, mean=0.0, std=1.0, generator=None):
        return tensor, float(mean), float(std), generator

    tensor, mean, std, generator = parse(*args, **kwargs)
    return ctx.fill("normal", (mean, std), tensor, generator, lambda: func(*args, **kwargs))


def _init_uniform(ctx, func, args, kwargs):
    def parse(tensor, a=0.0, b=1.0, generator=None):
        return tensor, float(a), float(b), generator

    tensor, a, b, generator = parse(*args, **kwargs)
    return ctx.fill("uniform", (a, b), tensor, generator, lambda: func(*args, **kwargs))


def _init_kaiming_uniform(ctx, func, args, kwargs):
    def parse(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
        return tensor, a, mode, nonlinearity, generator

    tensor, a, mode, nonlinearity, generator = parse(*args, **kwargs)
    if not fillable(local_of(tensor)):
        return func(*args, **kwargs)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=4)
        return tensor
    # torch.nn.init.kaiming_uniform_'s own arithmetic, so the bound is the same float
    fan = _torch_init._calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * (gain / math.sqrt(fan))
    return ctx.fill("uniform", (-bound, bound), tensor, generator, lambda: func(*args, **kwargs))


def _size(args):
    """The size of ``torch.rand(2, 3)``, ``torch.rand((2, 3))`` or ``torch.rand(torch.Size([2, 3]))``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        args = args[0]
    return tuple(int(n) for n in args)


def _fill_out(ctx, distribution, params, out, size, generator, call):
    """A factory's ``out=`` tensor resized to ``size`` (as torch does) and
    filled, or ``call()`` where fastinit can't fill it."""
    if not isinstance(out, torch.Tensor) or not fillable(out) or (out.requires_grad and torch.is_grad_enabled()):
        return call()
    if tuple(out.shape) != size:
        with torch._C.DisableTorchFunction():
            out.resize_(size)
    return ctx.fill(distribution, params, out, generator, call)


def _factory(distribution, params, like):
    """torch.rand/randn (like=False, also with out=) or torch.rand_like/randn_like (like=True)."""

    def handler(ctx, func, args, kwargs):
        if kwargs.get("names") is not None:
            return func(*args, **kwargs)
        options = dict(kwargs)
        generator = options.pop("generator", None)
        out = options.pop("out", None)
        if out is not None:  # the size only: dtype, layout and device are the out tensor's (torch checks them)
            if like or options:
                return func(*args, **kwargs)
            return _fill_out(ctx, distribution, params, out, _size(args), generator, lambda: func(*args, **kwargs))
        requires_grad = options.pop("requires_grad", False)
        tensor = torch.empty_like(*args, **options) if like else torch.empty(*args, **options)
        if not fillable(tensor):
            return func(*args, **kwargs)
        ctx.fill(distribution, params, tensor, generator, None)
        return tensor.requires_grad_(requires_grad) if requires_grad else tensor

    return handler


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _torch_normal(ctx, func, args, kwargs):
    """``torch.normal(mean, std, size)`` with number arguments (a factory of
    normal(mean, std)); the forms with tensor means or deviations stay torch's."""
    def parse(mean, std, size=None, *, generator=None, out=None, **options):
        return mean, std, size, generator, out, options

    try:
        mean, std, size, generator, out, options = parse(*args, **kwargs)
    except TypeError:
        return func(*args, **kwargs)
    if not (_is_number(mean) and _is_number(std) and size is not None and math.isfinite(mean)
            and math.isfinite(std) and std >= 0):
        return func(*args, **kwargs)  # torch's own overloads, and its own errors
    size = _size((size,))
    params = (float(mean), float(std))
    if out is not None:
        if options:
            return func(*args, **kwargs)
        return _fill_out(ctx, "normal", params, out, size, generator, lambda: func(*args, **kwargs))
    requires_grad = options.pop("requires_grad", False)
    tensor = torch.empty(size, **options)
    if not fillable(tensor):
        return func(*args, **kwargs)
    ctx.fill("normal", params, tensor, generator, None)
    return tensor.requires_grad_(requires_grad) if requires_grad else tensor


def _linalg_qr(ctx, func, args, kwargs):
    """``torch.linalg.qr`` of a CPU or CUDA float32/float64 matrix with at least as many
    rows as columns, reduced: fastinit's Householder QR (``fastinit._qr``: the
    same bits on every machine; LAPACK's depend on the build and the CPU), in
    float64, rounded to the matrix's dtype. Anything else is torch's."""
    def parse(A, mode="reduced", *, out=None):
        return A, mode, out

    try:
        matrix, mode, out = parse(*args, **kwargs)
    except TypeError:
        return func(*args, **kwargs)
    if (out is not None or mode != "reduced" or not isinstance(matrix, torch.Tensor) or type(matrix) not in
            (torch.Tensor, torch.nn.Parameter) or not (matrix.is_cpu or matrix.is_cuda) or matrix.dtype not in (torch.float32, torch.float64)
            or matrix.layout != torch.strided or matrix.ndim != 2 or matrix.shape[0] < matrix.shape[1]
            or matrix.numel() == 0 or (matrix.requires_grad and torch.is_grad_enabled())):
        return func(*args, **kwargs)
    with torch._C.DisableTorchFunction():  # a CUDA matrix's QR is computed on the host (the same bits), then moved
        q, r = _qr.qr(matrix.detach().resolve_neg().cpu().numpy())
        return torch.return_types.linalg_qr((torch.from_numpy(q).to(matrix.device, matrix.dtype),
                                             torch.from_numpy(r).to(matrix.device, matrix.dtype)))


def _scratch(ctx, func, args, kwargs):
    result = func(*args, **kwargs)
    if isinstance(result, torch.Tensor) and args and isinstance(args[0], torch.Tensor):
        ctx.streams.created(result, args[0])
    return result


#: torch.nn.init's functions that dispatch through handle_torch_function. They
#: pass the module attribute of their own name *at call time* as ``func``: torch's
#: function, or whatever replaced it (transformers swaps in its own wrappers while
#: its weight initialization runs). So they are recognized by that attribute.
_INIT_HANDLERS = {"normal_": _init_normal, "uniform_": _init_uniform, "kaiming_uniform_": _init_kaiming_uniform}
_INIT_ORIGINALS = {getattr(_torch_init, name): handler for name, handler in _INIT_HANDLERS.items()}


def _init_handler(func):
    handler = _INIT_ORIGINALS.get(func)
    if handler is None:
        name = getattr(func, "__name__", None)
        handler = _INIT_HANDLERS.get(name)
        if handler is not None and getattr(_torch_init, name, None) is not func:
            handler = None
    return handler


_HANDLERS = {
    torch.Tensor.normal_: _tensor_normal,
    torch.Tensor.uniform_: _tensor_uniform,
    torch.rand: _factory("uniform", (0.0, 1.0), like=False),
    torch.randn: _factory("normal", (0.0, 1.0), like=False),
    torch.rand_like: _factory("uniform", (0.0, 1.0), like=True),
    torch.randn_like: _factory("normal", (0.0, 1.0), like=True),
    torch.normal: _torch_normal,
    torch.linalg.qr: _linalg_qr,
    torch.Tensor.new_empty: _scratch,
    torch.empty_like: _scratch,
}


# ---------------------------------------------------------------------------
# torch.nn.init's truncated normal: its helper, looked up at call time
# ---------------------------------------------------------------------------
class _Hooks:
    """``torch.nn.init._no_grad_trunc_normal_`` replaced while any context is
    active on any thread; the replacement hands over to torch's helper on a
    thread without a context."""

    def __init__(self):
        self.lock = threading.Lock()
        self.users = 0
        self.original = None

    def install(self):
        with self.lock:
            if self.users == 0:
                self.original = _torch_init._no_grad_trunc_normal_
                original = self.original

                @functools.wraps(original)
                def _no_grad_trunc_normal_(tensor, mean, std, a, b, generator=None):
                    return self.trunc_normal(tensor, mean, std, a, b, generator)

                _torch_init._no_grad_trunc_normal_ = _no_grad_trunc_normal_
            self.users += 1

    def release(self):
        with self.lock:
            self.users -= 1
            if self.users == 0:
                _torch_init._no_grad_trunc_normal_ = self.original

    def trunc_normal(self, tensor, mean, std, a, b, generator=None):
        ctx = _state.active()
        original = functools.partial(self.original, tensor, mean, std, a, b, generator=generator)
        if ctx is None:
            return original()
        if not fillable(local_of(tensor)):
            return original()
        with torch._C.DisableTorchFunction():  # the fill's own tensor calls are fastinit's, not the model's
            return ctx.fill("truncated_normal", (float(mean), float(std), float(a), float(b)), tensor, generator,
                            original)


_hooks = _Hooks()


def fast_init(seed=0):
    """Route torch's random initialization through fastinit while the block runs.

    Every random fill that the block's code makes (``torch.nn.init``'s
    functions however they are referenced, ``Tensor.normal_``/``uniform_``,
    ``torch.rand``/``randn``; see this module's docstring for the full list and
    for what stays torch's) is done by fastinit, on the calling thread only.
    The n-th fill of the block uses the stream of
    ``derive_seed(seed, "fastinit.torch.fast_init", str(n))``, so the same
    code under the same seed builds the same model on any machine and thread
    count; a fill given a ``generator`` draws its seed from that generator.
    Contexts nest (the innermost one serves); everything is restored on exit,
    also after an exception.

    Example::

        >>> with fastinit.torch.fast_init(seed=0):
        ...     model = torch.nn.Sequential(torch.nn.Linear(768, 3072), torch.nn.GELU(),
        ...                                 torch.nn.Linear(3072, 768))
    """
    return _Context(CountedStreams(seed, "fastinit.torch.fast_init"))


class NamedStreams(Streams):
    """One stream per parameter or buffer name (``initialize``)."""

    PREFIX = "fastinit.torch.initialize"

    def __init__(self, seed, named_tensors):
        self.seed = _check_seed(seed)
        self.by_storage = {}
        self.by_id = {}  # the parameter objects themselves (a rank's empty shard has no storage address)
        for name, tensor in named_tensors:
            self.by_storage.setdefault(storage_key(tensor), []).append((name, tensor))
            self.by_id.setdefault(id(tensor), (name, tensor))
        self.scratch = {}  # storage key -> (weakref to the scratch tensor, its stream names)
        self.scratch_counts = {}
        self.unnamed = itertools.count()
        self.full = set()      # names written whole
        self.partial = set()   # names written in part

    def owner(self, tensor):
        """(name, base) of the parameter or buffer that holds ``tensor``, or None."""
        found = self.by_id.get(id(tensor))
        if found is not None and found[1] is tensor:
            return found
        for name, base in self.by_storage.get(storage_key(tensor), ()):
            if inside(local_of(tensor), local_of(base)):
                return name, base
        return None

    def mark_whole(self, tensor):
        """Record that ``tensor`` (a parameter or buffer, or inside one) was written whole by other means."""
        found = self.owner(tensor)
        if found is not None:
            self.full.add(found[0])

    def _mark(self, tensor, name, base):
        (self.full if tensor.numel() == base.numel() else self.partial).add(name)

    def written(self, tensor, func):
        found = self.owner(tensor)
        if found is not None:
            self._mark(tensor, *found)

    def created(self, result, source):
        found = self.owner(source)
        if found is not None:
            k = self.scratch_counts.get(found[0], 0)
            self.scratch_counts[found[0]] = k + 1
            self.scratch[storage_key(result)] = (weakref.ref(result), (found[0], "scratch", str(k)))

    def _scratch_names(self, tensor):
        entry = self.scratch.get(storage_key(tensor))
        if entry is not None:
            ref, names = entry
            target = ref()
            if target is not None and storage_key(target) == storage_key(tensor):
                return names
        return None

    def stream_seed(self, names, distribution, params):
        return derive_seed(self.seed, self.PREFIX, *names, distribution, *(float(p).hex() for p in params))

    def plan(self, distribution, params, tensor):
        found = self.owner(tensor)
        if found is None:
            names = self._scratch_names(tensor) or ("", str(next(self.unnamed)))
            return functools.partial(write, distribution, params, tensor,
                                     self.stream_seed(names, distribution, params))
        name, base = found
        if is_dtensor(tensor) and not (is_dtensor(base) and tensor.shape == base.shape
                                       and tensor.placements == base.placements
                                       and same_geometry(local_of(tensor), local_of(base))):
            raise ValueError(f"a random fill of part of the sharded parameter {name!r}: fastinit fills a DTensor "
                             f"parameter whole (its local shard at the shard's global positions)")
        self._mark(tensor, name, base)
        seed = self.stream_seed((name,), distribution, params)
        if is_dtensor(tensor) or same_geometry(tensor, base):
            return functools.partial(write, distribution, params, tensor, seed)
        offset = flat_offset(tensor, base)
        if offset is not None:
            return functools.partial(write, distribution, params, tensor, seed, offset)

        def strided():  # a strided view: the parameter's stream at the view's positions
            whole = write(distribution, params, torch.empty(base.shape, dtype=base.dtype, device=base.device), seed)
            tensor.copy_(values_at(tensor, base, whole))

        return strided
