"""On a real NVIDIA GPU with torch's CUDA build only (skipped elsewhere):
fastinit.torch fills CUDA tensors with the CPU's bits (the drop-ins, fast_init,
initialize(device="cuda"), DTensor shards), on torch's current stream; without
numba-cuda through the host. Without a GPU, tests/test_cuda.py (simulator, PTX)
and tests/test_torch.py (the host path) check what can be checked."""

import os
import socket

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device for torch", allow_module_level=True)

import fastinit  # noqa: E402
import fastinit.cuda  # noqa: E402
import fastinit.torch as ft  # noqa: E402

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
DROP_INS = [
    ("uniform_", {"a": -0.3, "b": 0.7}), ("normal_", {"std": 0.02}), ("trunc_normal_", {"std": 1.0, "a": -0.5, "b": 2.5}),
    ("xavier_uniform_", {}), ("xavier_normal_", {}), ("kaiming_uniform_", {"a": 5 ** 0.5}), ("kaiming_normal_", {}),
    ("orthogonal_", {}), ("sparse_", {"sparsity": 0.3}), ("constant_", {"val": 0.25}), ("eye_", {}),
]


def same(gpu, cpu):
    return gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name, kwargs", DROP_INS, ids=[d[0] for d in DROP_INS])
def test_drop_ins_on_cuda_tensors_equal_the_cpu(name, kwargs, dtype):
    if name in ("orthogonal_", "sparse_") and dtype in (torch.float16, torch.bfloat16):
        pytest.skip("torch's own CPU check refuses these dtypes")
    seed = {} if name in ("constant_", "eye_") else {"seed": 3}
    shapes = [(257, 129), (64, 48)]
    for shape in shapes:
        gpu = torch.empty(shape, dtype=dtype, device="cuda")
        cpu = torch.empty(shape, dtype=dtype)
        getattr(ft, name)(gpu, **kwargs, **seed)
        getattr(ft, name)(cpu, **kwargs, **seed)
        assert same(gpu, cpu), (name, shape)
    strided = torch.zeros(90, 60, dtype=dtype, device="cuda")[:, ::3]
    expected = torch.zeros(90, 60, dtype=dtype)[:, ::3]
    getattr(ft, name)(strided, **kwargs, **seed)
    getattr(ft, name)(expected, **kwargs, **seed)
    assert same(strided, expected)


def test_without_numba_cuda_cuda_tensors_go_through_the_host(monkeypatch):
    gpu = torch.empty(1000, 33, device="cuda")
    monkeypatch.setattr(fastinit.cuda, "available", lambda: False)
    ft.kaiming_normal_(gpu, seed=4)
    assert same(gpu, ft.kaiming_normal_(torch.empty(1000, 33), seed=4))


def test_a_cuda_generator_gives_the_seed_it_draws_on_its_own_device():
    # torch's CUDA generator can't draw into a CPU tensor: the two seed words are
    # drawn on its device (the oracle: torch.randint there), then the CPU's bits.
    generator = torch.Generator(device="cuda").manual_seed(21)
    gpu = ft.normal_(torch.empty(300, 70, device="cuda"), std=0.5, generator=generator)
    low, high = torch.randint(0, 2 ** 32, (2,), generator=torch.Generator(device="cuda").manual_seed(21),
                              device="cuda").tolist()
    assert same(gpu, ft.normal_(torch.empty(300, 70), std=0.5, seed=low | high << 32))
    with ft.fast_init(5):  # inside a context, the same generator's draw decides
        inside = torch.nn.init.uniform_(torch.empty(64, device="cuda"),
                                        generator=torch.Generator(device="cuda").manual_seed(21))
    assert same(inside, ft.uniform_(torch.empty(64), seed=low | high << 32))


def _model(device):
    torch.manual_seed(0)
    with torch.device(device):
        return torch.nn.Sequential(torch.nn.Embedding(5000, 96), torch.nn.Linear(96, 384), torch.nn.LayerNorm(384),
                                   torch.nn.Conv1d(384, 64, 3), torch.nn.LSTM(64, 32))


