"""fastinit.torch.intercept: fast_init reaches every way code draws random weights, on its own thread."""

import functools
import math
import threading

import numpy as np
import pytest
import scipy.stats as ss
import torch
import torch.nn as nn

import fastinit
import fastinit.torch as ft

ALPHA = 1e-5

# Made at import, before any context: it holds torch's own function object (as
# large-model training frameworks' init tables do).
TRUNC_INIT = functools.partial(nn.init.trunc_normal_, std=0.02, a=-0.03, b=0.03)


def values(tensor):
    return tensor.detach().to(torch.float64).numpy().ravel()


def counted(seed, n):
    """The seed of the n-th fill inside fast_init(seed) (the documented rule)."""
    return fastinit.derive_seed(seed, "fastinit.torch.fast_init", str(n))


def test_partial_made_before_the_context_is_fastinits():
    outs = []
    for torch_seed in (0, 1):
        torch.manual_seed(torch_seed)
        with ft.fast_init(seed=7):
            outs.append(TRUNC_INIT(torch.empty(256, 512)))
    assert torch.equal(outs[0], outs[1])                  # torch's generator plays no part
    expected = fastinit.fill_truncated_normal(np.empty((256, 512), np.float32), 0.0, 0.02, -0.03, 0.03,
                                              seed=counted(7, 0))
    assert np.array_equal(outs[0].numpy(), expected)
    x = values(outs[0])
    assert x.min() >= -0.03 and x.max() <= 0.03
    assert ss.kstest(x, ss.truncnorm(-1.5, 1.5, scale=0.02).cdf).pvalue > ALPHA


class PositionEmbedding(nn.Module):
    """A vision transformer's pattern: a random tensor made in the constructor."""

    def __init__(self, n=197, d=384):
        super().__init__()
        self.pos = nn.Parameter(torch.empty(1, n, d).normal_(std=0.02))
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)


def test_tensor_methods_and_factories_in_a_constructor():
    builds = []
    for torch_seed in (0, 1):
        torch.manual_seed(torch_seed)
        with ft.fast_init(seed=3):
            builds.append(PositionEmbedding())
    a, b = builds
    assert torch.equal(a.pos, b.pos) and torch.equal(a.cls, b.cls)
    pos = fastinit.fill_normal(np.empty((1, 197, 384), np.float32), 0.0, 0.02, seed=counted(3, 0))
    cls = fastinit.fill_normal(np.empty((1, 1, 384), np.float32), seed=counted(3, 1)) * np.float32(0.02)
    assert np.array_equal(a.pos.detach().numpy(), pos)
    assert np.array_equal(a.cls.detach().numpy(), cls)
    assert ss.kstest(values(a.pos), ss.norm(0, 0.02).cdf).pvalue > ALPHA
    with ft.fast_init(seed=4):
        assert not torch.equal(PositionEmbedding().pos, a.pos)


def test_factories_keep_their_options():
    with ft.fast_init(seed=0):
        u = torch.rand(300, 20, dtype=torch.float64, requires_grad=True)
        z = torch.randn_like(torch.empty(50, dtype=torch.bfloat16))
        r = torch.rand_like(u)
    assert u.dtype == torch.float64 and u.requires_grad and u.is_leaf
    assert z.dtype == torch.bfloat16 and r.shape == u.shape
    assert np.array_equal(u.detach().numpy(), fastinit.fill_uniform(np.empty((300, 20)), seed=counted(0, 0)))
    assert float(u.detach().min()) >= 0 and float(u.detach().max()) < 1


def timm_trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """A vision library's truncated normal: uniform, inverse erf, scale, shift, clamp."""
    def norm_cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    with torch.no_grad():
        low, up = norm_cdf((a - mean) / std), norm_cdf((b - mean) / std)
        tensor.uniform_(2 * low - 1, 2 * up - 1)
        tensor.erfinv_()
        tensor.mul_(std * math.sqrt(2.0))
        tensor.add_(mean)
        tensor.clamp_(min=a, max=b)
        return tensor


