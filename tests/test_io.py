"""fastinit.io.save: out of core, atomic, resumable, bit-identical (the command line: test_cli.py)."""

import errno
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import fastinit
import fastinit.io as fio


def load(path, dtype="float32"):
    a = np.load(path)
    return a.view(ml_dtypes.bfloat16) if dtype == "bfloat16" else a


@pytest.mark.parametrize("init, params, shape, dtype", [
    ("normal", {"std": 0.02}, (1000, 300), "float32"),
    ("xavier_uniform", {"gain": 2.0}, (64, 32, 3, 3), "float64"),
    ("he_normal", {"layout": "keras"}, (3, 3, 16, 32), "bfloat16"),
    ("truncated_normal", {"std": 0.5, "a": -1.0, "b": 1.0}, (12345,), "float16"),
    ("constant", {"value": 0.25}, (7, 9), "float32"),
    ("eye", {}, (50, 70), "float32"),
])
@pytest.mark.parametrize("chunk_bytes", [1, 1000, 1 << 26])
def test_file_equals_the_in_memory_tensor(tmp_path, init, params, shape, dtype, chunk_bytes):
    path = tmp_path / "w.npy"
    seed = None if init in ("constant", "eye") else 5
    fio.save(path, shape, init=init, seed=seed, dtype=dtype, chunk_bytes=chunk_bytes, **params)
    kwargs = dict(params, dtype=dtype) if seed is None else dict(params, dtype=dtype, seed=seed)
    expected = getattr(fastinit, init)(shape, **kwargs)
    got = load(path, dtype)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))
    assert sorted(os.listdir(tmp_path)) == ["w.npy"]  # no partial or state file left


def test_refuses_to_overwrite(tmp_path):
    path = tmp_path / "w.npy"
    assert fastinit.save is fio.save
    fastinit.save(path, (10,), seed=1)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        fio.save(path, (10,), seed=2)
    assert path.read_bytes() == before
    fio.save(path, (10,), seed=2, overwrite=True)
    assert path.read_bytes() != before


def test_bad_arguments_touch_no_file(tmp_path):
    path = tmp_path / "w.npy"
    for kwargs, exc in [({"std": -1.0}, ValueError), ({"init": "orthogonal"}, ValueError),
                        ({"init": "normal", "gain": 2.0}, TypeError), ({"seed": None}, TypeError),
                        ({"dtype": "int8"}, TypeError), ({"chunk_bytes": 0}, ValueError)]:
        kwargs.setdefault("seed", 1)
        with pytest.raises(exc):
            fio.save(path, (100, 10), **kwargs)
    with pytest.raises(ValueError, match=".npy"):
        fio.save(tmp_path / "w.bin", (10,), seed=1)
    assert os.listdir(tmp_path) == []


class Interrupt(Exception):
    pass


def test_resume_after_an_interruption_redoes_no_finished_chunk(tmp_path, monkeypatch):
    path = tmp_path / "w.npy"
    shape, chunk = (1000, 50), 50 * 4 * 100  # 100 rows per chunk: 10 chunks
    calls = []
    real = fio._call

    def counting(init, full, region, out, dtype, seed, params):
        if region is not None and out is not None:
            calls.append(region[0])
            if len(calls) == 4 and not getattr(counting, "resumed", False):
                raise Interrupt  # the process dies while writing chunk 4
        return real(init, full, region, out, dtype, seed, params)

    monkeypatch.setattr(fio, "_call", counting)
    with pytest.raises(Interrupt):
        fio.save(path, shape, seed=3, std=0.1, chunk_bytes=chunk)
    assert not path.exists()  # a half-written file never looks complete
    assert (tmp_path / "w.npy.partial").exists()
    with pytest.raises(FileExistsError, match="resume"):
        fio.save(path, shape, seed=3, std=0.1, chunk_bytes=chunk)
    with pytest.raises(ValueError, match="another request"):
        fio.save(path, shape, seed=4, std=0.1, chunk_bytes=chunk, resume=True)
    counting.resumed = True
    calls.clear()
    fio.save(path, shape, seed=3, std=0.1, chunk_bytes=chunk, resume=True)
    assert calls == [(r, r + 100) for r in range(300, 1000, 100)]  # chunks 0-2 were not redone
    np.testing.assert_array_equal(np.load(path), fastinit.normal(shape, std=0.1, seed=3))
    assert sorted(os.listdir(tmp_path)) == ["w.npy"]


def test_disk_full_and_unwritable_folder(tmp_path, monkeypatch):
    path = tmp_path / "w.npy"

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="disk full") as info:
        fio.save(path, (1000, 10), seed=1)
    assert info.value.errno == errno.ENOSPC and not path.exists()
    monkeypatch.undo()
    with pytest.raises(OSError, match="can't write"):
        fio.save(tmp_path / "missing" / "w.npy", (10,), seed=1)
    with pytest.raises(OSError, match="can't write"):  # a read-only file system, even for root
        fio.save("/proc/fastinit-test.npy", (10,), seed=1)
    assert not os.path.exists("/proc/fastinit-test.npy")


def test_memory_stays_near_the_chunk_size(tmp_path):
    # 256 MB written with 8 MB chunks: the peak resident memory grows by far
    # less than the file (the in-memory result would need all 256 MB).
    program = f"""
import resource, numpy as np, fastinit, fastinit.io as fio
fastinit.fill_normal(np.empty(10**6, np.float32), seed=0)  # load the kernels first
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
fio.save({str(tmp_path / 'big.npy')!r}, (65536, 1024), std=0.02, seed=0, chunk_bytes=8 << 20)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    grown_mb = float(out.stdout)
    assert grown_mb < 64, grown_mb
    assert os.path.getsize(tmp_path / "big.npy") > 256 * 2**20


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_safetensors_files_read_back_with_the_safetensors_library(tmp_path, dtype):
    import safetensors.torch
    import torch
    from safetensors import safe_open

    path = tmp_path / "model.safetensors"
    fio.save(path, (301, 17), init="xavier_normal", gain=1.5, dtype=dtype, seed=9, chunk_bytes=700, name="emb")
    tensor = safetensors.torch.load_file(path)["emb"]
    expected = fastinit.xavier_normal((301, 17), gain=1.5, dtype=dtype, seed=9)
    assert tuple(tensor.shape) == (301, 17) and str(tensor.dtype) == f"torch.{dtype}"
    got = tensor.view(torch.int16).numpy() if dtype in ("float16", "bfloat16") else tensor.numpy()
    np.testing.assert_array_equal(got.view(np.uint8), expected.view(np.uint8))
    with safe_open(path, "np") as f:
        meta = f.metadata()
    assert meta["init"] == "xavier_normal" and meta["seed"] == "9" and meta["stream_format"] == str(fastinit.STREAM_FORMAT_VERSION)
    with pytest.raises(ValueError, match="name"):
        fio.save(tmp_path / "x.safetensors", (3,), seed=1, name="__metadata__")


def test_progress_bar(tmp_path, capsys):
    fio.save(tmp_path / "w.npy", (4000, 64), seed=1, chunk_bytes=100_000, progress=True)
    err = capsys.readouterr().err
    assert "w.npy" in err and "100%" in err
