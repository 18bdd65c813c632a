"""fastinit.cuda without a GPU: the kernels' PTX (compiled by numba-cuda's
NVVM for sm_80 and sm_90, no driver needed) uses only correctly rounded IEEE
arithmetic, and the kernels, run by Numba's CUDA simulator, give the CPU's
bits (tests/cuda_simulator_checks.py). On a real GPU: bench/gpu.py."""

import math
import os
import re
import subprocess
import sys
from collections import Counter

import numba
import numpy as np
import pytest

if sys.platform == "darwin":  # numba-cuda's CUDA toolkit wheels exist for Linux and Windows only
    pytest.skip("numba-cuda has no macOS build", allow_module_level=True)

from numba import cuda, types  # noqa: E402

import fastinit  # noqa: E402
from fastinit import _formats  # noqa: E402
from fastinit.cuda import _compile  # noqa: E402
from fastinit.cuda import _kernels as gpu  # noqa: E402
from tests.stream_cases import CASES, DTYPES, plan  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Device:
    compute_capability = (9, 0)


@pytest.fixture
def no_driver_needed(monkeypatch):
    """numba-cuda asks the current device for its compute capability when a
    kernel calls other device functions; here there is no device (nor driver)."""
    import numba.cuda.dispatcher
    monkeypatch.setattr(numba.cuda.dispatcher, "get_current_device", lambda: _Device())


def signatures():
    """One fill_counters signature per kind of fill: output dtype (uint16 for
    16-bit formats), parameter type, format type, stream dtype."""
    found = {}
    for dtype in DTYPES:
        for label, distribution, arguments in CASES:
            params, fmt, _ = plan(distribution, arguments, dtype)
            fmt = gpu.NATIVE if fmt is None else fmt
            signature = (types.Array(numba.from_dtype(_formats.kernel_dtype(dtype)), 2, "A"), numba.typeof(params),
                         numba.typeof(fmt), numba.from_dtype(_formats.compute_dtype(dtype)),
                         *([types.uint64] * 6), types.int64, types.int64)
            found.setdefault(signature, f"{label}-{dtype}-{type(params).__name__}")
    return found


SIGNATURES = signatures()
_FLOAT_OP = re.compile(r"^\s*(?:@%p\d+\s+)?((?:fma|mad|mul|add|sub|div|sqrt|rcp|rsqrt|ex2|lg2|sin|cos)"
                       r"(?:\.[a-z0-9]+)*\.f(?:32|64))\b", re.M)


def float_ops(ptx):
    return Counter(_FLOAT_OP.findall(ptx))


def assert_correctly_rounded(ptx):
    ops = float_ops(ptx)
    assert ops, "no float arithmetic found: the pattern does not match this PTX"
    for op in ops:
        name, *modifiers = op.split(".")
        assert name in ("mul", "add", "sub", "div", "sqrt"), op  # no fma/mad, no approximate functions
        assert modifiers[0] == "rn" and "approx" not in modifiers and "ftz" not in modifiers, op
    assert ".approx" not in ptx and ".ftz" not in ptx


@pytest.mark.parametrize("cc", [(8, 0), (9, 0)], ids=lambda cc: f"sm_{cc[0]}{cc[1]}")
@pytest.mark.parametrize("signature", list(SIGNATURES), ids=list(SIGNATURES.values()))
def test_ptx_has_only_correctly_rounded_arithmetic(no_driver_needed, signature, cc):
    ptx, _ = cuda.compile_ptx(gpu.fill_counters.py_func, signature, cc=cc)
    assert_correctly_rounded(ptx)


def test_ptx_of_the_constant_fill(no_driver_needed):
    for dtype in (np.float32, np.float64, np.uint16):
        signature = (types.Array(numba.from_dtype(np.dtype(dtype)), 1, "C"), numba.from_dtype(np.dtype(dtype)),
                     types.int64)
        ptx, _ = cuda.compile_ptx(gpu.fill_value.py_func, signature, cc=(9, 0))
        assert not float_ops(ptx) and "fma." not in ptx