def test_fast_init_on_the_gpu_equals_the_cpu():
    with ft.fast_init(11):
        gpu = _model("cuda")
    with ft.fast_init(11):
        cpu = _model("cpu")
    for (name, a), (_, b) in zip(gpu.state_dict().items(), cpu.state_dict().items()):
        assert same(a, b), name


def test_initialize_on_the_gpu_equals_the_cpu():
    with torch.device("meta"):
        meta = _model("meta")
    ft.initialize(meta, 5, device="cuda")
    cpu = ft.initialize(_model("cpu"), 5)
    for (name, a), (_, b) in zip(meta.state_dict().items(), cpu.state_dict().items()):
        assert same(a, b), name


def test_a_buffer_drawn_under_empty_init_is_drawn_again_on_the_gpu():
    class Noisy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = torch.nn.Linear(256, 128)
            self.register_buffer("noise", torch.randn(64))

    builds = []
    for device in ("cuda", None):
        with ft.empty_init():
            model = Noisy()
        builds.append(ft.initialize(model, 5, device=device))
    for (name, a), (_, b) in zip(builds[0].state_dict().items(), builds[1].state_dict().items()):
        assert same(a, b), name


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_transformers_models_initialized_on_the_gpu_equal_the_cpu(family):
    transformers = pytest.importorskip("transformers")
    if family == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=1000, n_positions=64)
        model_class = transformers.GPT2LMHeadModel
    else:
        config = transformers.LlamaConfig(num_hidden_layers=2, hidden_size=128, intermediate_size=256,
                                          num_attention_heads=4, num_key_value_heads=2, vocab_size=1000)
        model_class = transformers.LlamaForCausalLM
    with torch.device("meta"):
        gpu = model_class(config)
    ft.initialize(gpu, 7, device="cuda")
    cpu = ft.initialize(model_class(config), 7)
    for (name, a), (_, b) in zip(gpu.state_dict().items(), cpu.state_dict().items()):
        assert same(a, b), name


def test_fills_run_on_torchs_current_stream():
    """On a side stream (non-blocking, as torch's pool streams are): the GPU
    sleeps, then zeroes the tensor, then fastinit fills it. Queued on another
    stream, the fill would run before the zeroing and be overwritten."""
    t = torch.empty(1 << 22, device="cuda")
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        torch.cuda._sleep(200_000_000)
        t.zero_()
        ft.normal_(t, std=0.5, seed=12)
    side.synchronize()
    assert same(t, ft.normal_(torch.empty(1 << 22), std=0.5, seed=12))


def test_a_dtensor_with_a_cuda_shard_gets_the_global_positions():
    from torch.distributed.tensor import Shard, distribute_tensor
    from torch.distributed.device_mesh import init_device_mesh
    import torch.distributed as dist
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        mesh = init_device_mesh("cuda", (1,))
        d = distribute_tensor(torch.empty(300, 70, device="cuda"), mesh, [Shard(1)])
        ft.xavier_uniform_(d, seed=8)
        assert same(d.to_local(), ft.xavier_uniform_(torch.empty(300, 70), seed=8))
        with ft.fast_init(2):
            torch.nn.init.trunc_normal_(d, std=0.02)
        with ft.fast_init(2):
            expected = torch.nn.init.trunc_normal_(torch.empty(300, 70), std=0.02)
        assert same(d.to_local(), expected)
    finally:
        dist.destroy_process_group()


def test_keras_on_the_torch_backend_fills_on_the_gpu_with_the_cpus_bits():
    import subprocess
    import sys
    script = (
        "import hashlib, keras, numpy as np, fastinit.keras as fk\n"
        "w = fk.HeNormal(seed=2)((512, 384))\n"
        "t = w.value if hasattr(w, 'value') else w\n"
        "print(t.device.type, hashlib.sha256(t.detach().cpu().numpy().tobytes()).hexdigest())\n")

    def run(**env):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                              env=dict(os.environ, KERAS_BACKEND="torch", **env))
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout.split()[-2:]
    on_gpu, on_cpu = run(), run(CUDA_VISIBLE_DEVICES="")
    assert on_gpu[0] == "cuda" and on_cpu[0] == "cpu" and on_gpu[1] == on_cpu[1]
