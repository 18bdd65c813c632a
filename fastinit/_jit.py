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
  inlines does; ``drop_stale_kernel_cache()`` closes that gap in the
  directory Numba caches the kernels in, wherever that is (the package's
  ``__pycache__``, ``NUMBA_CACHE_DIR``, the user's cache directory, or the
  private fallback below).
* Where Numba finds no writable place for that cache (``NUMBA_CACHE_DIR``,
  the package's ``__pycache__``, the user's cache directory), as in a
  read-only system-wide installation run by a user without a writable home,
  the kernels are cached in a directory of the user's own under the
  temporary directory instead; where there is none, they are compiled in
  every process, with one warning. Numba would otherwise raise at import.
"""

import functools
import glob
import hashlib
import os
import stat
import tempfile
import warnings

import numba
from numba import types
from numba.extending import intrinsic

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_STAMP = "fastinit-sources.sha256"
_TEMP_CACHE_PREFIX = "fastinit-numba-cache-"  # + the user id, under tempfile.gettempdir()


def _source_digest(package=_PACKAGE):
    """The SHA-256 (hex) of every source file of the package, names included."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(package, "*.py"))):
        with open(path, "rb") as source:
            digest.update(os.path.basename(path).encode() + b"\0" + source.read())
    return digest.hexdigest()


def _package_cache_files(package, cache):
    """The files of ``cache`` that hold kernels of the package's modules:
    Numba names them ``<module>.<function>-<line>.pyXY.nbi`` (the index) and
    ``....pyXY.<n>.nbc`` (the code), ``<module>`` being the file's name
    without ``.py``. Other files (other projects' kernels, where the
    directory is shared) are not listed."""
    modules = {os.path.basename(path)[:-3] for path in glob.glob(os.path.join(package, "*.py"))}
    try:
        names = os.listdir(cache)
    except OSError:
        return []
    return [os.path.join(cache, name) for name in names
            if name.endswith((".nbi", ".nbc")) and name.split(".", 1)[0] in modules]


def drop_stale_kernel_cache(package=_PACKAGE, cache=None, digest=None):
    """Delete the package's cached kernels in ``cache`` (the directory Numba
    caches them in; default the package's ``__pycache__``) if any of the
    package's source files changed since they were cached.

    A kernel in ``_kernels.py`` inlines ``_philox.py``, ``_ziggurat.py``,
    ``_elementary.py`` and others, but Numba checks only ``_kernels.py``
    itself: an edit to an inlined module (an upgrade, a checkout that moves
    to another commit, an editable install) would otherwise leave stale
    machine code, with other bits than the source defines. The digest of
    every source file of the package (``digest``, computed when not given) is
    kept in ``cache``; when it changes, the package's kernels there go, and
    only those (see ``_package_cache_files``). Returns the number of files
    deleted; raises ``OSError`` where a stale file could not be deleted."""
    if cache is None:
        cache = os.path.join(package, "__pycache__")
    if digest is None:
        digest = _source_digest(package)
    stamp = os.path.join(cache, _STAMP)
    try:
        with open(stamp) as f:
            if f.read().strip() == digest:
                return 0
    except OSError:
        pass
    stale = _package_cache_files(package, cache)
    for path in stale:
        try:
            os.remove(path)
        except FileNotFoundError:  # another process dropped it first
            pass
    try:
        os.makedirs(cache, exist_ok=True)
        with open(stamp, "w") as f:
            f.write(digest + "\n")
    except OSError:  # the stale kernels are gone; the next process checks again
        pass
    return len(stale)


def _cache_probe():  # pragma: no cover - never compiled
    pass


def _numba_cache_path():
    """The directory Numba caches this package's kernels in, asked of Numba
    itself, or None where it has no writable one: ``njit(cache=True)`` picks
    the location of a function's cache when it decorates it (no
    compilation), and raises ``RuntimeError`` where there is none. Every
    locator of Numba derives the directory from the folder of the function's
    file, and the probe shares its folder with the kernels' modules (the
    folder's ``__pycache__``, or ``<NUMBA_CACHE_DIR or ~/.cache/numba>/
    <folder name>_<SHA-1 of the folder's path>``)."""
    try:
        probe = numba.njit(cache=True)(_cache_probe)
    except RuntimeError:
        return None
    return getattr(getattr(probe, "_cache", None), "cache_path", None)


def _checked_cache_path(digest):
    """``_numba_cache_path()`` with the stale kernels there deleted, or None
    where there is no such directory or the stale kernels cannot be deleted
    (the cache cannot be trusted there)."""
    path = _numba_cache_path()
    if path is None:
        return None
    try:
        drop_stale_kernel_cache(_PACKAGE, path, digest)
    except OSError:
        return None
    return path