def test_without_the_exact_options_nvvm_contracts(no_driver_needed, monkeypatch):
    """The check above can fail: NVVM's own defaults fuse the normal's and the
    rationals' products and sums (fma.rn), in fastinit's kernels and in other
    code, which the exact options leave alone."""
    signature = next(s for s, name in SIGNATURES.items() if name.startswith("normal-float32"))
    monkeypatch.setattr(_compile, "EXACT", {})
    ptx, _ = cuda.compile_ptx(gpu.fill_counters.py_func, signature, cc=(9, 0))
    assert any(op.startswith("fma.rn") for op in float_ops(ptx))
    monkeypatch.undo()
    monkeypatch.setattr(numba.cuda.dispatcher, "get_current_device", lambda: _Device())

    def other_code(a, b, c):
        a[0] = a[0] * b + c
    ptx, _ = cuda.compile_ptx(other_code, (types.float32[::1], types.float32, types.float32), cc=(9, 0))
    assert "fma.rn.f32" in ptx  # other Numba code in the process compiles as it would


def test_the_kernels_are_compiled_without_link_time_optimization():
    assert gpu.fill_counters.targetoptions["lto"] is False
    assert gpu.fill_value.targetoptions["lto"] is False


def test_numba_cuda_nvvm_is_wrapped_once():
    from numba.cuda.cudadrv import nvvm
    wrapped = nvvm.compile_ir
    _compile.install()
    assert nvvm.compile_ir is wrapped and wrapped.fastinit_exact


def _simulate(part):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "cuda_simulator_checks.py"), part],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[-1] == "done"
    return lines[:-1]


@pytest.mark.parametrize("part, expected", [("big", 12), ("small", 4 * (5 + 2 + 2 + 2 + 9 + 5))])
def test_simulated_gpu_fills_equal_the_cpu_fills(part, expected):
    """Every distribution and dtype at 65,836 elements (the float64 ziggurat's
    slow paths, the truncated normal's AS 241 tails), the other truncated
    regimes near the counter's 2**32 carry, strided and region outputs (a
    region's rows in one launch), and schemes with out=, on simulated device arrays, also on a stream
    (fastinit.cuda.stream)."""
    lines = _simulate(part)
    assert len(lines) == expected
    assert [line for line in lines if not line.startswith("ok ")] == []


SIMULATED_AVAILABILITY = r"""
import numba_cuda
from numba import cuda
import fastinit.cuda

assert cuda.is_available()  # the simulator says it has a device...
print("available", fastinit.cuda.available())  # ...but it can't reach a real GPU's memory


class Recording:  # a Numba-stream-like handle: which stream does synchronize() wait for?
    auto_synchronize = None
    waited = 0

    def synchronize(self):
        self.waited += 1


on = Recording()
with fastinit.cuda.stream(on):
    fastinit.cuda.synchronize()
print("waited", on.waited)
fastinit.cuda.synchronize()  # outside: Numba's default stream, not the last context's
print("waited", on.waited)
"""


def test_in_the_simulator_nothing_counts_as_a_usable_gpu_and_synchronize_waits_for_the_launch_stream():
    """fastinit.torch and fastinit.jax ask available() before handing a real
    GPU's memory to the kernels; the simulator (whose numba.cuda.is_available()
    is True) can't reach it. The JAX hand-off waits for the fill's stream."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, "-c", SIMULATED_AVAILABILITY], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split() == ["available", "False", "waited", "1", "waited", "1"]


def test_numba_cuda_installed_counts_as_a_usable_gpu_only_with_a_driver_and_device():
    from numba import cuda
    assert fastinit.cuda.available() == cuda.is_available()  # here (CI, no driver): False


def test_cuda_arrays_are_recognized_and_checked():
    assert not fastinit.cuda.is_cuda_array(np.empty(3))
    assert not fastinit.cuda.is_cuda_array([1.0])

    class ReadOnly:  # the CUDA array interface of memory that must not be written
        __cuda_array_interface__ = {"shape": (4,), "typestr": "<f4", "data": (0, True), "version": 3}

    assert fastinit.cuda.is_cuda_array(ReadOnly())
    with pytest.raises(ValueError, match="out is read-only"):
        fastinit.fill_uniform(ReadOnly(), seed=0)

    class DLPackOnly:  # DLPack on a CUDA device (kDLCUDA = 2), no CUDA array interface
        def __dlpack_device__(self):
            return (2, 0)

        def __dlpack__(self, stream=None):
            raise AssertionError("not read")

    with pytest.raises(TypeError, match="DLPack array on a CUDA device"):
        fastinit.fill_normal(DLPackOnly(), seed=0)
    with pytest.raises(TypeError, match="out must be a numpy.ndarray or a CUDA array, got list"):
        fastinit.fill_normal([0.0], seed=0)


def test_the_gpu_benchmark_runs_in_the_simulator():
    """bench/gpu.py, the script for a real GPU, in the simulator on small fills."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    run = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gpu.py"), "--simulate", "-n", "600"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=1800)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"{len(CASES) * len(DTYPES)} of {len(CASES) * len(DTYPES)} cases equal the CPU bit for bit" in run.stdout


