"""No platform math on the path from (seed, parameters) to bits.

Additions, multiplications, divisions, square roots and conversions are
correctly rounded on every IEEE machine; ``exp``, ``log``, ``erfc``, ``pow``,
the trigonometric functions, LAPACK and fused multiply-adds are not the same
function everywhere. Three checks, each of which would have caught the host
``math.erfc`` that made aarch64 differ from x86-64:

* the source of every module on the stream's path calls none of them;
* the host-side parameter computations run with them replaced by functions
  that raise;
* the compiled kernels call no such function and contain no fused
  multiply-add (LLVM IR and machine code).
"""

import ast
import math
import pathlib
import platform
import re

import ml_dtypes
import numba
import numpy as np
import pytest

import fastinit
from fastinit import _hostmath, _kernels, _qr, distributions

PACKAGE = pathlib.Path(fastinit.__file__).parent
#: The benchmark report measures; it computes nothing the stream depends on.
OFF_THE_PATH = {"bench"}

#: Functions of ``math`` and NumPy that the C library or NumPy's own loops
#: compute, not correctly rounded and not the same on every machine.
PLATFORM_FUNCTIONS = frozenset({
    "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "pow", "power", "float_power", "sin", "cos", "tan",
    "asin", "acos", "atan", "atan2", "arcsin", "arccos", "arctan", "arctan2", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "arcsinh", "arccosh", "arctanh", "erf", "erfc", "gamma", "lgamma", "cbrt", "hypot",
    "logaddexp", "logaddexp2", "sinc", "i0", "dist", "fma",
})
#: Modules whose every function is platform math (or randomness not of the stream).
PLATFORM_MODULES = frozenset({"linalg", "fft", "random", "special"})
NUMPY_NAMES = {"np", "numpy", "jnp", "torch", "math", "cmath", "scipy"}


def _modules():
    paths = sorted(p for p in PACKAGE.rglob("*.py") if not OFF_THE_PATH & set(p.relative_to(PACKAGE).parts[:-1]))
    assert {p.name for p in paths} >= {"distributions.py", "_kernels.py", "schemes.py", "_hostmath.py", "_qr.py"}
    return paths


