"""Which torch tensors fastinit fills, NumPy views of their memory, and where a
tensor's elements sit inside a parameter.

No interception and no model logic here: the drop-ins (``init.py``), the
interception (``intercept.py``) and model initialization (``model.py``) all
build on these helpers.
"""

import threading

import torch

from .. import _buffers, _formats
from ..distributions import PARALLEL_THRESHOLD
from ._dtensor import local_of

#: The dtypes fastinit's kernels write.
FILLABLE_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
#: The tensor types filled in place (a DTensor through its local shard, _dtensor.py); any other subclass
#: (FakeTensor, ...) goes to torch.
PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter, torch.nn.Buffer) if hasattr(torch.nn, "Buffer") else (
    torch.Tensor, torch.nn.Parameter)


def fillable(tensor):
    """True where fastinit's kernels can fill ``tensor`` in place: a plain CPU
    or CUDA tensor (``on_gpu``), strided, of a float dtype, not a lazily
    negated view. (A lazily conjugated view and a quantized tensor have
    complex and quantized dtypes.)"""
    return (type(tensor) in PLAIN_TYPES and (tensor.is_cpu or tensor.is_cuda) and tensor.dtype in FILLABLE_DTYPES
            and tensor.layout == torch.strided and not tensor.is_neg())


def on_gpu(tensor, write):
    """``write(array)`` for the fillable CUDA tensor ``tensor``, where
    ``array`` stands for all of its elements (shape and C order), and the
    fill functions of fastinit take it as ``out``:

    * with numba-cuda (``fastinit[cuda]``): a Numba device array over the
      tensor's memory, filled on its GPU by fastinit.cuda's kernels, queued on
      torch's current CUDA stream of its device (no synchronization);
    * without: a NumPy view of a CPU tensor of its shape and dtype, filled on
      the host and then copied into it (the same bits, slower).

    Returns ``tensor``."""
    from .. import cuda
    if cuda.available():
        device = tensor.device
        with torch.cuda.device(device), cuda.on_device(f"cuda:{device.index}"), \
                cuda.stream(torch.cuda.current_stream(device).cuda_stream):
            write(cuda.device_view(tensor.detach()))
        return tensor
    return through_host(tensor, write)


def on_memory(tensor, write, by_address=False):
    """``write(array)`` on the fillable ``tensor``'s elements: on its GPU for
    a CUDA tensor (``on_gpu``), else on its host memory (``fill_target`` with
    ``by_address``, else its NumPy view). Returns ``tensor``."""
    if tensor.is_cuda:
        return on_gpu(tensor, write)
    advise_huge_pages(tensor)
    write(fill_target(tensor) if by_address else numpy_view(tensor))
    return tensor


def through_host(tensor, write):
    """``write(array)`` into a NumPy view of a new CPU tensor of ``tensor``'s
    shape and dtype, then that tensor copied into ``tensor`` (any device)."""
    host = torch.empty(tensor.shape, dtype=tensor.dtype)
    write(numpy_view(host))
    with torch.no_grad():
        tensor.detach().copy_(host)
    return tensor


def numpy_view(tensor):
    """A NumPy array sharing ``tensor``'s memory (``fillable(tensor)`` must hold)."""
    data = tensor.detach() if tensor.requires_grad else tensor  # .numpy() refuses tensors that require grad
    if data.dtype == torch.bfloat16:
        return data.view(torch.int16).numpy().view(_formats.bfloat16_dtype())
    return data.numpy()


#: Fillable tensors smaller than this (and C-contiguous) are written through
#: their address (a _formats.Memory): for a bias, the NumPy view of a tensor
#: (``Tensor.numpy()``, after ``detach()`` for a parameter) costs about as much
#: as its fill (bench/per_call.py). Larger ones get the view, and threads.
BY_ADDRESS_BELOW = PARALLEL_THRESHOLD
_NUMPY_DTYPES = {}


def fill_target(tensor):
    """What the fill functions write for a fillable ``tensor``: its memory by
    address where it is small and C-contiguous, else its NumPy view. The
    caller keeps ``tensor`` alive while the fill runs."""
    size = tensor.numel()
    if size < BY_ADDRESS_BELOW and tensor.is_contiguous():
        dtype = _NUMPY_DTYPES.get(tensor.dtype)
        if dtype is None:  # "float32", ..., "bfloat16" (through ml_dtypes)
            dtype = _NUMPY_DTYPES[tensor.dtype] = _formats.resolve_dtype(str(tensor.dtype).removeprefix("torch."))
        return _formats.Memory(tensor.data_ptr(), size, dtype)
    return numpy_view(tensor)


