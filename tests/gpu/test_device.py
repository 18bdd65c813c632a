"""On a real NVIDIA GPU only (skipped where numba-cuda finds no device): the
device fills equal the CPU fills bit for bit, through Numba device arrays and
the CUDA array interface of torch and CuPy where installed. Without a GPU,
tests/test_cuda.py checks the PTX and the kernels in Numba's CUDA simulator."""

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")
if not cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

import fastinit  # noqa: E402
from tests.stream_cases import CASES, DTYPES, fill  # noqa: E402

N = 1_000_003


def bits(a):
    a = np.asarray(a)
    return a.view(f"u{a.dtype.itemsize}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("label, distribution, arguments", CASES, ids=[c[0] for c in CASES])
def test_device_fill_equals_the_cpu_fill(dtype, label, distribution, arguments):
    out = cuda.device_array(N, dtype)
    fill(out, distribution, arguments, 5, 2**34 - 999)
    expected = fill(np.empty(N, dtype), distribution, arguments, 5, 2**34 - 999)
    np.testing.assert_array_equal(bits(out.copy_to_host()), bits(expected))


def test_torch_and_cupy_arrays_are_filled_in_place():
    checked = 0
    try:
        import torch
        if torch.cuda.is_available():
            t = torch.empty(4096, 768, device="cuda")
            assert fastinit.xavier_uniform(out=t, seed=1) is t
            assert np.array_equal(t.cpu().numpy(), fastinit.xavier_uniform((4096, 768), seed=1))
            checked += 1
    except ImportError:
        pass
    try:
        import cupy
        c = cupy.empty((4096, 768), cupy.float32)
        assert fastinit.fill_normal(c[:, ::3], std=0.02, seed=2) is not None
        host = np.empty((4096, 768), np.float32)
        fastinit.fill_normal(host[:, ::3], std=0.02, seed=2)
        assert np.array_equal(c.get()[:, ::3], host[:, ::3])
        checked += 1
    except ImportError:
        pass
    if not checked:
        pytest.skip("neither torch with CUDA nor CuPy is installed")