def test_uniform_erfinv_truncated_normal_keeps_its_law():
    outs = []
    for torch_seed in (0, 1):
        torch.manual_seed(torch_seed)
        with ft.fast_init(seed=5):
            outs.append(timm_trunc_normal_(torch.empty(1 << 20), std=1.0, a=-1.0, b=2.0))
    assert torch.equal(outs[0], outs[1])
    x = values(outs[0])
    assert x.min() >= -1.0 and x.max() <= 2.0
    assert ss.kstest(x, ss.truncnorm(-1.0, 2.0).cdf).pvalue > ALPHA


def test_torch_functions_reach_fastinit_with_torchs_own_arithmetic():
    with ft.fast_init(seed=2):
        linear = nn.Linear(300, 40)
    bound = math.sqrt(3.0) * (nn.init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(300))
    expected = fastinit.fill_uniform(np.empty((40, 300), np.float32), -bound, bound, seed=counted(2, 0))
    assert np.array_equal(linear.weight.detach().numpy(), expected)
    bias_bound = 1 / math.sqrt(300)
    assert np.array_equal(linear.bias.detach().numpy(), fastinit.fill_uniform(
        np.empty(40, np.float32), -bias_bound, bias_bound, seed=counted(2, 1)))
    with ft.fast_init(seed=2):   # xavier_normal_ and kaiming_normal_ reach Tensor.normal_
        w = nn.init.xavier_normal_(torch.empty(64, 128))
        k = nn.init.kaiming_normal_(torch.empty(64, 128), mode="fan_out")
    std = math.sqrt(2.0 / (64 + 128))
    assert np.array_equal(w.numpy(), fastinit.fill_normal(np.empty((64, 128), np.float32), 0.0, std, seed=counted(2, 0)))
    assert np.array_equal(k.numpy(), fastinit.fill_normal(np.empty((64, 128), np.float32), 0.0,
                                                          math.sqrt(2.0) / math.sqrt(64), seed=counted(2, 1)))


def test_orthogonal_and_sparse_draw_their_normals_from_fastinit():
    results = []
    for torch_seed in (0, 1):
        torch.manual_seed(torch_seed)
        with ft.fast_init(seed=1):
            results.append(nn.init.orthogonal_(torch.empty(40, 60)))
    assert torch.equal(*results)
    flat = results[0].to(torch.float64)
    assert torch.allclose(flat @ flat.T, torch.eye(40, dtype=torch.float64), atol=1e-5)


def test_nested_contexts_innermost_serves_and_counts_resume():
    with ft.fast_init(seed=0):
        a = torch.empty(100).normal_()
        with ft.fast_init(seed=1):
            b = torch.empty(100).normal_()
        c = torch.empty(100).normal_()
    fill = lambda s: fastinit.fill_normal(np.empty(100, np.float32), seed=s)  # noqa: E731
    assert np.array_equal(a.numpy(), fill(counted(0, 0)))
    assert np.array_equal(b.numpy(), fill(counted(1, 0)))
    assert np.array_equal(c.numpy(), fill(counted(0, 1)))


def test_generator_arguments_seed_the_stream():
    with ft.fast_init(seed=0):
        a = nn.init.normal_(torch.empty(1000), generator=torch.Generator().manual_seed(9))
        b = nn.init.trunc_normal_(torch.empty(1000), generator=torch.Generator().manual_seed(9))
    words = torch.randint(0, 2**32, (2,), dtype=torch.int64, generator=torch.Generator().manual_seed(9))
    seed = int(words[0]) | int(words[1]) << 32
    assert np.array_equal(a.numpy(), fastinit.fill_normal(np.empty(1000, np.float32), seed=seed))
    assert np.array_equal(b.numpy(), fastinit.fill_truncated_normal(np.empty(1000, np.float32), seed=seed))