class _CacheDir:
    """``numba.config.CACHE_DIR`` set to ``path`` while fastinit's kernels
    are decorated (Numba reads it then and keeps the location), and restored
    afterwards: other Numba code in the process keeps its own cache places."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.saved = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = self.path

    def __exit__(self, *exc):
        numba.config.CACHE_DIR = self.saved


def _private_temp_dir(package=_PACKAGE):
    """A kernel cache directory for this package under the temporary
    directory, private to the user (created 0o700; one that exists must be a
    directory of theirs that nobody else can write, since Numba runs the code
    it finds there), or None."""
    getuid = getattr(os, "getuid", None)
    user = str(getuid()) if getuid else os.environ.get("USERNAME", "user")
    try:
        root = os.path.join(tempfile.gettempdir(), _TEMP_CACHE_PREFIX + user)
        os.makedirs(root, mode=0o700, exist_ok=True)
        info = os.lstat(root)
        if not stat.S_ISDIR(info.st_mode) or (getuid and (info.st_uid != getuid() or info.st_mode & 0o022)):
            return None
        path = os.path.join(root, hashlib.sha256(package.encode()).hexdigest()[:16])
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path


def _choose_cache():
    """(cache, directory): whether the kernels are cached, and the directory
    fastinit gives Numba for them (None: Numba's own choice). The place
    Numba caches them in is checked against the sources' digest first."""
    digest = _source_digest()
    if _checked_cache_path(digest) is not None:
        return True, None
    directory = _private_temp_dir()
    if directory is not None:
        with _CacheDir(directory):
            if _checked_cache_path(digest) is not None:
                return True, directory
    warnings.warn(
        f"fastinit: Numba has no writable directory for its kernel cache (NUMBA_CACHE_DIR, "
        f"{os.path.join(_PACKAGE, '__pycache__')}, the user's cache directory, or a private one in the "
        f"temporary directory); the kernels are compiled again in every process, which takes seconds. "
        f"Set NUMBA_CACHE_DIR to a writable directory to cache them.", RuntimeWarning, stacklevel=2)
    return False, None


_CACHE, _CACHE_DIR = _choose_cache()


def _cached_njit(function, options):
    if _CACHE_DIR is None:
        return numba.njit(function, cache=_CACHE, **options)
    with _CacheDir(_CACHE_DIR):
        return numba.njit(function, cache=True, **options)


def kernel(function=None, **options):
    """``numba.njit(cache=True, error_model="numpy")``, cached where a cache
    can be written (see the module's docstring): ``@kernel`` or
    ``@kernel(**more_options)``."""
    options = {"error_model": "numpy", **options}
    if function is None:
        return lambda f: _cached_njit(f, options)
    return _cached_njit(function, options)


def parallel_kernel(function=None, **options):
    """``kernel`` with ``parallel=True``."""
    return kernel(function, parallel=True, **options)


inline = functools.partial(numba.njit, forceinline=True, error_model="numpy")
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


@intrinsic
def fetch_add(typingctx, array, index, value):
    """``array[index] += value`` as one atomic operation; returns the old
    value (a uint64 array). The parallel fill kernel's threads take their
    chunks of work from one counter with it, so a thread that runs takes the
    chunks of one that the operating system holds back."""
    if not (isinstance(array, types.Array) and array.dtype == types.uint64):
        return None

    def codegen(context, builder, signature, args):
        ary, idx, val = args
        pointer = builder.gep(context.make_array(signature.args[0])(context, builder, ary).data, [idx])
        return builder.atomic_rmw("add", pointer, context.cast(builder, val, signature.args[2], types.uint64),
                                  "monotonic")

    return types.uint64(array, index, value), codegen


def splat(builder, value, vector):
    """LLVM IR: a value of the LLVM vector type ``vector`` with ``value`` in every lane."""
    from llvmlite import ir
    undefined = ir.Constant(vector, ir.Undefined)
    one = builder.insert_element(undefined, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, undefined, ir.Constant(ir.VectorType(ir.IntType(32), vector.count),
                                                              [0] * vector.count))


@intrinsic
def stream_store(typingctx, dst, start, src):
    """Copy all of ``src`` to ``dst[start:]`` with non-temporal 64-byte vector
    stores: they bypass the caches, so an output much larger than them is not
    read into them first. ``src`` holds a multiple of 64 bytes; ``dst``'s
    element ``start`` must lie on a 64-byte boundary. The values are copied as
    they are. Call ``store_fence()`` before other threads may read ``dst``."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array) and dst.dtype == src.dtype
            and dst.dtype in (types.float32, types.float64) and src.layout in "CA"):
        return None

    def codegen(context, builder, signature, args):
        from llvmlite import ir
        from numba.core import cgutils
        dst_type, _, src_type = signature.args
        target = context.make_array(dst_type)(context, builder, args[0])
        source = context.make_array(src_type)(context, builder, args[2])
        first = context.cast(builder, args[1], signature.args[1], types.intp)
        element = context.get_data_type(dst_type.dtype)
        width = 64 // context.get_abi_sizeof(element)
        vector = ir.VectorType(element, width)
        count = builder.udiv(source.nitems, context.get_constant(types.intp, width))
        nontemporal = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
        with cgutils.for_range(builder, count) as loop:
            offset = builder.mul(loop.index, context.get_constant(types.intp, width))
            value = builder.load(builder.bitcast(builder.gep(source.data, [offset]), vector.as_pointer()), align=4)
            pointer = builder.bitcast(builder.gep(target.data, [builder.add(first, offset)]), vector.as_pointer())
            store = builder.store(value, pointer, align=64)
            store.set_metadata("nontemporal", nontemporal)
        return context.get_dummy_value()

    return types.none(dst, start, src), codegen


@intrinsic
def store_fence(typingctx):
    """A full memory fence: the non-temporal stores before it are visible to
    every thread that synchronizes with this one afterwards."""
    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.none(), codegen