class _SeedWords(threading.local):
    def __init__(self):
        self.words = torch.empty(2, dtype=torch.int64)  # one per thread, refilled by each draw
        self.view = self.words.numpy()


_seed_words = _SeedWords()


def seed_from_generator(generator):
    """64 bits drawn from a torch generator (torch's global one for None):
    the words of ``torch.randint(0, 2**32, (2,), generator=generator)``, low
    word first, drawn in place into a buffer of the thread (no tensor to make
    and no list to convert per call). A generator of another device (a CUDA
    generator) draws the same two words on its own device, read back to the
    host: torch refuses it for a CPU tensor, and the seed has to be known on the
    host to choose the stream."""
    if generator is not None and generator.device.type != "cpu":
        low, high = torch.randint(0, 4294967296, (2,), generator=generator, device=generator.device,
                                  dtype=torch.int64).tolist()
        return low | high << 32
    seed_words = _seed_words
    seed_words.words.random_(4294967296, generator=generator)  # [0, 2**32), as randint(0, 2**32)
    view = seed_words.view
    return view.item(0) | view.item(1) << 32


# ---------------------------------------------------------------------------
# Fresh memory: transparent huge pages before the first touch
# ---------------------------------------------------------------------------
def advise_huge_pages(tensor):
    """With ``fastinit._buffers.HUGE_PAGES`` on (``FASTINIT_HUGE_PAGES=1``),
    ask for transparent huge pages on a large contiguous tensor's memory
    before the fill first touches it (torch's CPU allocator hands out fresh
    anonymous memory for large tensors); see ``fastinit._buffers`` for when
    that pays. A no-op otherwise."""
    if _buffers.HUGE_PAGES and tensor.is_cpu and tensor.is_contiguous():
        _buffers.advise_huge_pages(tensor.data_ptr(), tensor.numel() * tensor.element_size())


# ---------------------------------------------------------------------------
# A tensor's place inside a parameter
# ---------------------------------------------------------------------------
def storage_key(tensor):
    """The address of the storage ``tensor`` views (shared by all its views and
    aliases; a DTensor's is its local shard's); None for a tensor without one
    of its own (meta, empty, or a subclass without a single storage)."""
    try:
        key = local_of(tensor).untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError, TypeError, AttributeError):
        return None
    return key or None


def _extent(tensor):
    """(first, last) storage positions, in elements, that ``tensor`` touches."""
    first = last = tensor.storage_offset()
    for size, stride in zip(tensor.shape, tensor.stride()):
        if size == 0:
            return None
        if stride >= 0:
            last += (size - 1) * stride
        else:
            first += (size - 1) * stride
    return first, last


def same_geometry(a, b):
    return (a.storage_offset() == b.storage_offset() and a.shape == b.shape and a.stride() == b.stride())


def inside(view, base):
    """True if every element of ``view`` is an element of ``base`` (same storage and dtype)."""
    if view.dtype != base.dtype or any(s < 0 for s in view.stride()) or any(s < 0 for s in base.stride()):
        return False
    v, b = _extent(view), _extent(base)
    return v is not None and b is not None and b[0] <= v[0] and v[1] <= b[1]


def flat_offset(view, base):
    """The flat (C-order) index in ``base`` of ``view``'s first element, where
    ``view``'s elements are the consecutive run that starts there; else None."""
    if not (base.is_contiguous() and view.is_contiguous()):
        return None
    return view.storage_offset() - base.storage_offset()


def values_at(view, base, whole):
    """The elements of ``whole`` (a tensor of ``base``'s shape, C-order) at the
    positions that ``view`` occupies inside ``base``."""
    if base.is_contiguous():
        layout = whole.contiguous()
    else:
        layout = torch.empty_strided(base.shape, base.stride(), dtype=whole.dtype, device=whole.device)
        layout.copy_(whole)
    return layout.as_strided(view.shape, view.stride(), view.storage_offset() - base.storage_offset())
