"""The compile options' helpers (fastinit/_jit.py)."""

import glob
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastinit
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


def test_private_temp_dir_is_the_users_own(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    path = _jit._private_temp_dir("/some/site-packages/fastinit")
    root = os.path.dirname(path)
    assert os.path.basename(root) == _jit._TEMP_CACHE_PREFIX + str(os.getuid())
    assert os.stat(root).st_mode & 0o777 == 0o700 and os.path.isdir(path)
    assert _jit._private_temp_dir("/another/fastinit") != path  # one folder per installation
    # Numba loads the machine code it finds there: a folder others can write is refused.
    os.chmod(root, 0o777)
    assert _jit._private_temp_dir("/some/site-packages/fastinit") is None
    shutil.rmtree(root)
    os.symlink(tmp_path / "elsewhere", root)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    assert _jit._private_temp_dir("/some/site-packages/fastinit") is None


def test_fallback_cache_is_dropped_when_any_source_changes(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    _write(package / "_kernels.py", "kernel = 1\n")
    nested = tmp_path / "cache" / "pkg_0123abcd"  # where Numba puts a folder's kernels under CACHE_DIR
    nested.mkdir(parents=True)
    _write(nested / "_kernels.fill-1.py311.nbi", "index")
    _write(nested / "_kernels.fill-1.py311.1.nbc", "code")
    assert _jit.drop_stale_kernel_cache(str(package), str(nested)) == 2
    assert os.listdir(nested) == [_jit._STAMP] and not (package / "__pycache__").exists()
    _write(nested / "_kernels.fill-1.py311.nbi", "index")
    assert _jit.drop_stale_kernel_cache(str(package), str(nested), _jit._source_digest(str(package))) == 0
    _write(package / "_kernels.py", "kernel = 2\n")
    assert _jit.drop_stale_kernel_cache(str(package), str(nested)) == 1


# Imports fastinit from the read-only copy, checks that none of the places
# Numba could cache in is writable, fills, and writes the values to stdout.
_READ_ONLY_PROGRAM = """
import os, sys
site, unwritable = sys.argv[1], sys.argv[2:]
for folder in unwritable:
    try:
        open(os.path.join(folder, "write-test"), "w").close()
    except PermissionError:
        continue
    sys.exit("still writable: " + folder)
import numpy as np
import fastinit
if not fastinit.__file__.startswith(site):
    sys.exit("imported " + fastinit.__file__)
out = np.empty(100000, np.float32)
fastinit.fill_normal(out, seed=0)
sys.stdout.buffer.write(out.tobytes())
"""


def _unprivileged_runner(cwd):
    """(command prefix, subprocess.run keywords) that run a command as a user
    whom permissions apply to. Root writes through a-w, so as root the command
    runs as ``nobody``: plainly where nobody can run this interpreter, else
    through setpriv keeping only CAP_DAC_READ_SEARCH (read any file, e.g. an
    interpreter under /root; write checks still apply)."""
    if os.geteuid() != 0:
        return [], {}
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.fail("running as root and there is no user 'nobody' to run the read-only check as")
    uid, gid = nobody.pw_uid, nobody.pw_gid
    candidates = [([], {"user": uid, "group": gid, "extra_groups": []})]
    setpriv = shutil.which("setpriv")
    if setpriv:
        candidates.append(([setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                            "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"], {}))
    for prefix, keywords in candidates:
        try:
            check = subprocess.run(prefix + [sys.executable, "-c", "import os, numpy, numba; print(os.geteuid())"],
                                   cwd=cwd, capture_output=True, text=True, **keywords)
        except OSError:  # this interpreter is not executable by nobody
            continue
        if check.returncode == 0 and check.stdout.strip() == str(uid):
            return prefix, keywords
    pytest.fail("running as root and cannot run this interpreter as 'nobody' (nor through setpriv with "
                "CAP_DAC_READ_SEARCH): the read-only installation cannot be checked")


@pytest.fixture
def read_only_installation():
    """A copy of the package in a read-only tree, read-only HOME and
    NUMBA_CACHE_DIR, and a world-writable (sticky) TMPDIR, all readable by
    the unprivileged user; yields (run, tmpdir) where run(env changes)
    imports fastinit and fills there, returning the CompletedProcess."""
    with tempfile.TemporaryDirectory() as base:
        os.chmod(base, 0o755)
        site, home, numba_cache, tmpdir = (os.path.join(base, name) for name in ("site", "home", "cache", "tmp"))
        shutil.copytree(os.path.dirname(fastinit.__file__), os.path.join(site, "fastinit"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        os.makedirs(home)
        os.makedirs(numba_cache)
        os.makedirs(tmpdir)
        os.chmod(tmpdir, 0o1777)
        for top in (site, home, numba_cache):
            for folder, _, files in os.walk(top):
                for path in [folder] + [os.path.join(folder, f) for f in files]:
                    os.chmod(path, os.stat(path).st_mode & ~0o222)
        prefix, keywords = _unprivileged_runner(site)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_", "PYTHON"))}
        env.update(HOME=home, NUMBA_CACHE_DIR=numba_cache, TMPDIR=tmpdir, PYTHONPATH=site)

        def run():
            argv = [sys.executable, "-c", _READ_ONLY_PROGRAM, site, os.path.join(site, "fastinit"), home, numba_cache]
            return subprocess.run(prefix + argv, cwd=site, env=env, capture_output=True, timeout=600, **keywords)

        yield run, tmpdir


def _expected_fill():
    out = np.empty(100000, np.float32)
    fastinit.fill_normal(out, seed=0)
    return out


def _warning_lines(stderr):
    return [line for line in stderr.decode(errors="replace").splitlines() if "Warning" in line]


def test_import_and_fill_with_no_writable_numba_cache_place(read_only_installation):
    run, tmpdir = read_only_installation
    expected = _expected_fill()
    for attempt in ("compiles and caches", "loads the cache"):
        done = run()
        assert done.returncode == 0, (attempt, done.stderr.decode(errors="replace"))
        assert len(_warning_lines(done.stderr)) <= 1, done.stderr
        np.testing.assert_array_equal(np.frombuffer(done.stdout, np.float32), expected)
        # the kernels went to the user's private folder under TMPDIR
        cached = glob.glob(os.path.join(tmpdir, _jit._TEMP_CACHE_PREFIX + "*", "**", "*.nbi"), recursive=True)
        assert cached, (attempt, os.listdir(tmpdir))


def test_import_and_fill_with_no_writable_cache_at_all_warns_once(read_only_installation):
    run, tmpdir = read_only_installation
    # The private folder's name taken by a folder the user cannot write (root's, or read-only).
    uid = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.getuid()
    taken = os.path.join(tmpdir, _jit._TEMP_CACHE_PREFIX + str(uid))
    os.mkdir(taken, 0o555)
    done = run()
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    warned = _warning_lines(done.stderr)
    assert len(warned) == 1 and "NUMBA_CACHE_DIR" in warned[0], done.stderr
    np.testing.assert_array_equal(np.frombuffer(done.stdout, np.float32), _expected_fill())
    assert os.listdir(taken) == []


def test_stale_check_touches_only_the_packages_own_cache_files(tmp_path):
    # A directory Numba shares between projects (a NUMBA_CACHE_DIR subfolder,
    # the user's cache directory): only files named after the package's
    # modules ("<module>.<function>-<line>.pyXY.nbi/.nbc") are fastinit's.
    package = tmp_path / "pkg"
    package.mkdir()
    _write(package / "_kernels.py", "kernel = 1\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    ours = ["_kernels.fill-1.py311.nbi", "_kernels.fill-1.py311.1.nbc"]
    theirs = ["other.fill-1.py311.nbi", "other.fill-1.py311.1.nbc", "_kernels_extra.f-3.py311.nbi", "notes.txt"]
    for name in ours + theirs:
        _write(shared / name, "x")
    assert _jit.drop_stale_kernel_cache(str(package), str(shared)) == 2
    assert sorted(os.listdir(shared)) == sorted(theirs + [_jit._STAMP])


def test_stale_kernels_that_cannot_be_deleted_make_the_cache_untrusted(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    _write(package / "_kernels.py", "kernel = 1\n")
    _write(tmp_path / "_kernels.fill-1.py311.nbi", "index")

    def refuse(path):
        raise PermissionError(path)

    monkeypatch.setattr(_jit.os, "remove", refuse)
    with pytest.raises(OSError):
        _jit.drop_stale_kernel_cache(str(package), str(tmp_path))
    assert not (tmp_path / _jit._STAMP).exists()


# Imports fastinit from the copy in sys.argv[1], fills, and writes the values to stdout.
_FILL_PROGRAM = """
import sys
import numpy as np
import fastinit
if not fastinit.__file__.startswith(sys.argv[1]):
    sys.exit("imported " + fastinit.__file__)
out = np.empty(100000, np.float32)
fastinit.fill_normal(out, seed=0)
sys.stdout.buffer.write(out.tobytes())
"""


def _copy_package(site):
    shutil.copytree(os.path.dirname(fastinit.__file__), os.path.join(site, "fastinit"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return os.path.join(site, "fastinit")


def _change_philox_multiplier(package):
    """Edit the copy's ``_philox.py``, a module the kernels of ``_kernels.py``
    inline (``_kernels.py`` itself is left as it is, so Numba's own check of
    the kernels' file passes): every Philox word, hence every value, changes."""
    path = os.path.join(package, "_philox.py")
    with open(path) as f:
        text = f.read()
    found = re.search(r"^PHILOX_M0 = np\.uint64\((0x[0-9A-Fa-f]+)\)$", text, re.M)
    assert found, "no PHILOX_M0 line in _philox.py"
    mode = os.stat(path).st_mode
    os.chmod(path, mode | stat.S_IWUSR)
    _write(path, text[:found.start(1)] + hex(int(found.group(1), 16) ^ 2) + text[found.end(1):])
    os.chmod(path, mode)


def _subprocess_env(site, **changes):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_", "PYTHON"))}
    env.update(PYTHONPATH=site, **changes)
    return env


def _fill_in_subprocess(site, env, prefix=(), **keywords):
    done = subprocess.run(list(prefix) + [sys.executable, "-c", _FILL_PROGRAM, site], cwd=site, env=env,
                          capture_output=True, timeout=600, **keywords)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return np.frombuffer(done.stdout, np.float32)


def _fresh_fill(site, base):
    """The values the copy's current sources give, compiled into an empty cache."""
    fresh = tempfile.mkdtemp(dir=base)
    return _fill_in_subprocess(site, _subprocess_env(site, HOME=fresh, NUMBA_CACHE_DIR=fresh, PYTHONDONTWRITEBYTECODE="1"))


def test_kernels_cached_under_numba_cache_dir_are_dropped_when_an_inlined_module_changes(tmp_path):
    site, home, numba_cache = (str(tmp_path / name) for name in ("site", "home", "cache"))
    package = _copy_package(site)
    os.makedirs(home)
    env = _subprocess_env(site, HOME=home, NUMBA_CACHE_DIR=numba_cache)
    before = _fill_in_subprocess(site, env)
    np.testing.assert_array_equal(before, _expected_fill())
    # Numba keeps the kernels of a source folder in a subfolder of NUMBA_CACHE_DIR.
    assert glob.glob(os.path.join(numba_cache, "fastinit_*", "_kernels.*.nbi")), os.listdir(numba_cache)
    assert not glob.glob(os.path.join(package, "__pycache__", "*.nbi"))
    np.testing.assert_array_equal(_fill_in_subprocess(site, env), before)  # loaded from the cache

    _change_philox_multiplier(package)
    expected = _fresh_fill(site, str(tmp_path))
    assert not np.array_equal(expected, before)
    np.testing.assert_array_equal(_fill_in_subprocess(site, env), expected)  # not the cached old code
    np.testing.assert_array_equal(_fill_in_subprocess(site, env), expected)  # again, from the new cache
    assert glob.glob(os.path.join(numba_cache, "fastinit_*", "_kernels.*.nbi"))


def test_kernels_cached_in_the_user_wide_cache_are_dropped_when_an_inlined_module_changes():
    # A read-only installation: Numba caches the kernels in the user's cache
    # directory (~/.cache/numba), run as a user whom the permissions apply to.
    with tempfile.TemporaryDirectory() as base:
        os.chmod(base, 0o755)  # readable by that user
        _check_user_wide_cache(base)


def _check_user_wide_cache(base):
    site, home = os.path.join(base, "site"), os.path.join(base, "home")
    package = _copy_package(site)
    os.makedirs(home, mode=0o777)
    os.chmod(home, 0o777)  # the unprivileged user's HOME
    for folder, _, files in os.walk(site):
        for path in [folder] + [os.path.join(folder, f) for f in files]:
            os.chmod(path, os.stat(path).st_mode & ~0o222)
    prefix, keywords = _unprivileged_runner(site)
    env = _subprocess_env(site, HOME=home)
    user_wide = os.path.join(home, ".cache", "numba")

    def run():
        return _fill_in_subprocess(site, env, prefix, **keywords)

    before = run()
    np.testing.assert_array_equal(before, _expected_fill())
    assert glob.glob(os.path.join(user_wide, "fastinit_*", "_kernels.*.nbi")), os.listdir(home)
    assert not os.path.exists(os.path.join(package, "__pycache__"))
    np.testing.assert_array_equal(run(), before)  # loaded from the cache

    _change_philox_multiplier(package)
    expected = _fresh_fill(site, base)
    assert not np.array_equal(expected, before)
    np.testing.assert_array_equal(run(), expected)  # not the cached old code
    np.testing.assert_array_equal(run(), expected)
    assert glob.glob(os.path.join(user_wide, "fastinit_*", "_kernels.*.nbi"))
