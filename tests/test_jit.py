"""The compile options' helpers (fastinit/_jit.py)."""

import os

from fastinit import _jit


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def test_kernel_cache_is_dropped_when_any_source_changes(tmp_path):
    # A package with two modules and a kernel cache next to them.
    package = tmp_path / "pkg"
    cache = package / "__pycache__"
    cache.mkdir(parents=True)
    _write(package / "_kernels.py", "kernel = 1\n")
    _write(package / "_inlined.py", "helper = 1\n")
    _write(cache / "_kernels.fill-1.py311.nbi", "index")
    _write(cache / "_kernels.fill-1.py311.1.nbc", "code")
    _write(cache / "_kernels.cpython-311.pyc", "bytecode")

    # No stamp yet: the cache cannot be trusted and goes (bytecode stays).
    assert _jit.drop_stale_kernel_cache(str(package)) == 2
    assert sorted(os.listdir(cache)) == ["_kernels.cpython-311.pyc", "fastinit-sources.sha256"]

    # Sources unchanged: a cache written since is kept.
    _write(cache / "_kernels.fill-1.py311.nbi", "index")
    assert _jit.drop_stale_kernel_cache(str(package)) == 0
    assert (cache / "_kernels.fill-1.py311.nbi").exists()

    # The inlined module changes (not the kernel's own file): the cache goes.
    _write(package / "_inlined.py", "helper = 2\n")
    assert _jit.drop_stale_kernel_cache(str(package)) == 1
    assert not (cache / "_kernels.fill-1.py311.nbi").exists()
    assert _jit.drop_stale_kernel_cache(str(package)) == 0
