"""How fastinit's GPU kernels are compiled: the same IEEE operations as on the CPU.

numba-cuda contracts ``a * b + c`` into a fused multiply-add (``fma.rn``) by
default, which rounds once where the CPU rounds twice: other bits. It has no
switch for that in its kernel options, but NVVM has (``-fma=0``). Every NVVM
compilation of code that contains a fastinit function (their mangled names
carry the package name) gets ``-fma=0`` with correctly rounded division and
square root and no flush of subnormals to zero (``-prec-div=1 -prec-sqrt=1
-ftz=0``, numba-cuda's defaults without ``fastmath``, made explicit); other
Numba code in the process compiles as it would. The kernels are compiled
without link-time optimization: nvJitLink's LTO would fuse the products and
sums again. ptxas keeps PTX's ``mul.rn``/``add.rn`` apart (the ``.rn`` forms
are never contracted).
"""

import functools

#: Part of the mangled name of every fastinit function in an NVVM module.
MARK = "fastinit"

#: NVVM options of fastinit's code.
EXACT = {"fma": False, "prec_div": True, "prec_sqrt": True, "ftz": False}


def _exact(compile_ir):
    @functools.wraps(compile_ir)
    def compile_exact(llvmir, **options):
        modules = [llvmir] if isinstance(llvmir, str) else llvmir
        if any(MARK in module for module in modules):
            if options.get("fastmath"):
                raise ValueError("fastinit's GPU kernels are never compiled with fastmath")
            options.pop("fastmath", None)
            options.update(EXACT)
        return compile_ir(llvmir, **options)
    compile_exact.fastinit_exact = True
    return compile_exact


def simulated():
    """Whether Numba's CUDA simulator stands in for the GPU (NUMBA_ENABLE_CUDASIM=1)."""
    from numba import config
    return bool(getattr(config, "ENABLE_CUDASIM", False))


def install():
    """Wrap numba-cuda's NVVM entry point (once per process)."""
    from numba.cuda.cudadrv import nvvm
    if nvvm.compile_ir is None:  # the CUDA simulator: nothing is compiled for a GPU
        return
    if not getattr(nvvm.compile_ir, "fastinit_exact", False):
        nvvm.compile_ir = _exact(nvvm.compile_ir)
