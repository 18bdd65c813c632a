"""``empty_init()``: build a model with its large parameters on meta, and know what its constructors drew.

Constructors run as usual inside the block, with two differences:

* A parameter of more than ``SMALL_PARAMETER`` elements moves to the meta
  device as it is registered (no memory, no initialization time); smaller ones
  (biases, norms, scalars such as CLIP's ``logit_scale``) and every buffer stay
  on the CPU with the values their constructors give them.
* The random fills of the constructors are fastinit's, from the stream of their
  order in the block (as in ``fast_init``), and each fill of a whole tensor is
  recorded with its distribution and parameters. ``initialize`` then draws
  again, from the stream of its name, every recorded tensor that the model's
  initialization routine leaves unwritten (a buffer drawn with ``torch.randn``
  in ``__init__``, say), so those tensors too depend on the seed and their names
  only. A tensor changed in place after its fill (``torch.randn(n).mul_(2)``,
  inside the block or after it) or computed from a random one keeps the value
  it holds. ``initialize(device=..., dtype=...)`` draws a recorded tensor again
  on its new device and in its new dtype.
"""

import contextlib
import threading
import weakref

import torch.nn as nn

from .intercept import CountedStreams, _Context

#: Parameters of at most this many elements stay on the CPU under empty_init (64 KiB of float32).
SMALL_PARAMETER = 1 << 14

# storage -> {(storage offset, shape, strides, dtype): (distribution, parameters, torch's version counter)}
_RECORDS = weakref.WeakKeyDictionary()


def _geometry(tensor):
    return tensor.storage_offset(), tuple(tensor.shape), tuple(tensor.stride()), tensor.dtype


def _storage(tensor):
    try:
        return tensor.untyped_storage()
    except (RuntimeError, NotImplementedError, TypeError):
        return None


def recorded_draw(tensor):
    """(distribution, parameters) of the fill that drew ``tensor`` whole under
    empty_init, if nothing changed it since (inside the block, seen by its
    context; after it, by torch's version counter of in-place changes); else
    None."""
    storage = _storage(tensor)
    entries = _RECORDS.get(storage) if storage is not None else None
    entry = entries.get(_geometry(tensor)) if entries else None
    if entry is None or entry[2] != tensor._version:
        return None
    return entry[:2]


def carry_record(tensor, copy):
    """``copy`` (``tensor`` moved to another device or cast, a tensor of its own
    storage) keeps ``tensor``'s record of a whole draw: initialize draws it
    again on its device and in its dtype, as a tensor born on meta."""
    drawn = recorded_draw(tensor)
    storage = _storage(copy) if drawn is not None else None
    if storage is not None and copy.is_contiguous() and copy.numel() * copy.element_size() == storage.nbytes():
        _RECORDS[storage] = {_geometry(copy): (*drawn, copy._version)}


class _DrawRecords(CountedStreams):
    """The constructors' streams under empty_init: counted, with a record of each whole fill."""

    def __init__(self):
        super().__init__(0, "fastinit.torch.empty_init")

    def plan(self, distribution, params, tensor):
        job = super().plan(distribution, params, tensor)
        storage = _storage(tensor)
        if storage is not None:
            whole = tensor.is_contiguous() and tensor.numel() * tensor.element_size() == storage.nbytes()
            _RECORDS[storage] = {_geometry(tensor): (distribution, tuple(params), tensor._version)} if whole else {}
        return job

    def written(self, tensor, func):
        storage = _storage(tensor)
        if storage is not None:
            _RECORDS.pop(storage, None)  # changed after its draw: its value is the block's


class _Registration:
    """nn.Module.register_parameter, with large parameters moved to meta on a thread inside empty_init."""

    lock = threading.Lock()
    users = 0
    original = None
    local = threading.local()

    @staticmethod
    def register_parameter(module, name, param):
        _Registration.original(module, name, param)
        if (param is not None and getattr(_Registration.local, "depth", 0) and not param.is_meta
                and param.numel() > SMALL_PARAMETER):
            meta = nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)
            meta.__dict__.update(param.__dict__)
            module._parameters[name] = meta


@contextlib.contextmanager
def empty_init():
    """Build a model with its large parameters on the meta device, its buffers
    and small parameters on the CPU.

    The counterpart of ``accelerate.init_empty_weights(include_buffers=False)``
    on the calling thread, for :func:`initialize`: the constructors run as
    usual, so buffers that a module computes in ``__init__`` (rotary
    frequencies, masks, position ids) and small parameters (biases, norms,
    scalars such as CLIP's ``logit_scale``) hold their values, while
    parameters of more than 16384 elements take no memory and no
    initialization time. The constructors' random fills are fastinit's, and
    ``initialize`` draws again, by name, every tensor they drew whole that the
    model's own initialization leaves alone.

    Example::

        >>> with fastinit.torch.empty_init():
        ...     model = torch.nn.Sequential(torch.nn.Linear(768, 3072), torch.nn.GELU())
        >>> fastinit.torch.initialize(model, seed=0)
    """
    state = _Registration
    with state.lock:
        if state.users == 0:
            state.original = nn.Module.register_parameter
            nn.Module.register_parameter = state.register_parameter
        state.users += 1
    state.local.depth = getattr(state.local, "depth", 0) + 1
    try:
        with _Context(_DrawRecords()):
            yield
    finally:
        state.local.depth -= 1
        with state.lock:
            state.users -= 1
            if state.users == 0:
                nn.Module.register_parameter = state.original
