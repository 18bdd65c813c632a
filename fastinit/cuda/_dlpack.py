"""DLPack export of memory fastinit filled: a ``DLManagedTensor`` in a
``"dltensor"`` capsule (DLPack's unversioned ABI, which every consumer
takes), so that a consumer (``jax.dlpack.from_dlpack``, ``np.from_dlpack``,
``torch.from_dlpack``) adopts the memory without a copy.

Numba device arrays have no ``__dlpack__``; ``Export`` gives them one. The
owner (the array) is kept alive until the consumer calls the managed tensor's
deleter; ``hand_over`` releases it where the consumer raised instead.
"""

import ctypes

import numpy as np

#: DLPack device types.
CPU, CUDA = 1, 2
#: DLPack data type codes.
_FLOAT, _BFLOAT = 2, 4


class _Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _Device), ("ndim", ctypes.c_int32), ("dtype", _DataType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


class _Managed(ctypes.Structure):
    pass


_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(_Managed))
_Managed._fields_ = [("dl_tensor", _Tensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]

#: address of a live managed tensor -> (the struct, its shape and strides arrays, the owner)
_alive = {}


@_DELETER
def _delete(managed):
    _alive.pop(ctypes.addressof(managed.contents), None)


_NAME = b"dltensor"
_api = ctypes.pythonapi
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _data_type(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return _DataType(_FLOAT, 8 * dtype.itemsize, 1)
    if dtype.name == "bfloat16":
        return _DataType(_BFLOAT, 16, 1)
    raise TypeError(f"no DLPack export for dtype {dtype}")


def capsule(owner, address, shape, strides, dtype, device_type, device_id):
    """A "dltensor" capsule of the memory at ``address`` (``shape``, byte
    ``strides``, ``dtype``) on the DLPack device (``device_type``,
    ``device_id``), which keeps ``owner`` alive until it is released."""
    itemsize = np.dtype(dtype).itemsize
    if any(s % itemsize for s in strides):
        raise ValueError("strides must be whole elements for DLPack")
    ndim = len(shape)
    shape_array = (ctypes.c_int64 * max(ndim, 1))(*shape)
    strides_array = (ctypes.c_int64 * max(ndim, 1))(*(s // itemsize for s in strides))
    managed = _Managed()
    managed.dl_tensor = _Tensor(address, _Device(device_type, device_id), ndim, _data_type(dtype),
                                ctypes.cast(shape_array, ctypes.POINTER(ctypes.c_int64)),
                                ctypes.cast(strides_array, ctypes.POINTER(ctypes.c_int64)), 0)
    managed.deleter = _delete
    pointer = ctypes.addressof(managed)
    _alive[pointer] = (managed, shape_array, strides_array, owner)
    # No capsule destructor: a consumer that takes the capsule calls the deleter; where none does
    # (it raised), hand_over releases the tensor. (A destructor in Python would run while the
    # consumer's exception is pending.)
    return pointer, _api.PyCapsule_New(pointer, _NAME, None)


class Export:
    """``__dlpack__``/``__dlpack_device__`` for a Numba device array (or a
    NumPy array, as a CPU export), without a copy. ``ready``: called before
    the capsule is handed over (the fill's stream synchronized)."""

    def __init__(self, array, ready=None):
        self.array = array
        self.ready = ready
        self.given = []  # (the managed tensor's address, its capsule) of each __dlpack__ call

    def __dlpack_device__(self):
        if isinstance(self.array, np.ndarray):
            return (CPU, 0)
        return (CUDA, _device_id(self.array))

    def __dlpack__(self, stream=None, **unused):  # max_version, dl_device, copy: the unversioned ABI answers all
        if self.ready is not None:
            self.ready()
        a = self.array
        if isinstance(a, np.ndarray):
            address = a.ctypes.data
        else:
            interface = a.__cuda_array_interface__
            address = interface["data"][0]
        device_type, device_id = self.__dlpack_device__()
        pointer, made = capsule(a, address, tuple(a.shape), tuple(a.strides), a.dtype, device_type, device_id)
        self.given.append((pointer, made))
        return made

    def release(self):
        """Release the tensors given out that no consumer took (their capsule
        still named "dltensor"); one a consumer took (renamed) is its own, to
        be released by the deleter it calls, even where it raised later."""
        for pointer, made in self.given:
            if _api.PyCapsule_IsValid(made, _NAME):
                _alive.pop(pointer, None)
        self.given.clear()


def hand_over(consume, array, ready=None):
    """``consume(Export(array, ready))`` (``jax.dlpack.from_dlpack``, ...):
    the consumer's array over ``array``'s memory."""
    export = Export(array, ready)
    try:
        return consume(export)
    except BaseException:
        export.release()
        raise


def _device_id(array):
    """The number of the CUDA device that holds a Numba device array."""
    return array.gpu_data.context.device.id
