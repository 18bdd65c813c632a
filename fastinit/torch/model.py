"""Model initialization: a model's own init routine, one stream per parameter name.

``initialize(model, seed)`` allocates what is on the meta device, then runs the
model's own initialization (transformers' ``_init_weights`` as transformers
dispatches it, else ``init_weights()``, else every submodule's
``reset_parameters()``) with every fill of the parameter or buffer ``name``
drawing the stream of ``(seed, name, distribution, parameters)``.
"""

import contextlib
import sys
import threading

import torch
import torch.nn as nn

from ..bits import _check_seed
from ._dtensor import is_dtensor, local_of
from .intercept import CountedStreams, NamedStreams, _Context

__all__ = ["initialize", "empty_init", "reset_parameters"]

_HF_FLAG = "_is_hf_initialized"


def _is_transformers_model(model):
    transformers = sys.modules.get("transformers")
    return transformers is not None and isinstance(model, getattr(transformers, "PreTrainedModel", ()))


def _converted(tensor, device, dtype, parameter):
    """``tensor`` allocated on ``device`` if it is on meta, cast to ``dtype`` if
    floating; the same object where nothing changes."""
    target = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
    if is_dtensor(tensor):
        return _converted_in_place(tensor, device, target, parameter)
    if tensor.is_meta:
        data = torch.empty(tensor.shape, dtype=target, device=device)
    elif target != tensor.dtype:
        data = tensor.detach().to(target)
    else:
        return tensor
    if not parameter:
        return data
    new = nn.Parameter(data, requires_grad=tensor.requires_grad)
    new.__dict__.update({k: v for k, v in tensor.__dict__.items() if k != _HF_FLAG})
    return new


def _converted_in_place(tensor, device, dtype, parameter):
    """A DTensor allocated (its local shard only) or cast, keeping the object:
    FSDP2 holds its parameters by identity, so the new contents are swapped in
    (as ``nn.Module.to_empty`` does for tensor subclasses)."""
    if tensor.is_meta:
        data = torch.empty_like(tensor, device=device, dtype=dtype)
    elif dtype != tensor.dtype:
        data = tensor.detach().to(dtype)
    else:
        return tensor
    torch.utils.swap_tensors(tensor, nn.Parameter(data, requires_grad=tensor.requires_grad) if parameter else data)
    return tensor


def _materialize(model, device, dtype):
    """Allocate meta tensors on ``device`` (and cast to ``dtype``), keeping tied
    tensors one tensor; the ids of the tensors that were on meta."""
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
                    new = replaced[id(tensor)] = _converted(tensor, device, dtype, parameter)
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


def _reset_all(model, only=None):
    for name, module in model.named_modules():
        reset = _reset_method(module)
        if reset is not None and (only is None or only(name, module)):
            reset()