def _literal(node):
    """The value of a numeric literal (with its sign), else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return sign * node.value
    return None


def _exact_power(node):
    """``int ** int`` or ``2.0 ** int`` between literals, and integer powers of
    the literals -1 and 2: exact in every C library."""
    base, exponent = _literal(node.left), _literal(node.right)
    if base is not None and exponent is not None:
        return type(exponent) is int and (type(base) is int or base == 2.0)
    return exponent is None and type(base) is int and base in (-1, 2)


#: References that are no calls: fastinit.torch recognizes torch.linalg.qr in order to replace it.
ALLOWED = {("torch/intercept.py", "torch.linalg.qr")}


def _violations(path):
    tree = ast.parse(path.read_text(), str(path))
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and id(node) not in inner:  # a whole dotted name, a.b.c
            parts, root = [], node
            while isinstance(root, ast.Attribute):
                parts.append(root.attr)
                root = root.value
            chain = ast.unparse(node)
            if (isinstance(root, ast.Name) and root.id in NUMPY_NAMES
                    and set(parts) & (PLATFORM_FUNCTIONS | PLATFORM_MODULES)
                    and (str(path.relative_to(PACKAGE)), chain) not in ALLOWED):
                found.append(f"{where}: {chain}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"math", "cmath", "numpy", "scipy"}:
            names = {a.name for a in node.names}
            if names & (PLATFORM_FUNCTIONS | PLATFORM_MODULES) or node.module.split(".")[0] == "scipy" \
                    or set(node.module.split(".")) & PLATFORM_MODULES:
                found.append(f"{where}: from {node.module} import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "scipy" for a in node.names):
            found.append(f"{where}: import scipy")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and not _exact_power(node):
            found.append(f"{where}: {ast.unparse(node)} (pow)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "pow":
            found.append(f"{where}: {ast.unparse(node)}")
    return found


def test_no_module_on_the_stream_path_calls_platform_math():
    found = [v for path in _modules() for v in _violations(path)]
    assert not found, "\n".join(found)


def test_the_source_check_catches_platform_math(tmp_path):
    # the check itself, on code that has what it must catch (and what it must let through)
    bad = tmp_path / "bad.py"
    bad.write_text("import math\nimport numpy as np\nfrom math import erfc\nfrom scipy import special\n"
                   "a = math.erfc(1.0)\nb = np.exp(2.0)\nc = x ** 2\nd = np.linalg.qr(m)\ne = pow(x, 3)\n"
                   "f = 2.0 ** 0.5\n")
    good = tmp_path / "good.py"
    good.write_text("import math\nimport numpy as np\na = math.sqrt(2.0)\nb = 2.0 ** -24\nc = 2 ** 64\n"
                    "d = (-1) ** k\ne = np.sqrt(x)\nf = math.isfinite(x)\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path
    try:
        assert len(_violations(bad)) == 8, _violations(bad)
        assert _violations(good) == []
    finally:
        PACKAGE = saved


def _parameter_computations():
    bf16 = np.dtype(ml_dtypes.bfloat16)
    for dtype in (np.float32, np.float64, np.float16, bf16):
        out = np.empty((20, 30), dtype)
        fastinit.fill_uniform(out, -0.3, 0.7, seed=1)
        fastinit.fill_normal(out, 0.1, 0.02, seed=1)
        for interval in ((0.1, 1.5, -2.0, 3.5), (0.0, 1.0, 2.9, 3.5), (0.0, 1.0, -30.0, 0.5), (0.0, 0.02, -0.04, 0.04)):
            fastinit.fill_truncated_normal(out, *interval, seed=1)
        fastinit.xavier_uniform(out=out, gain=fastinit.calculate_gain("leaky_relu", 0.2), seed=1)
        fastinit.kaiming_normal(out=out, a=math.sqrt(5), seed=1)
        fastinit.variance_scaling(out=out, scale=2.0, mode="fan_avg", distribution="truncated_normal", seed=1)
        fastinit.lecun_uniform(out=out, seed=1)
        fastinit.orthogonal(out=out, gain=1.5, seed=1)
        fastinit.sparse(out=out, sparsity=0.3, seed=1)


def _raising(name):
    def refuse(*args, **kwargs):
        raise AssertionError(f"math.{name} called on the stream's path")
    return refuse


def test_parameters_are_computed_without_the_c_library(monkeypatch):
    _parameter_computations()  # compiled first: Numba's own typing looks at the math module
    for name in PLATFORM_FUNCTIONS:
        if hasattr(math, name):
            monkeypatch.setattr(math, name, _raising(name))
    for cached in (distributions._truncated_plan, distributions._uniform_plan, distributions._normal_plan,
                   _hostmath.normal_cdf, _hostmath.normal_cdf_width):
        cached.cache_clear()
    _parameter_computations()


# ---------------------------------------------------------------------------
# The compiled kernels
# ---------------------------------------------------------------------------
_MATH_CALL = re.compile(
    r"call [^@]*@(?:llvm\.)?(exp|exp2|expm1|log|log2|log10|log1p|pow|powi|sin|cos|tan|asin|acos|atan|atan2|sinh|"
    r"cosh|tanh|erf|erfc|cbrt|hypot|fma|fmuladd|sincos)(?:f|l)?(?:\.[a-z0-9]+)*\(")
_FAST_FLAGS = re.compile(r"= (?:f(?:add|sub|mul|div|rem|neg)|fcmp|call) (?:[a-z]+ )*(fast|contract|reassoc|afn|arcp)\b")
_FMA_INSTRUCTIONS = {
    "x86_64": re.compile(r"\bv?fn?m(?:add|sub)(?:132|213|231)?[ps][sdh]\b|\bvfmaddsub|\bvfmsubadd"),
    "aarch64": re.compile(r"\bfn?m(?:add|sub)\b|\bfml[as]\b"),
}


def _compile_kernels():
    """Reach a specialization of every kernel and of every code path in it:
    each distribution's parameter types (the truncated normal's four regimes)
    in each dtype on one thread, the same on two threads and by address in the
    stored widths (float32, float64), the constant fill, Philox rows and the QR."""
    fills = [lambda o: fastinit.fill_uniform(o, -0.5, 2.0, seed=3),
             lambda o: fastinit.fill_normal(o, 0.25, 3.0, seed=3)]
    fills += [lambda o, iv=iv: fastinit.fill_truncated_normal(o, *iv, seed=3)
              for iv in ((0.0, 1.0, -2.0, 2.0), (0.0, 1.0, -3.0, 3.0), (0.0, 1.0, 2.0, 3.0), (0.0, 0.02, -2.0, 2.0))]
    for dtype in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16)):
        for fill in fills:
            fill(np.empty(100, dtype))
            if dtype.itemsize > 2:
                fill(np.empty(50_000, dtype))
                a = np.empty(64, dtype)
                fill(fastinit._formats.Memory(a.ctypes.data, 64, dtype))
    fastinit.fill_constant(np.empty(50_000, np.float32), 0.5)
    fastinit.philox4x32(np.zeros((3, 4), np.uint32), np.zeros(2, np.uint32))
    fastinit.orthogonal((40, 30), seed=1)


def _dispatchers():
    import numba.core.registry
    found = []
    for module in (_kernels, _qr, fastinit.bits, fastinit._philox):
        for value in vars(module).values():
            if isinstance(value, numba.core.registry.CPUDispatcher) and value.signatures:
                found.append(value)
    return found


def _check_compiled_kernels():
    """Compile the kernels afresh (the caller gives an empty cache: Numba
    returns no valid IR for kernels loaded from a cache) and check their LLVM
    IR and machine code; returns the number of specializations checked."""
    import warnings
    warnings.simplefilter("error")  # "Inspection disabled for cached code" must not pass
    _compile_kernels()
    machine = platform.machine().lower().replace("arm64", "aarch64").replace("amd64", "x86_64")
    fma = _FMA_INSTRUCTIONS[machine]
    dispatchers = _dispatchers()
    names = {d.py_func.__name__ for d in dispatchers}
    assert {"fill_serial", "fill_parallel", "fill_serial_at", "constant_parallel", "philox_rows",
            "_qr_in_place"} <= names, names
    checked = 0
    for dispatcher in dispatchers:
        for signature in dispatcher.signatures:
            ir = dispatcher.inspect_llvm(signature)
            asm = dispatcher.inspect_asm(signature)
            where = f"{dispatcher.py_func.__name__}{signature}"
            assert "define" in ir and len(asm) > 1000, where
            assert not _MATH_CALL.findall(ir), (where, sorted(set(_MATH_CALL.findall(ir))))
            assert not _FAST_FLAGS.findall(ir), (where, sorted(set(_FAST_FLAGS.findall(ir))))
            assert not fma.findall(asm), (where, sorted(set(fma.findall(asm)))[:5])
            if (machine == "x86_64" and dispatcher.py_func.__name__ == "fill_parallel"
                    and signature[0].dtype == numba.float32 and "Uniform" in str(signature[1])):
                assert "movntps" in asm, where   # large outputs stream (docs/stream-format.md: same bits)
            checked += 1
    return checked


def test_compiled_kernels_call_no_platform_math_and_fuse_nothing(tmp_path):
    import os
    import subprocess
    import sys
    code = "from tests.test_platform_math import _check_compiled_kernels as check; print('checked', check())"
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent, env=env, capture_output=True,
                            text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.split()[-1]) >= 30, result.stdout


def test_the_kernel_check_catches_platform_math():
    # the patterns, on IR and machine code that has what they must catch
    assert _MATH_CALL.findall("  %3 = call double @llvm.exp.f64(double %2)\n  %4 = call float @erfcf(float %1)")
    assert _MATH_CALL.findall("%5 = call <16 x float> @llvm.fmuladd.v16f32(<16 x float> %a, <16 x float> %b, <16 x float> %c)")
    assert not _MATH_CALL.findall("%6 = call double @llvm.sqrt.f64(double %5)\n call void @llvm.memset.p0.i64(")
    assert _FAST_FLAGS.findall("%7 = fmul contract double %a, %b") and _FAST_FLAGS.findall("%8 = fadd fast float %a, %b")
    assert not _FAST_FLAGS.findall("%9 = fmul double %a, %b")
    assert _FMA_INSTRUCTIONS["x86_64"].findall("\tvfmadd231ps\t%zmm1, %zmm2, %zmm3")
    assert not _FMA_INSTRUCTIONS["x86_64"].findall("\tvmulps\t%zmm1, %zmm2, %zmm3\n\tvaddps\t%zmm1, %zmm2, %zmm3")
    assert _FMA_INSTRUCTIONS["aarch64"].findall("\tfmla\tv0.4s, v1.4s, v2.4s")
    assert _FMA_INSTRUCTIONS["aarch64"].findall("\tfmadd\td0, d1, d2, d3")
    assert not _FMA_INSTRUCTIONS["aarch64"].findall("\tfmul\tv0.4s, v1.4s, v2.4s")


@pytest.mark.parametrize("shape", [(40, 30), (30, 40), (64, 64), (257, 100)])
def test_orthogonal_is_the_same_on_any_thread_count(shape):
    import numba
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            results.append(fastinit.orthogonal(shape, gain=1.5, dtype=np.float64, seed=8))
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert results[0].tobytes() == results[1].tobytes()