def test_without_numba_cuda_a_cuda_array_names_the_extra(monkeypatch):
    """Numba's own older CUDA target is never used in numba-cuda's place."""
    monkeypatch.setitem(sys.modules, "numba_cuda", None)  # import numba_cuda raises ImportError

    class Writable:
        __cuda_array_interface__ = {"shape": (4,), "typestr": "<f4", "data": (0, False), "version": 3}

    assert not fastinit.cuda.available()
    with pytest.raises(ImportError, match=r"needs numba-cuda \(pip install 'fastinit\[cuda\]'\)"):
        fastinit.fill_uniform(Writable(), seed=0)


def test_device_argument_is_checked_before_anything():
    with pytest.raises(ValueError, match="device must be 'cuda' or 'cuda:N', got 'gpu'"):
        fastinit.normal((4, 4), seed=0, device="gpu")
    with pytest.raises(ValueError, match="out= or device=, not both"):
        fastinit.normal((4, 4), seed=0, out=np.empty((4, 4), np.float32), device="cuda")
    with pytest.raises(TypeError, match="needs a shape with device="):
        fastinit.normal(seed=0, device="cuda")
    host = fastinit.normal((4, 4), seed=0, device="cpu")  # the default: a NumPy array
    assert isinstance(host, np.ndarray) and np.array_equal(host, fastinit.normal((4, 4), seed=0))


def test_interfaces_that_cannot_be_given_or_overlap_are_refused():
    class RequiresGrad:  # torch: a CUDA tensor that requires grad has no interface to give
        @property
        def __cuda_array_interface__(self):
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad.")

    assert fastinit.cuda.is_cuda_array(RequiresGrad())
    with pytest.raises(TypeError, match=r"out has no usable __cuda_array_interface__.*param.detach\(\)"):
        fastinit.xavier_uniform(out=RequiresGrad(), seed=1)

    class Broadcast:  # a zero stride: every row is the same memory
        __cuda_array_interface__ = {"shape": (4, 3), "strides": (0, 4), "typestr": "<f4", "data": (0, False),
                                    "version": 3}

    with pytest.raises(ValueError, match="overlapping elements"):
        fastinit.fill_normal(Broadcast(), seed=0)


def test_stream_takes_streams_and_handles_only():
    for bad in (None, True, -1, 1.5, "s"):
        with pytest.raises(TypeError, match="stream needs a CUDA stream or its handle"):
            with fastinit.cuda.stream(bad):
                raise AssertionError("entered")
    assert fastinit.cuda.launch_stream() is None


# ---------------------------------------------------------------------------
# The machine code: ptxas (the NVIDIA wheels of the test extra) assembles the
# PTX for sm_80 and sm_90, nvdisasm prints the SASS.
# ---------------------------------------------------------------------------
_FMA = re.compile(r"\b([A-Z]*FMA[A-Z0-9]*)((?:\.[A-Z0-9_]+)*)\s+([^;]*);")


def _tool(name):
    from cuda.pathfinder import find_nvidia_binary_utility
    found = find_nvidia_binary_utility(name)
    assert found, f"{name} not found: the test extra installs cuda-toolkit[nvcc,nvdisasm]"
    return found


