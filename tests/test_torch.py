"""fastinit.torch: torch.nn.init's functions on fastinit's kernels, and fast_init."""

import math
import warnings

import ml_dtypes
import numpy as np
import pytest
import scipy.stats as ss
import torch
import torch.nn as nn

import fastinit
import fastinit.torch as ft

ALPHA = 1e-5
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def values(tensor):
    return tensor.detach().to(torch.float64).numpy().ravel()


# Each case: (our call, torch's call, exact target distribution), on a (512, 768) weight:
# fan_in = 768, fan_out = 512.
FAN_IN, FAN_OUT = 768, 512
CASES = {
    "uniform_": (lambda t, **k: ft.uniform_(t, -0.3, 0.7, **k), lambda t: torch.nn.init.uniform_(t, -0.3, 0.7),
                 ss.uniform(-0.3, 1.0)),
    "normal_": (lambda t, **k: ft.normal_(t, 0.5, 0.02, **k), lambda t: torch.nn.init.normal_(t, 0.5, 0.02),
                ss.norm(0.5, 0.02)),
    "trunc_normal_": (lambda t, **k: ft.trunc_normal_(t, 0.0, 0.02, -0.03, 0.04, **k),
                      lambda t: torch.nn.init.trunc_normal_(t, 0.0, 0.02, -0.03, 0.04),
                      ss.truncnorm(-1.5, 2.0, scale=0.02)),
    "xavier_uniform_": (lambda t, **k: ft.xavier_uniform_(t, gain=2.0, **k),
                        lambda t: torch.nn.init.xavier_uniform_(t, gain=2.0),
                        ss.uniform(-2 * math.sqrt(6 / 1280), 4 * math.sqrt(6 / 1280))),
    "xavier_normal_": (lambda t, **k: ft.xavier_normal_(t, **k), lambda t: torch.nn.init.xavier_normal_(t),
                       ss.norm(0, math.sqrt(2 / 1280))),
    "kaiming_uniform_": (lambda t, **k: ft.kaiming_uniform_(t, a=math.sqrt(5), **k),
                         lambda t: torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
                         ss.uniform(-1 / math.sqrt(FAN_IN), 2 / math.sqrt(FAN_IN))),
    "kaiming_normal_": (lambda t, **k: ft.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", **k),
                        lambda t: torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
                        ss.norm(0, math.sqrt(2 / FAN_OUT))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_distribution_as_torch(name):
    ours, theirs, dist = CASES[name]
    a = ours(torch.empty(512, 768), seed=1)
    torch.manual_seed(1)
    b = theirs(torch.empty(512, 768))
    for x in (values(a), values(b)):  # the same tests pass on both outputs
        assert ss.kstest(x, dist.cdf).pvalue > ALPHA
        m, v = (float(s) for s in dist.stats())
        assert abs(x.mean() - m) < 5 * math.sqrt(v / x.size)
    assert ss.ks_2samp(values(a), values(b)).pvalue > ALPHA


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_fills_in_place_without_copy(name, dtype):
    ours = CASES[name][0]
    t = torch.full((64, 48), 7.0, dtype=dtype)
    pointer = t.data_ptr()
    result = ours(t, seed=2)
    assert result is t and t.data_ptr() == pointer and t.dtype == dtype and t.shape == (64, 48)
    assert not torch.any(t == 7.0)
    # the values are fastinit's stream for that dtype
    expected = ours(torch.empty(64, 48, dtype=dtype), seed=2)
    assert torch.equal(t, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_tensors(dtype):
    base = torch.zeros(40, 60, dtype=dtype)
    view = base[:, ::2].T  # (30, 40), non-contiguous
    ft.normal_(view, 0.0, 1.0, seed=3)
    flat = torch.empty(30 * 40, dtype=dtype)
    ft.normal_(flat, 0.0, 1.0, seed=3)
    assert torch.equal(view.reshape(-1), flat)          # the stream in the view's own C order
    assert torch.all(base[:, 1::2] == 0)                  # nothing else written


SMALL_FILLS = {
    "uniform_": (lambda t, s: ft.uniform_(t, -0.3, 0.7, seed=s),
                 lambda a, s: fastinit.fill_uniform(a, -0.3, 0.7, seed=s)),
    "normal_": (lambda t, s: ft.normal_(t, 0.5, 0.02, seed=s), lambda a, s: fastinit.fill_normal(a, 0.5, 0.02, seed=s)),
    "trunc_normal_": (lambda t, s: ft.trunc_normal_(t, 0.0, 1.0, -2.0, 2.0, seed=s),
                      lambda a, s: fastinit.fill_truncated_normal(a, 0.0, 1.0, -2.0, 2.0, seed=s)),
    "trunc_normal_ wide": (lambda t, s: ft.trunc_normal_(t, std=0.02, seed=s),
                           lambda a, s: fastinit.fill_truncated_normal(a, 0.0, 0.02, -2.0, 2.0, seed=s)),
}
NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16,
                torch.bfloat16: ml_dtypes.bfloat16}


@pytest.mark.parametrize("name", SMALL_FILLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_small_tensors_filled_by_address_equal_the_numpy_fill(name, dtype):
    from fastinit.torch import _tensors
    ours, numpy_fill = SMALL_FILLS[name]
    for shape in [(1,), (63,), (8, 96), (_tensors.BY_ADDRESS_BELOW - 1,), (_tensors.BY_ADDRESS_BELOW,)]:
        n = math.prod(shape)
        base = torch.zeros(n + 2, dtype=dtype)
        t = base[1:n + 1].view(shape)  # a storage offset, and guard elements on both sides
        target = _tensors.fill_target(t)
        by_address = n < _tensors.BY_ADDRESS_BELOW
        assert isinstance(target, fastinit._formats.Memory) == by_address
        for tensor in (t, nn.Parameter(t, requires_grad=True)):
            ours(tensor, 4)
            expected = numpy_fill(np.zeros(shape, NUMPY_DTYPES[dtype]), 4)
            assert t.view(torch.int16 if dtype.itemsize == 2 else dtype).numpy().tobytes() == expected.tobytes()
            assert base[0] == 0 and base[-1] == 0
    # strided small tensors keep the NumPy view
    view = torch.zeros(16, 8, dtype=dtype)[:, ::2]
    assert not isinstance(_tensors.fill_target(view), fastinit._formats.Memory)


def test_seed_from_generator_is_torch_randint_words():
    from fastinit.torch import _tensors
    g = torch.Generator().manual_seed(21)
    drawn = [_tensors.seed_from_generator(g) for _ in range(3)]
    g = torch.Generator().manual_seed(21)
    words = [torch.randint(0, 2**32, (2,), dtype=torch.int64, generator=g).tolist() for _ in range(3)]
    assert drawn == [low | high << 32 for low, high in words]
    torch.manual_seed(5)
    first = _tensors.seed_from_generator(None)
    torch.manual_seed(5)
    low, high = torch.randint(0, 2**32, (2,), dtype=torch.int64).tolist()
    assert first == low | high << 32


def test_requires_grad_parameters_and_autograd_state():
    p = nn.Parameter(torch.empty(32, 16))
    ft.xavier_uniform_(p, seed=0)
    assert p.requires_grad and p.grad_fn is None and p.is_leaf


def test_seed_sources():
    a = ft.normal_(torch.empty(1000), seed=5)
    assert torch.equal(a, ft.normal_(torch.empty(1000), seed=5))
    torch.manual_seed(123)
    b = ft.normal_(torch.empty(1000))
    torch.manual_seed(123)
    assert torch.equal(b, ft.normal_(torch.empty(1000)))  # drawn from torch's global generator
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(ft.uniform_(torch.empty(100), generator=g1), ft.uniform_(torch.empty(100), generator=g2))
    assert not torch.equal(a, ft.normal_(torch.empty(1000), seed=6))


def test_constants_eye_dirac_match_torch():
    for dtype in DTYPES:
        assert torch.equal(ft.constant_(torch.empty(5, 7, dtype=dtype), 0.25),
                           torch.nn.init.constant_(torch.empty(5, 7, dtype=dtype), 0.25))
        assert torch.equal(ft.ones_(torch.empty(9, dtype=dtype)), torch.ones(9, dtype=dtype))
        assert torch.equal(ft.zeros_(torch.empty(9, dtype=dtype)), torch.zeros(9, dtype=dtype))
        assert torch.equal(ft.eye_(torch.empty(4, 6, dtype=dtype)), torch.nn.init.eye_(torch.empty(4, 6, dtype=dtype)))
        assert torch.equal(ft.dirac_(torch.empty(8, 4, 3, 3, dtype=dtype), groups=2),
                           torch.nn.init.dirac_(torch.empty(8, 4, 3, 3, dtype=dtype), groups=2))


def test_orthogonal_of_a_channels_last_weight():
    w = torch.zeros(8, 4, 3, 3).to(memory_format=torch.channels_last)
    ft.orthogonal_(w, seed=1)
    assert torch.equal(w, torch.from_numpy(fastinit.orthogonal((8, 4, 3, 3), seed=1)))


@pytest.mark.parametrize("shape", [(64, 64), (30, 50), (50, 30), (16, 4, 3, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_orthogonal(shape, dtype):
    t = ft.orthogonal_(torch.empty(shape, dtype=dtype), gain=2.0, seed=4)
    flat = t.reshape(shape[0], -1).to(torch.float64)
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    tol = 0.05 if dtype == torch.bfloat16 else 1e-4
    assert torch.allclose(gram, 4 * torch.eye(small, dtype=torch.float64), atol=tol)
    # fastinit.orthogonal's values, bit for bit: the float64 normal stream, fastinit's QR
    np_dtype = ml_dtypes.bfloat16 if dtype == torch.bfloat16 else {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    ours = fastinit.orthogonal(shape, gain=2.0, seed=4, dtype=np_dtype)
    got = t.view(torch.int16).numpy().view(np_dtype) if dtype == torch.bfloat16 else t.numpy()
    assert got.tobytes() == ours.tobytes()
    # and the sign-fixed Q of LAPACK's QR of the same matrix, to rounding
    rows, cols = flat.shape
    a = fastinit.fill_normal(np.empty((rows, cols) if rows >= cols else (cols, rows)), seed=4)
    q, r = np.linalg.qr(a)
    q = 2.0 * q * np.sign(np.diag(r))
    expected = q if rows >= cols else q.T
    np.testing.assert_allclose(flat.numpy(), expected, atol=5e-2 if dtype == torch.bfloat16 else 1e-5)


def test_sparse():
    t = ft.sparse_(torch.empty(100, 40), sparsity=0.3, std=0.05, seed=1)
    assert torch.all((t == 0).sum(0) == 30)
    with pytest.raises(ValueError):
        ft.sparse_(torch.empty(3, 4, 5), sparsity=0.1)


def test_errors_like_torch():
    for fn in (ft.xavier_uniform_, ft.kaiming_normal_, ft.orthogonal_):
        with pytest.raises(ValueError):
            fn(torch.empty(5))
    with pytest.raises(ValueError):
        ft.dirac_(torch.empty(3, 3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        ft.kaiming_uniform_(torch.empty(3, 3), nonlinearity="gelu")
    with pytest.raises(TypeError, match="torch.Tensor"):
        ft.normal_(np.zeros(3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ft.kaiming_uniform_(torch.empty(0, 3))
    assert any("zero-element" in str(w.message) for w in caught)


def test_unsupported_tensors_go_to_torch():
    meta = torch.empty(4, 4, device="meta")
    assert ft.normal_(meta) is meta
    ints = torch.zeros(10, dtype=torch.int64)
    assert torch.equal(ft.constant_(ints, 3), torch.full((10,), 3))


def test_deprecated_spellings_warn_like_torch():
    with pytest.warns(FutureWarning, match="nn.init.xavier_uniform is now deprecated"):
        ft.xavier_uniform(torch.empty(3, 3))
    assert set(ft.__all__) >= {n for n in dir(torch.nn.init) if not n.startswith("_") and callable(getattr(torch.nn.init, n))
                               and n not in ("Callable", "Literal", "ParamSpec", "Tensor", "TypeVar")}


# ---------------------------------------------------------------------------
# fast_init
# ---------------------------------------------------------------------------
def build():
    torch.manual_seed(0)
    return nn.ModuleDict({
        "emb": nn.Embedding(5000, 64), "ln": nn.LayerNorm(64), "fc": nn.Linear(64, 256),
        "conv": nn.Conv2d(8, 16, 3), "attn": nn.MultiheadAttention(64, 4),
    })


def test_fast_init_gives_torch_default_distributions():
    with ft.fast_init(seed=0):
        m = build()
    assert ss.kstest(values(m["emb"].weight), ss.norm().cdf).pvalue > ALPHA
    assert torch.all(m["ln"].weight == 1) and torch.all(m["ln"].bias == 0)
    bound = 1 / math.sqrt(64)
    assert ss.kstest(values(m["fc"].weight), ss.uniform(-bound, 2 * bound).cdf).pvalue > ALPHA
    assert ss.kstest(values(m["fc"].bias), ss.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3
    conv_bound = 1 / math.sqrt(8 * 9)
    assert ss.kstest(values(m["conv"].weight), ss.uniform(-conv_bound, 2 * conv_bound).cdf).pvalue > 1e-3
    # MultiheadAttention imports xavier_uniform_ by name: it must be routed too
    limit = math.sqrt(6 / (64 + 192))
    assert ss.kstest(values(m["attn"].in_proj_weight), ss.uniform(-limit, 2 * limit).cdf).pvalue > ALPHA
    assert torch.all(m["attn"].in_proj_bias == 0)


def test_fast_init_is_reproducible_and_uses_fastinit():
    with ft.fast_init(seed=0):
        a = build()
    with ft.fast_init(seed=0):
        b = build()
    with ft.fast_init(seed=1):
        c = build()
    plain = build()
    for name, p in a.named_parameters():
        assert torch.equal(p, dict(b.named_parameters())[name]), name
    for name in ("emb.weight", "fc.weight", "attn.in_proj_weight"):
        assert not torch.equal(dict(a.named_parameters())[name], dict(c.named_parameters())[name])
        assert not torch.equal(dict(a.named_parameters())[name], dict(plain.named_parameters())[name])
    # the first random call of the block is the stream of derive_seed(0, ..., "0")
    first = ft.normal_(torch.empty(5000, 64), seed=fastinit.derive_seed(0, "fastinit.torch.fast_init", "0"))
    assert torch.equal(a["emb"].weight.detach(), first)


def test_fast_init_restores_torch():
    helper = torch.nn.init._no_grad_trunc_normal_
    with pytest.raises(RuntimeError):
        with ft.fast_init(seed=0):
            assert torch.nn.init._no_grad_trunc_normal_ is not helper
            raise RuntimeError("boom")
    assert torch.nn.init._no_grad_trunc_normal_ is helper
    assert torch._C._is_torch_function_mode_enabled() is False
    torch.manual_seed(5)
    a = torch.nn.init.normal_(torch.empty(100))
    torch.manual_seed(5)
    assert torch.equal(a, torch.empty(100).normal_())   # torch's own stream again


def test_reset_parameters_keys_streams_by_name():
    def build(order):
        torch.manual_seed(0)
        parts = {"emb": lambda: nn.Embedding(300, 16), "fc": lambda: nn.Linear(16, 32),
                 "ln": lambda: nn.LayerNorm(32), "conv": lambda: nn.Conv1d(4, 8, 3)}
        return nn.ModuleDict({key: parts[key]() for key in order})

    a = ft.reset_parameters(build(["emb", "fc", "ln", "conv"]), seed=3)
    b = ft.reset_parameters(build(["conv", "ln", "fc", "emb"]), seed=3)   # another construction order
    c = ft.reset_parameters(build(["emb", "fc", "ln", "conv"]), seed=4)
    for name, p in a.named_parameters():
        assert torch.equal(p, dict(b.named_parameters())[name]), name
    assert not torch.equal(a["fc"].weight, c["fc"].weight)
    expected = ft.normal_(torch.empty(300, 16), seed=fastinit.derive_seed(3, "fastinit.torch.reset_parameters", "emb", "0"))
    assert torch.equal(a["emb"].weight.detach(), expected)
    bound = 1 / math.sqrt(16)
    assert ss.kstest(values(a["fc"].weight), ss.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3
    assert torch.all(a["ln"].weight == 1)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        ft.reset_parameters(torch.empty(3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16], ids=str)
def test_the_host_path_of_cuda_tensors_gives_the_direct_fill(dtype):
    """Without numba-cuda a CUDA tensor is filled through a host tensor and a copy
    (_tensors.through_host); here that path runs on CPU tensors (its copy is the
    same torch call for any device): a strided view of a parameter that requires
    grad gets the values of the direct fill, and the rest of it is untouched."""
    from fastinit.torch._tensors import numpy_view, through_host
    parameter = nn.Parameter(torch.full((30, 40), 7.0, dtype=dtype))
    view = parameter[:, 1::3]
    assert through_host(view, lambda v: fastinit.fill_normal(v, 0.5, 2.0, seed=9, offset=2**32 - 100)) is view
    direct = torch.empty(view.shape, dtype=dtype)
    fastinit.fill_normal(numpy_view(direct), 0.5, 2.0, seed=9, offset=2**32 - 100)
    assert torch.equal(view.detach(), direct)
    rest = torch.ones(30, 40, dtype=torch.bool)
    rest[:, 1::3] = False
    assert bool((parameter.detach()[rest] == 7.0).all())
    assert parameter.requires_grad and parameter.grad_fn is None