def initialize(model, seed=0, *, device=None, dtype=None):
    """Initialize ``model`` with its own routine, one fastinit stream per parameter name.

    1. Parameters and buffers on the meta device are allocated on ``device``
       (default ``"cpu"``); tied tensors (GPT-2's ``lm_head.weight`` is
       ``transformer.wte.weight``) stay one tensor. With ``dtype``, floating
       parameters and buffers are cast to it (as ``model.to(dtype)``).
    2. The model's own initialization runs: transformers' weight
       initialization (``_init_weights`` per module, as transformers dispatches
       it, with its ``_is_hf_initialized`` marks cleared first), else the
       model's ``init_weights()``, else every submodule's
       ``reset_parameters()`` (or torch's private ``_reset_parameters()``). A module whose parameters that routine left
       unwritten is reset with its own ``reset_parameters()``.
    3. Every fill of the parameter or buffer named ``name`` (as in
       ``model.named_parameters()``/``named_buffers()``) draws from
       ``derive_seed(seed, "fastinit.torch.initialize", name, distribution,
       *parameters as float.hex)``, element ``i`` being the element of flat
       index ``i`` inside that tensor; a fill of a view (``weight[padding_idx]``,
       a block of rows) takes the elements at the view's positions. So a
       parameter depends on the seed and its name only, not on construction
       order, other modules, thread count or where the model was built: a model
       built on the meta device and one built normally are equal bit for bit.

    A tensor that was on meta and that the routine did not write (a buffer a
    module computes in ``__init__``) raises ``RuntimeError`` naming it: build the
    model under :func:`empty_init` instead, which keeps buffers real.

    Args:
        model: a ``torch.nn.Module``.
        seed: integer in [0, 2**64).
        device: where meta tensors are allocated (default ``"cpu"``).
        dtype: optional floating ``torch.dtype`` for the model's floating tensors.

    Returns:
        ``model``, initialized in place.

    Example::

        >>> with torch.device("meta"):
        ...     model = AutoModelForCausalLM.from_config(config)
        >>> fastinit.torch.initialize(model, seed=0)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    seed = _check_seed(seed)
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    device = torch.device("cpu" if device is None else device)
    if device.type == "meta":
        raise ValueError("device must be a real device, got 'meta'")
    born_meta = _materialize(model, device, dtype)
    named = [*model.named_parameters(), *model.named_buffers()]
    _clear_hf_flags(model)
    streams = NamedStreams(seed, named)
    with torch.no_grad(), _Context(streams):
        _run_model_init(model)
        untouched = {id(p) for name, p in model.named_parameters()
                     if name not in streams.full and name not in streams.partial}
        if untouched:
            def all_untouched(name, module):
                own = list(module.parameters(recurse=False))
                return bool(own) and all(id(p) in untouched for p in own)

            _reset_all(model, all_untouched)
    missing = [name for name, tensor in named
               if id(tensor) in born_meta and local_of(tensor).numel() and name not in streams.full]
    if missing:
        raise RuntimeError(
            f"initialize: {len(missing)} tensor(s) were on the meta device and the model's initialization did "
            f"not write them: {', '.join(missing)}. A module computes them in its constructor; build the model "
            f"under fastinit.torch.empty_init() (parameters on meta, buffers on the CPU) instead of "
            f"torch.device('meta').")
    return model


# ---------------------------------------------------------------------------
# empty_init: parameters on meta, buffers real
# ---------------------------------------------------------------------------
class _EmptyInit:
    lock = threading.Lock()
    users = 0
    original = None
    local = threading.local()

    @staticmethod
    def register_parameter(module, name, param):
        """nn.Module.register_parameter, then the parameter moved to meta on a thread inside empty_init."""
        _EmptyInit.original(module, name, param)
        if param is not None and getattr(_EmptyInit.local, "depth", 0) and not param.is_meta:
            meta = nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)
            meta.__dict__.update(param.__dict__)
            module._parameters[name] = meta


@contextlib.contextmanager
def empty_init():
    """Build a model with its parameters on the meta device and its buffers on the CPU.

    The counterpart of ``accelerate.init_empty_weights(include_buffers=False)``
    on the calling thread: the constructors run as usual, so buffers that a
    module computes in ``__init__`` (rotary frequencies, masks, position ids)
    hold their values, while the parameters take no memory and no
    initialization time. Then :func:`initialize` allocates and fills them.

    Example::

        >>> with fastinit.torch.empty_init():
        ...     model = build_model()
        >>> fastinit.torch.initialize(model, seed=0)
    """
    state = _EmptyInit
    with state.lock:
        if state.users == 0:
            state.original = nn.Module.register_parameter
            nn.Module.register_parameter = state.register_parameter
        state.users += 1
    state.local.depth = getattr(state.local, "depth", 0) + 1
    try:
        yield
    finally:
        state.local.depth -= 1
        with state.lock:
            state.users -= 1
            if state.users == 0:
                nn.Module.register_parameter = state.original


def reset_parameters(module, seed=0):
    """Re-initialize a built model through fastinit, one stream per submodule name.

    Calls ``reset_parameters()`` of every submodule that has one (the
    initialization torch's own modules run in their constructors), with the
    k-th random fill of the submodule named ``name`` (as in
    ``module.named_modules()``) using ``derive_seed(seed,
    "fastinit.torch.reset_parameters", name, str(k))``. The values of a
    parameter depend on the seed and on its submodule's name, not on the order
    in which the model was built. (:func:`initialize` runs the model's own
    routine and keys streams by parameter name.)

    Example::

        >>> model = build_model()                              # any init
        >>> fastinit.torch.reset_parameters(model, seed=0)     # named streams
    """
    seed = _check_seed(seed)
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    for name, sub in module.named_modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            with _Context(CountedStreams(seed, "fastinit.torch.reset_parameters", name)):
                reset()
    return module