def test_what_fastinit_cannot_fill_goes_to_torch():
    def torch_values(make):
        torch.manual_seed(11)
        expected = make()
        torch.manual_seed(11)
        with ft.fast_init(seed=0):
            got = make()
        return got, expected

    for make in (lambda: torch.empty(64, dtype=torch.complex64).normal_(),
                 lambda: torch.empty(64, dtype=torch.int64).random_(0, 10),
                 lambda: torch.empty(64).bernoulli_(0.5),
                 lambda: torch.randperm(64)):
        got, expected = torch_values(make)
        assert torch.equal(got, expected)
    meta = torch.empty(8, 8, device="meta")
    with ft.fast_init(seed=0):
        assert nn.init.trunc_normal_(meta) is meta and meta.normal_() is meta
    # autograd would record an in-place fill of a leaf that requires grad: torch raises, as without fastinit
    with ft.fast_init(seed=0), pytest.raises(RuntimeError, match="leaf Variable"):
        nn.Parameter(torch.empty(3)).normal_()


class Tagged(torch.Tensor):
    """A tensor subclass fastinit does not know."""


def test_unknown_tensor_subclasses_go_to_torch():
    torch.manual_seed(3)
    expected = torch.empty(50).normal_()
    torch.manual_seed(3)
    with ft.fast_init(seed=0):
        t = torch.empty(50).as_subclass(Tagged)
        t.normal_()
    assert torch.equal(t.as_subclass(torch.Tensor), expected)


def test_only_the_entering_thread_is_affected():
    """Thread A builds under fast_init while thread B, at the same time, draws with torch's own functions."""
    barrier = threading.Barrier(2)
    errors = []

    def reference(seed):
        g = torch.Generator().manual_seed(seed)
        return (torch.empty(4096).normal_(generator=g),
                nn.init.trunc_normal_(torch.empty(4096), generator=torch.Generator().manual_seed(seed)))

    expected = {s: reference(s) for s in range(20)}

    def inside():
        try:
            with ft.fast_init(seed=0):
                barrier.wait()
                for _ in range(20):
                    nn.init.trunc_normal_(torch.empty(4096))
                    nn.Linear(64, 64)
                barrier.wait()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    def outside():
        try:
            barrier.wait()
            for s in range(20):
                g = torch.Generator().manual_seed(s)
                normal = nn.init.normal_(torch.empty(4096), generator=g)
                trunc = nn.init.trunc_normal_(torch.empty(4096), generator=torch.Generator().manual_seed(s))
                assert torch.equal(normal, expected[s][0]) and torch.equal(trunc, expected[s][1])
            barrier.wait()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=inside), threading.Thread(target=outside)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


# ---------------------------------------------------------------------------
# No fill waits: every reader and writer that bypasses the mode sees the values
# ---------------------------------------------------------------------------
N = 256  # a 256 x 256 fill: 65536 elements, large enough that an earlier design deferred it


@pytest.fixture
def kernel_writes(monkeypatch):
    from fastinit.torch import intercept
    calls = []
    original = intercept.write

    def counting(*args, **kwargs):
        calls.append(args[2].shape)
        return original(*args, **kwargs)

    monkeypatch.setattr(intercept, "write", counting)
    return calls


def stream(n, shape=(N, N), std=1.0, seed=0):
    return fastinit.fill_normal(np.empty(shape, np.float32), 0.0, std, seed=counted(seed, n))


def test_every_fill_is_written_at_the_call(kernel_writes):
    with ft.fast_init(seed=0):
        w = torch.empty(N, N)
        nn.init.normal_(w)
        assert len(kernel_writes) == 1
        nn.init.normal_(w.data, std=2.0)   # an alias of the same memory, written whole again
        assert len(kernel_writes) == 2
    assert np.array_equal(w.numpy(), stream(1, std=2.0))


