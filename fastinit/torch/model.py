"""Model initialization: a model's own init routine, one stream per parameter name.

``initialize(model, seed)`` allocates what is on the meta device, then runs the
model's own initialization (transformers' ``_init_weights`` as transformers
dispatches it, else ``init_weights()``, else every submodule's
``reset_parameters()``) with every fill of the parameter or buffer ``name``
drawing the stream of ``(seed, name, distribution, parameters)``.
"""

import contextlib
import sys
import traceback

import torch
import torch.nn as nn

from ..bits import _check_seed
from ._dtensor import is_dtensor, local_of
from ._empty import carry_record, empty_init, recorded_draw
from ._standins import ParametrizedWeights, TiedPlaces
from .intercept import CountedStreams, NamedStreams, _Context, write

__all__ = ["initialize", "empty_init", "reset_parameters"]

_HF_FLAG = "_is_hf_initialized"


def _is_transformers_model(model):
    transformers = sys.modules.get("transformers")
    return transformers is not None and isinstance(model, getattr(transformers, "PreTrainedModel", ()))


def _checked_device(device):
    """``device`` as a torch.device that exists here (None stays None), or a ValueError naming it."""
    if device is None:
        return None
    try:
        checked = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(f"device={device!r} is not a device torch knows here: {error}") from None
    if checked.type == "meta":
        raise ValueError("device must be a real device, got 'meta'")
    if checked.type == "cpu":
        return checked
    backend = getattr(torch, checked.type, None)
    available = getattr(backend, "is_available", None)
    if available is None or not available():
        raise ValueError(f"device={device!r}: no {checked.type} device is available here")
    count = getattr(backend, "device_count", None)
    if checked.index is not None and count is not None and checked.index >= count():
        raise ValueError(f"device={device!r}: there are {count()} {checked.type} device(s) here")
    return checked


class _Undo:
    """What initialize changed in the model's structure, to put back if it fails."""

    def __init__(self, model):
        self.tables = [(table, dict(table)) for module in model.modules()
                       for table in (module._parameters, module._buffers)]
        self.flags = [(obj, obj.__dict__[_HF_FLAG]) for obj in [*model.modules(), *model.parameters(), *model.buffers()]
                      if _HF_FLAG in obj.__dict__]
        self.swaps = []  # (DTensor, the tensor swapped out of it)

    def restore(self):
        for tensor, old in reversed(self.swaps):
            torch.utils.swap_tensors(tensor, old)
        for table, contents in self.tables:
            table.clear()
            table.update(contents)
        for obj, flag in self.flags:
            obj.__dict__[_HF_FLAG] = flag


def _converted(tensor, device, dtype, parameter, undo):
    """``tensor`` allocated on ``device`` (or the CPU) if it is on meta, moved to
    ``device`` if one is given, cast to ``dtype`` if floating; the same object
    where nothing changes."""
    target = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
    if is_dtensor(tensor):
        return _converted_in_place(tensor, device, target, parameter, undo)
    if tensor.is_meta:
        data = torch.empty(tensor.shape, dtype=target, device=device or "cpu")
    elif target != tensor.dtype or (device is not None and tensor.device != device):
        data = tensor.detach().to(device=device or tensor.device, dtype=target)
        carry_record(tensor, data)  # a buffer empty_init saw drawn is drawn again, on device, by name
    else:
        return tensor
    if not parameter:
        return data
    new = nn.Parameter(data, requires_grad=tensor.requires_grad)
    new.__dict__.update({k: v for k, v in tensor.__dict__.items() if k != _HF_FLAG})
    return new


def _converted_in_place(tensor, device, dtype, parameter, undo):
    """A DTensor allocated (its local shard only) or cast, keeping the object:
    FSDP2 holds its parameters by identity, so the new contents are swapped in
    (as ``nn.Module.to_empty`` does for tensor subclasses)."""
    if tensor.is_meta:
        data = torch.empty_like(tensor, device=device or "cpu", dtype=dtype)
    elif dtype != tensor.dtype:
        data = tensor.detach().to(dtype)
    else:
        return tensor
    new = nn.Parameter(data, requires_grad=tensor.requires_grad) if parameter else data
    torch.utils.swap_tensors(tensor, new)
    undo.swaps.append((tensor, new))
    return tensor


def _materialize(model, device, dtype, undo):
    """Allocate meta tensors on ``device`` (and move and cast the others),
    keeping tied tensors one tensor; the ids of the tensors that were on meta."""
    replaced = {}  # id(old) -> new: a tensor shared by several modules stays shared
    born_meta = set()
    for module in model.modules():
        for table, parameter in ((module._parameters, True), (module._buffers, False)):
            for key, tensor in list(table.items()):
                if tensor is None:
                    continue
                new = replaced.get(id(tensor))
                if new is None:
                    was_meta = tensor.is_meta
                    new = replaced[id(tensor)] = _converted(tensor, device, dtype, parameter, undo)
                    if was_meta:
                        born_meta.add(id(new))
                if new is not tensor:
                    table[key] = new
    return born_meta