def sass(ptx, cc, tmp_path):
    source, cubin = tmp_path / "kernel.ptx", tmp_path / "kernel.cubin"
    source.write_text(ptx)
    subprocess.run([_tool("ptxas"), f"-arch=sm_{cc[0]}{cc[1]}", str(source), "-o", str(cubin)], check=True)
    return subprocess.run([_tool("nvdisasm"), str(cubin)], check=True, capture_output=True, text=True).stdout


def fused(code):
    """The fused multiply-adds of SASS code by kind (FFMA, DFMA, HFMA2, ...),
    leaving out HFMA2.MMA of zero registers, ptxas's idiom for loading a
    constant into a register (-RZ * RZ + immediates: no arithmetic)."""
    found = Counter()
    for kind, modifiers, operands in _FMA.findall(code):
        if kind == "HFMA2" and re.match(r"R\d+, -RZ, RZ, ", operands):
            continue
        found[kind] += 1
    return found


def _division_and_root_fmas(cc, tmp_path):
    """What ptxas's correctly rounded div.rn/sqrt.rn use, per kind of
    operation: (fused multiply-adds inline at each use, those of the slow-path
    routine it adds once), measured on kernels with one and two such operations."""
    def div1(a):
        a[0] = a[0] / a[1]

    def div2(a):
        a[0] = a[0] / a[1]
        a[2] = a[2] / a[3]

    def sqrt1(a):
        a[0] = math.sqrt(a[0])

    def sqrt2(a):
        a[0] = math.sqrt(a[0])
        a[1] = math.sqrt(a[1])

    per_op = {}
    for name, one, two in (("div", div1, div2), ("sqrt", sqrt1, sqrt2)):
        for t in (types.float32, types.float64):
            c1, c2 = (fused(sass(cuda.compile_ptx(f, (t[::1],), cc=cc)[0], cc, tmp_path)) for f in (one, two))
            per_op[f"{name}.rn.f{t.bitwidth}"] = {k: (c2[k] - c1[k], 2 * c1[k] - c2[k]) for k in c1 | c2}
    return per_op


@pytest.mark.parametrize("cc", [(8, 0), (9, 0)], ids=lambda cc: f"sm_{cc[0]}{cc[1]}")
def test_sass_fuses_nothing_outside_division_and_square_root(no_driver_needed, cc, tmp_path):
    """In the SASS of every kernel specialization, the only fused multiply-adds
    are those of the correctly rounded divisions and square roots (ptxas's own
    routines, which round correctly): exactly as many as those operations of
    the PTX take in kernels that do nothing else."""
    per_op = _division_and_root_fmas(cc, tmp_path)
    assert per_op["div.rn.f32"]["FFMA"][0] > 0  # the calibration sees the routines' FFMAs
    for signature, name in SIGNATURES.items():
        ptx, _ = cuda.compile_ptx(gpu.fill_counters.py_func, signature, cc=cc)
        ops = float_ops(ptx)
        expected = Counter()
        for op, counts in per_op.items():
            if ops[op]:
                for kind, (inline, routine) in counts.items():
                    expected[kind] += ops[op] * inline + routine
        assert fused(sass(ptx, cc, tmp_path)) == +expected, name


def test_sass_check_finds_contracted_products(no_driver_needed, monkeypatch, tmp_path):
    """Without the exact options, the same count finds the fused products."""
    per_op = _division_and_root_fmas((9, 0), tmp_path)
    monkeypatch.setattr(_compile, "EXACT", {})
    for signature, name in SIGNATURES.items():
        if name.startswith(("normal-float32", "uniform-float64")):
            ptx, _ = cuda.compile_ptx(gpu.fill_counters.py_func, signature, cc=(9, 0))
            ops = float_ops(ptx)
            allowed = sum(ops[op] * inline + routine for op, counts in per_op.items() if ops[op]
                          for inline, routine in counts.values())
            assert sum(fused(sass(ptx, (9, 0), tmp_path)).values()) > allowed, name
