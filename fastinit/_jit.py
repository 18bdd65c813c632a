"""Numba options shared by every compiled function of the package.

* ``error_model="numpy"``: float division follows IEEE (no ZeroDivisionError
  branch), which LLVM needs in order to vectorize loops that divide.
* ``forceinline=True`` for helpers: LLVM's inliner would leave large helpers
  (a Philox block, AS 241) as calls inside the hot loop, which prevents
  vectorization; ``alwaysinline`` puts them in the loop body.
* ``fastmath`` stays off: no FMA contraction or reassociation, so the output
  bits are the same on every x86-64 machine whatever its vector width.
* Entry points are cached on disk (``cache=True``) so a new process loads the
  compiled kernels instead of compiling them again.
"""

import functools

import numba

inline = functools.partial(numba.njit, forceinline=True, error_model="numpy")
kernel = functools.partial(numba.njit, cache=True, error_model="numpy")
parallel_kernel = functools.partial(numba.njit, cache=True, parallel=True, error_model="numpy")
INLINE_OPTIONS = {"forceinline": True, "error_model": "numpy"}