def _clear_hf_flags(model):
    """Forget transformers' "already initialized" marks, so its routine runs on every module."""
    for obj in [*model.modules(), *model.parameters(), *model.buffers()]:
        obj.__dict__.pop(_HF_FLAG, None)


def _own_class(model):
    """The model's class before sharding: FSDP2's ``fully_shard`` gives a module
    a subclass made in ``torch.distributed``."""
    return next(cls for cls in type(model).__mro__ if not cls.__module__.startswith("torch.distributed."))


@contextlib.contextmanager
def _as_unsharded(model):
    """transformers 5 skips a module without parameters of its own in "custom
    code" (a model class defined outside transformers), which FSDP2's subclass
    appears to be: GPT-2's scaled ``c_proj`` init would then not run. Inside
    this block the model answers for its own class."""
    own = _own_class(model)
    if own is type(model) or not hasattr(own, "is_custom_code"):
        yield
        return
    model.is_custom_code = own.is_custom_code
    try:
        yield
    finally:
        del model.is_custom_code


def _run_model_init(model):
    """The model's own initialization routine."""
    if _is_transformers_model(model):
        if hasattr(model, "initialize_weights"):  # transformers 5: _init_weights per module, as it dispatches it
            with _as_unsharded(model):
                model.initialize_weights()
        else:  # transformers 4
            model.init_weights()
    elif callable(getattr(model, "init_weights", None)):
        model.init_weights()
    else:
        _reset_all(model)


def _reset_method(module):
    """A module's own re-initialization: ``reset_parameters``, or the private
    ``_reset_parameters`` of modules such as ``nn.MultiheadAttention``."""
    for name in ("reset_parameters", "_reset_parameters"):
        reset = getattr(module, name, None)
        if callable(reset):
            return reset
    return None


def _children_first(model):
    """(name, module) of every submodule, each after all of its own submodules:
    the order in which constructors finish (``nn.MultiheadAttention`` zeroes
    ``out_proj.bias`` after its ``out_proj`` was reset)."""
    seen = set()

    def visit(prefix, module):
        if id(module) in seen:
            return
        seen.add(id(module))
        for name, child in module.named_children():
            yield from visit(f"{prefix}.{name}" if prefix else name, child)
        yield prefix, module

    yield from visit("", model)


def _reset_all(model, only=None):
    for name, module in _children_first(model):
        reset = _reset_method(module)
        if reset is not None and (only is None or only(name, module)):
            reset()


