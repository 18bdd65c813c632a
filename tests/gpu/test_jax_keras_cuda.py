"""On a real NVIDIA GPU with JAX's CUDA backend only (skipped elsewhere):
fastinit.jax and fastinit.keras fill on the GPU (fastinit.cuda) and hand the
buffer to JAX through DLPack; the values equal the CPU's."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
if not any(d.platform == "gpu" for d in jax.devices()):
    pytest.skip("no JAX GPU backend", allow_module_level=True)

import fastinit  # noqa: E402
import fastinit.jax as fj  # noqa: E402

FACTORIES = [("uniform", {}), ("normal", {"stddev": 0.02}), ("truncated_normal", {}), ("glorot_uniform", {}),
             ("he_normal", {}), ("lecun_normal", {}), ("orthogonal", {}), ("constant", {"value": 0.5})]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("name, kwargs", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_jax_initializers_on_the_gpu_equal_the_cpu(name, kwargs, dtype):
    gpu = jax.devices("gpu")[0]
    cpu = jax.devices("cpu")[0]
    init = getattr(fj, name)(**kwargs)
    key = jax.random.key(3)
    assert fj.gpu_device() == gpu
    on_gpu = init(key, (300, 129), dtype)
    assert on_gpu.devices() == {gpu}
    with jax.default_device(cpu):
        assert fj.gpu_device() is None
        on_cpu = init(key, (300, 129), dtype)
    assert on_cpu.devices() == {cpu}
    assert np.array_equal(np.asarray(on_gpu).view(np.uint16 if dtype != "float32" else np.uint32),
                          np.asarray(on_cpu).view(np.uint16 if dtype != "float32" else np.uint32))


def test_the_gpu_fill_is_handed_over_without_a_copy(monkeypatch):
    """The JAX array's buffer is the device array fastinit filled."""
    from fastinit.cuda import _dlpack
    seen = []
    real = _dlpack.hand_over

    def spy(consume, array, ready=None):
        seen.append(array.__cuda_array_interface__["data"][0])
        return real(consume, array, ready)
    monkeypatch.setattr(_dlpack, "hand_over", spy)
    out = fj.normal(0.02)(jax.random.key(0), (1024, 1024))
    assert out.unsafe_buffer_pointer() == seen[0]


def test_keras_on_the_jax_gpu_backend_equals_the_cpu():
    import os
    import subprocess
    import sys
    script = (
        "import jax, numpy as np, keras, fastinit.keras as fk\n"
        "w = fk.GlorotUniform(seed=1)((512, 256))\n"
        "assert next(iter(w.devices())).platform == 'gpu'\n"
        "with jax.default_device(jax.devices('cpu')[0]):\n"
        "    c = fk.GlorotUniform(seed=1)((512, 256))\n"
        "assert np.array_equal(np.asarray(w), np.asarray(c))\n"
        "print('ok')\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=dict(os.environ, KERAS_BACKEND="jax"), timeout=600)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-3000:]