def test_numpy_views_and_storages_taken_before_the_block_read_and_write_the_values():
    w = torch.zeros(N, N)
    a = w.numpy()
    arr = np.zeros((N, N), np.float32)
    from_numpy = torch.from_numpy(arr)
    s = torch.zeros(N, N)
    storage = s.untyped_storage()
    with ft.fast_init(seed=0):
        w.normal_()
        first = a[0, 0]
        a[:] = 7.0                         # the user's write through the view
        from_numpy.normal_()
        from_arr = arr[1, 2]
        s.normal_()
        raw = np.frombuffer(bytes(storage.tolist()[:4]), np.float32)[0]
    assert first == stream(0)[0, 0]
    assert torch.all(w == 7.0)             # not overwritten later
    assert from_arr == stream(1)[1, 2] and np.array_equal(arr, stream(1))
    assert raw == stream(2)[0, 0]


def test_code_without_torch_functions_reads_and_writes_the_values():
    w = torch.zeros(N, N)
    with ft.fast_init(seed=0):
        w.normal_()
        with torch._C.DisableTorchFunction():
            inside = float(w[0, 0])
            w.fill_(5.0)
    assert inside == stream(0)[0, 0] and torch.all(w == 5.0)


@torch.jit.script
def _scripted_sum(x):
    return x.sum()


def test_torchscript_reads_the_values():
    linear = nn.Linear(N, N)
    scripted = torch.jit.script(linear)
    traced = torch.jit.trace(linear, torch.ones(1, N))
    w = torch.zeros(N, N, dtype=torch.float64)
    x = torch.randn(3, N)
    with ft.fast_init(seed=0):
        w.normal_()
        total = float(_scripted_sum(w))
        linear.reset_parameters()
        by_script, by_trace = scripted(x), traced(x)
    expected = fastinit.fill_normal(np.empty((N, N)), seed=counted(0, 0))
    assert total == float(torch.from_numpy(expected).sum())
    assert torch.equal(by_script, torch.nn.functional.linear(x, linear.weight, linear.bias))
    assert torch.equal(by_trace, by_script)


def test_another_thread_reads_the_values_and_keeps_its_writes():
    w = torch.zeros(N, N)
    seen = []

    def other():
        seen.append(float(w[0, 0]))
        w.fill_(9.0)

    with ft.fast_init(seed=0):
        w.normal_()
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == [float(stream(0)[0, 0])] and torch.all(w == 9.0)


@pytest.fixture(scope="module")
def extension(tmp_path_factory):
    """A C++ extension that reads and writes a tensor through its data pointer."""
    from torch.utils.cpp_extension import load_inline
    source = """
    double first(torch::Tensor t) { return t.data_ptr<float>()[0]; }
    void add_one(torch::Tensor t) { t.add_(1); }
    """
    return load_inline("fastinit_test_reader", cpp_sources=source, functions=["first", "add_one"],
                       build_directory=str(tmp_path_factory.mktemp("extension")), verbose=False)


def test_a_cpp_extension_reads_the_values_and_keeps_its_writes(extension):
    w = torch.zeros(N, N)
    with ft.fast_init(seed=0):
        w.normal_()
        read = extension.first(w)
        extension.add_one(w)
    expected = stream(0)
    assert read == float(expected[0, 0])
    assert np.array_equal(w.numpy(), expected + np.float32(1))


def test_two_tensors_over_one_numpy_buffer():
    arr = np.zeros(2 * N * N, np.float32)
    w = torch.from_numpy(arr[N * N:]).view(N, N)
    whole = torch.from_numpy(arr).view(2 * N, N)
    with ft.fast_init(seed=0):
        w.normal_()
        read = float(whole[N, 0])
        whole.fill_(3.0)
    assert read == float(stream(0)[0, 0]) and np.all(arr == 3.0)


def test_fill_with_a_tensor_value_takes_the_value_at_the_call():
    v = torch.tensor(1.5)
    with ft.fast_init(seed=0):
        w = torch.empty(N, N).normal_()
        w[0].fill_(v)
        v.fill_(2.0)
        w2 = torch.empty(N, N).normal_()
        w[1].fill_(w2[0, 0])
    assert float(w[0, 0]) == 1.5
    assert float(w[1, 0]) == float(stream(1)[0, 0])