def initialize(model, seed=0, *, device=None, dtype=None):
    """Initialize ``model`` with its own routine, one fastinit stream per parameter name.

    1. Parameters and buffers on the meta device are allocated on ``device``
       (default ``"cpu"``), and with a ``device`` every other tensor is moved
       there; tied tensors (GPT-2's ``lm_head.weight`` is
       ``transformer.wte.weight``) stay one tensor, and a transformers model's
       declared ties are made first (``tie_weights()``: a model built under
       ``accelerate.init_empty_weights()`` has them broken). With ``dtype``,
       floating parameters and buffers are cast to it (as ``model.to(dtype)``).
    2. The model's own initialization runs: transformers' weight
       initialization (``_init_weights`` per module, as transformers dispatches
       it, with its ``_is_hf_initialized`` marks cleared first), else the
       model's ``init_weights()``, else every submodule's ``reset_parameters()``
       (or torch's private ``_reset_parameters()``), each submodule after its
       own submodules, as their constructors ran. A module whose parameters that
       routine left unwritten is reset with its own ``reset_parameters()``.
       While it runs, a tied tensor is written through its first name only (the
       values a model that ties after building has: GPT-2's embedding with its
       zero padding row, not the head's init), and a parametrized weight
       (``weight_norm``, ``spectral_norm``, ``orthogonal``, the older hooks) is a
       plain tensor whose value then goes into its original tensors
       (``right_inverse``; spectral norms draw their power-iteration vectors
       again). A tensor that a constructor drew whole under :func:`empty_init`
       and that the routine leaves unwritten is drawn again from its name's
       stream, with the distribution the constructor used.
    3. Every fill of the parameter or buffer named ``name`` (as in
       ``model.named_parameters()``/``named_buffers()``; a parametrized weight
       is named as the unparametrized one, ``fc.weight``) draws from
       ``derive_seed(seed, "fastinit.torch.initialize", name, distribution,
       *parameters as float.hex)``, element ``i`` being the element of flat
       index ``i`` inside that tensor; a fill of a view (``weight[padding_idx]``,
       a block of rows) takes the elements at the view's positions. So a
       parameter depends on the seed and its name only, not on construction
       order, other modules, thread count or where the model was built: a model
       built on the meta device and one built normally are equal bit for bit.

    All or nothing: ``device`` and ``dtype`` are checked before anything
    changes, and if the routine raises, or a tensor that was on meta is left
    unwritten (a buffer a module computes in ``__init__``: ``RuntimeError``
    naming it; build the model under :func:`empty_init` instead), the model's
    parameters and buffers are put back as they were (meta tensors meta).
    Values written in place into tensors that were already allocated stay written.

    Args:
        model: a ``torch.nn.Module``.
        seed: integer in [0, 2**64).
        device: where meta tensors are allocated (default ``"cpu"``), and where
            every other tensor goes when given; it must exist here.
        dtype: optional floating ``torch.dtype`` for the model's floating tensors.

    Returns:
        ``model``, initialized in place.

    Example::

        >>> with torch.device("meta"):
        ...     model = torch.nn.Sequential(torch.nn.Linear(768, 3072), torch.nn.GELU())
        >>> fastinit.torch.initialize(model, seed=0)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = _check_seed(seed)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    device = _checked_device(device)
    undo = _Undo(model)
    try:
        if _is_transformers_model(model) and callable(getattr(model, "tie_weights", None)):
            model.tie_weights()
        born_meta = _materialize(model, device, dtype, undo)
        named = [*model.named_parameters(), *model.named_buffers()]
        _clear_hf_flags(model)
        streams = _run_named(model, seed, named)
        missing = [name for name, tensor in named
                   if id(tensor) in born_meta and local_of(tensor).numel() and name not in streams.full]
        if missing:
            raise RuntimeError(
                f"initialize: {len(missing)} tensor(s) were on the meta device and the model's initialization did "
                f"not write them: {', '.join(missing)}. A module computes them in its constructor; build the "
                f"model under fastinit.torch.empty_init() (large parameters on meta, buffers and small "
                f"parameters on the CPU) instead of torch.device('meta'). The model is left as it was.")
    except BaseException as error:
        # Views and streams of the failed routine still reference the new tensors through the
        # traceback's frames; a DTensor is swapped back only when nothing else holds it.
        named = streams = None
        traceback.clear_frames(error.__traceback__)
        undo.restore()
        raise
    return model


def _run_named(model, seed, named):
    """The model's routine with name-keyed streams (returned), stand-ins for
    tied and parametrized tensors, the reset of modules it left untouched and
    the second draw of tensors recorded by empty_init."""
    ties, weights = TiedPlaces(model), ParametrizedWeights(model)
    streams = NamedStreams(seed, named + weights.named())
    with torch.no_grad(), _Context(streams):
        ties.install()
        weights.install()
        try:
            _run_model_init(model)
            written = streams.full | streams.partial
            written_ids = {id(t) for name, t in [*named, *weights.named()] if name in written}

            def untouched(name, module):  # its own parameters (tied places excluded), none written
                own = [p for p in module.parameters(recurse=False) if not p.is_meta]
                own += [w.stand_in for w in weights.weights if w.module is module]
                return bool(own) and not any(id(p) in written_ids for p in own)

            _reset_all(model, untouched)
        finally:
            weights.restore()
            ties.restore()
        for tensor in weights.apply(streams.full | streams.partial):
            streams.mark_whole(tensor)
        for name, tensor in named:
            if name not in streams.full and name not in streams.partial:
                drawn = recorded_draw(local_of(tensor))
                if drawn is not None:
                    distribution, params = drawn
                    write(distribution, params, tensor, streams.stream_seed((name,), distribution, params))
                    streams.full.add(name)
    return streams


def reset_parameters(module, seed=0):
    """Re-initialize a built model through fastinit, one stream per submodule name.

    Calls ``reset_parameters()`` (or torch's private ``_reset_parameters()``)
    of every submodule that has one (the initialization torch's own modules run
    in their constructors), each after its own submodules, as constructors run,
    with the k-th random fill of the submodule named ``name`` (as in
    ``module.named_modules()``) using ``derive_seed(seed,
    "fastinit.torch.reset_parameters", name, str(k))``. The values of a
    parameter depend on the seed and on its submodule's name, not on the order
    in which the model was built. (:func:`initialize` runs the model's own
    routine and keys streams by parameter name.)

    Example::

        >>> model = torch.nn.Sequential(torch.nn.Linear(768, 3072), torch.nn.GELU())
        >>> fastinit.torch.reset_parameters(model, seed=0)     # named streams
    """
    seed = _check_seed(seed)
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    for name, sub in _children_first(module):
        reset = _reset_method(sub)
        if reset is not None:
            with _Context(CountedStreams(seed, "fastinit.torch.reset_parameters", name)):
                reset()
    return module
