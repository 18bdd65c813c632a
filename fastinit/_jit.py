"""Numba options shared by every compiled function of the package.

* ``error_model="numpy"``: float division follows IEEE (no ZeroDivisionError
  branch), which LLVM needs in order to vectorize loops that divide.
* ``forceinline=True`` for helpers: LLVM's inliner would leave large helpers
  (a Philox block, AS 241) as calls inside the hot loop, which prevents
  vectorization; ``alwaysinline`` puts them in the loop body.
* ``fastmath`` stays off: no FMA contraction or reassociation, so the output
  bits are the same on every x86-64 machine whatever its vector width.
* ``prefer_wide_vectors()`` (below) lifts LLVM's preference for 256-bit
  vectors on Intel cores in the functions that hold the hot loops.
* Entry points are cached on disk (``cache=True``) so a new process loads the
  compiled kernels instead of compiling them again. Numba invalidates a
  cached kernel when the file that defines it changes, not when a module it
  inlines does; ``drop_stale_kernel_cache()`` closes that gap for the cache
  next to the package.
"""

import functools
import glob
import hashlib
import os

import numba
from numba import types
from numba.extending import intrinsic

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_STAMP = "fastinit-sources.sha256"


def drop_stale_kernel_cache(package=_PACKAGE):
    """Delete the package's cached kernels if any of its source files changed
    since they were cached.

    A kernel in ``_kernels.py`` inlines ``_philox.py``, ``_ziggurat.py`` and
    ``_elementary.py``, but Numba checks only ``_kernels.py`` itself: an edit
    to an inlined module (a checkout that moves to another commit, an
    editable install) would otherwise leave stale machine code, with other
    bits than the source defines. The digest of every source file of the
    package is kept next to the cache; when it changes, the cache goes.
    Returns the number of files deleted. Caches elsewhere (``NUMBA_CACHE_DIR``)
    are not touched."""
    cache = os.path.join(package, "__pycache__")
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(package, "*.py"))):
        with open(path, "rb") as source:
            digest.update(os.path.basename(path).encode() + b"\0" + source.read())
    stamp = os.path.join(cache, _STAMP)
    try:
        with open(stamp) as f:
            if f.read().strip() == digest.hexdigest():
                return 0
    except OSError:
        pass
    stale = glob.glob(os.path.join(cache, "*.nbi")) + glob.glob(os.path.join(cache, "*.nbc"))
    try:
        for path in stale:
            os.remove(path)
        os.makedirs(cache, exist_ok=True)
        with open(stamp, "w") as f:
            f.write(digest.hexdigest() + "\n")
    except OSError:  # a read-only installation: its cache, if any, is its own
        return 0
    return len(stale)


drop_stale_kernel_cache()

inline = functools.partial(numba.njit, forceinline=True, error_model="numpy")
kernel = functools.partial(numba.njit, cache=True, error_model="numpy")
parallel_kernel = functools.partial(numba.njit, cache=True, parallel=True, error_model="numpy")
INLINE_OPTIONS = {"forceinline": True, "error_model": "numpy"}


@intrinsic
def prefer_wide_vectors(typingctx):
    """Let LLVM vectorize the loops of the function that calls this at the
    full AVX-512 width.

    LLVM's tuning for many Intel cores ("prefer-256-bit") vectorizes at 256
    bits even where 512-bit registers exist. The kernels here are
    arithmetic-bound and measured 1.1x to 1.5x faster at 512 bits. Numba
    optimizes (and vectorizes) each jitted function on its own before
    inlining it, so the call belongs in the function that holds the loop.
    The attribute affects that function alone, never other Numba code, and
    changes no result: the same IEEE operations run at any vector width.

    The attribute is the function's own "target-features": the process-wide
    features plus "-prefer-256-bit". llvmlite's AttributeSet accepts only
    enum attributes through add(); a string attribute is valid LLVM IR, so it
    is added as a set element. Where any of this is unavailable, nothing is
    added and the loops keep LLVM's default width.
    """

    def codegen(context, builder, signature, args):
        features = getattr(context.codegen(), "_tm_features", None)
        attributes = builder.function.attributes
        if features and "+avx512f" in features and isinstance(attributes, set):
            set.add(attributes, '"target-features"="%s,-prefer-256-bit"' % features)
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def address_as_pointer(typingctx, address, dtype):
    """A pointer to elements of ``dtype`` (a NumPy dtype argument) at the
    integer ``address``, for ``numba.carray`` over memory that no NumPy array
    describes (the caller guarantees the address and the extent)."""
    pointer = types.CPointer(dtype.dtype)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer))
    return pointer(address, dtype), codegen