def test_views_of_one_buffer_in_two_dtypes_are_written_in_call_order():
    m = 1 << 15
    base = torch.zeros(2 * m, dtype=torch.float16)
    w32, w16 = base.view(torch.float32), base[:m]    # the same shape, strides and offset
    assert w32.shape == w16.shape and w32.stride() == w16.stride()
    with ft.fast_init(seed=0):
        w32.normal_()
        w16.normal_()
    expected = bytearray(fastinit.fill_normal(np.empty(m, np.float32), seed=counted(0, 0)).tobytes())
    expected[: 2 * m] = fastinit.fill_normal(np.empty(m, np.float16), seed=counted(0, 1)).tobytes()
    assert base.numpy().tobytes() == bytes(expected)


def test_scratch_tensors_are_not_kept_alive_by_the_block():
    import gc
    import weakref
    with ft.fast_init(seed=0):
        t = torch.randn(512, 512)
        dropped = weakref.ref(t)
        del t
        gc.collect()
        assert dropped() is None


def test_random_factories_with_out_and_torch_normal_draw_from_fastinit():
    out = torch.empty(7)
    with ft.fast_init(seed=0):
        torch.randn(3, 4, out=out)             # resized, as torch does
        r = torch.empty(10, dtype=torch.float64)
        torch.rand((10,), out=r)
        n = torch.normal(0.5, 2.0, (100,))
        n64 = torch.normal(mean=-1.0, std=0.5, size=(3, 5), dtype=torch.float64)
        per_element = torch.normal(torch.zeros(50), 1.0)   # tensor means: torch's own
    assert out.shape == (3, 4)
    assert np.array_equal(out.numpy(), fastinit.fill_normal(np.empty((3, 4), np.float32), seed=counted(0, 0)))
    assert np.array_equal(r.numpy(), fastinit.fill_uniform(np.empty(10), seed=counted(0, 1)))
    assert np.array_equal(n.numpy(), fastinit.fill_normal(np.empty(100, np.float32), 0.5, 2.0, seed=counted(0, 2)))
    assert np.array_equal(n64.numpy(), fastinit.fill_normal(np.empty((3, 5)), -1.0, 0.5, seed=counted(0, 3)))
    assert per_element.shape == (50,)


def test_orthogonal_under_the_block_takes_fastinits_qr():
    with ft.fast_init(seed=0):
        q = nn.init.orthogonal_(torch.empty(30, 50), gain=1.5)   # rows < cols: torch transposes
    # torch's orthogonal_: the (30, 50) normal fill, the QR of its transpose, signs, gain
    m = fastinit.fill_normal(np.empty((30, 50), np.float32), seed=counted(0, 0)).T.astype(np.float64)
    qq, rr = fastinit._qr.qr(m)
    expected = (qq.astype(np.float32) * np.sign(np.diag(rr)).astype(np.float32)).T * np.float32(1.5)
    assert np.array_equal(q.numpy(), expected)


def test_embedding_padding_row_is_zero_after_its_fill():
    with ft.fast_init(seed=0):
        emb = nn.Embedding(1000, 64, padding_idx=3)    # normal_, then the padding row zeroed
        inside = emb.weight[3].detach().clone()
    expected = fastinit.fill_normal(np.empty((1000, 64), np.float32), seed=counted(0, 0))
    expected[3] = 0
    assert np.array_equal(emb.weight.detach().numpy(), expected)
    assert torch.all(inside == 0)


def test_a_fill_autograd_records_stays_torchs():
    torch.manual_seed(2)
    expected = torch.empty(256, 256).normal_()
    x = torch.zeros(256, 256, requires_grad=True)
    with ft.fast_init(seed=0):
        y = x * 1                 # not a leaf, requires grad
        nn.init.normal_(y)        # no_grad inside torch.nn.init: fastinit's
        torch.manual_seed(2)
        y.normal_()               # autograd records this one: torch's own
    assert torch.equal(y.detach(), expected) and y.grad_fn is not None
