"""fastinit.cuda._dlpack: the DLPack export that hands GPU fills to JAX
without a copy, checked on its CPU form (the same structures with device type
kDLCPU) with real consumers: NumPy's and JAX's from_dlpack."""

import gc
import weakref

import jax
import ml_dtypes
import numpy as np
import pytest

from fastinit.cuda import _dlpack


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16], ids=lambda d: np.dtype(d).name)
def test_numpy_adopts_the_memory_without_a_copy(dtype):
    owner = np.arange(60, dtype=dtype).reshape(6, 10)
    for array in (owner, owner[1:, ::3], owner.T):
        got = _dlpack.hand_over(np.from_dlpack, array)
        assert got.dtype == array.dtype and got.shape == array.shape and got.strides == array.strides
        assert np.array_equal(got, array)
        assert got.__array_interface__["data"][0] == array.__array_interface__["data"][0]  # the same memory
        array[0, 0] = -1
        assert got[0, 0] == -1


def test_jax_adopts_every_dtype_bfloat16_included():
    for dtype in (np.float32, np.float16, ml_dtypes.bfloat16):
        array = (np.arange(24, dtype=np.float32) / 7).astype(dtype).reshape(4, 6)
        got = _dlpack.hand_over(jax.dlpack.from_dlpack, array)
        assert got.dtype == array.dtype and got.shape == (4, 6)
        assert np.array_equal(np.asarray(got).view(np.uint8), array.view(np.uint8))


def test_the_owner_lives_until_the_consumer_releases_it():
    owner = np.ones(1000)
    alive = weakref.ref(owner)
    got = _dlpack.hand_over(np.from_dlpack, owner)
    del owner
    gc.collect()
    assert alive() is not None and float(got.sum()) == 1000.0
    assert len(_dlpack._alive) == 1
    del got
    gc.collect()
    assert alive() is None and not _dlpack._alive


def test_a_consumer_that_raises_leaves_nothing_held():
    owner = np.ones(8, ml_dtypes.bfloat16)  # NumPy's from_dlpack has no bfloat16
    alive = weakref.ref(owner)
    with pytest.raises((RuntimeError, BufferError, TypeError)):
        _dlpack.hand_over(np.from_dlpack, owner)
    del owner
    gc.collect()
    assert alive() is None and not _dlpack._alive


def test_unsupported_dtypes_and_strides_are_refused():
    with pytest.raises(TypeError, match="no DLPack export for dtype int32"):
        _dlpack.Export(np.zeros(3, np.int32)).__dlpack__()
    with pytest.raises(ValueError, match="whole elements"):
        _dlpack.Export(np.lib.stride_tricks.as_strided(np.zeros(8, np.float32), (3,), (6,))).__dlpack__()
    assert not _dlpack._alive


def test_a_consumer_that_raises_after_taking_the_capsule_keeps_the_memory():
    """The consumer adopted the memory, then failed: what it holds stays
    valid until its own deleter runs."""
    owner = np.arange(1000.0)
    alive = weakref.ref(owner)
    held = []

    def consume(export):
        held.append(np.from_dlpack(export))
        raise RuntimeError("after adopting")
    with pytest.raises(RuntimeError, match="after adopting"):
        _dlpack.hand_over(consume, owner)
    del owner
    gc.collect()
    assert alive() is not None and float(held[0].sum()) == 499500.0
    held.clear()
    gc.collect()
    assert alive() is None and not _dlpack._alive
