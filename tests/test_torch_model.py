"""fastinit.torch.model: initialize (one stream per parameter name, meta-device models), empty_init."""

import math

import numba
import numpy as np
import pytest
import scipy.stats as ss
import torch
import torch.nn as nn

import fastinit
import fastinit.torch as ft

ALPHA = 1e-5


def stream_seed(seed, name, distribution, *params):
    """The documented name-keyed seed (docs/stream-format.md, section 8)."""
    return fastinit.derive_seed(seed, "fastinit.torch.initialize", name, distribution,
                                *(float(p).hex() for p in params))


def tensors(model):
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def assert_same(a, b):
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name].dtype == tb[name].dtype and torch.equal(ta[name], tb[name]), name


def plain(order=("emb", "fc", "ln", "conv", "bn", "attn")):
    parts = {"emb": lambda: nn.Embedding(300, 16, padding_idx=3), "fc": lambda: nn.Linear(16, 32),
             "ln": lambda: nn.LayerNorm(32), "conv": lambda: nn.Conv2d(4, 8, 3), "bn": lambda: nn.BatchNorm1d(8),
             "attn": lambda: nn.MultiheadAttention(16, 2)}
    return nn.ModuleDict({key: parts[key]() for key in order})


def test_known_answer_of_a_parameter_stream():
    model = ft.initialize(plain(), seed=5)
    weight = fastinit.fill_normal(np.empty((300, 16), np.float32), 0.0, 1.0,
                                  seed=stream_seed(5, "emb.weight", "normal", 0.0, 1.0))
    weight[3] = 0  # Embedding.reset_parameters zeroes the padding row
    assert np.array_equal(model["emb"].weight.detach().numpy(), weight)
    bound = math.sqrt(3.0) * (nn.init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(16))
    assert np.array_equal(model["fc"].weight.detach().numpy(), fastinit.fill_uniform(
        np.empty((32, 16), np.float32), -bound, bound, seed=stream_seed(5, "fc.weight", "uniform", -bound, bound)))


def test_values_depend_on_the_name_only():
    a = ft.initialize(plain(), seed=1)
    b = ft.initialize(plain(order=("attn", "bn", "conv", "ln", "fc", "emb")), seed=1)
    for name, tensor in tensors(a).items():
        assert torch.equal(tensor, tensors(b)[name]), name
    c = ft.initialize(plain(), seed=2)
    assert not torch.equal(a["fc"].weight, c["fc"].weight)
    torch.manual_seed(0)
    d = ft.initialize(plain(), seed=1)
    assert_same(a, d)
    numba.set_num_threads(1)
    try:
        assert_same(a, ft.initialize(plain(), seed=1))
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_meta_models_are_materialized_equal_to_built_ones():
    built = ft.initialize(plain(), seed=4)
    with torch.device("meta"):
        meta = plain()
    assert meta["fc"].weight.is_meta
    ft.initialize(meta, seed=4)
    assert_same(built, meta)
    assert all(t.device.type == "cpu" for t in tensors(meta).values())
    assert torch.all(meta["bn"].running_var == 1) and int(meta["bn"].num_batches_tracked) == 0


def test_initialize_in_place_keeps_tensors_and_dtype():
    model = plain()
    pointers = {name: t.data_ptr() for name, t in tensors(model).items()}
    objects = {name: t for name, t in model.named_parameters()}
    ft.initialize(model, seed=0)
    assert {name: t.data_ptr() for name, t in tensors(model).items()} == pointers
    assert all(p is objects[name] for name, p in model.named_parameters())
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_dtype(dtype):
    built = ft.initialize(plain(), seed=3, dtype=dtype)
    with torch.device("meta"):
        meta = plain()
    ft.initialize(meta, seed=3, dtype=dtype)
    assert built["fc"].weight.dtype == dtype and built["bn"].num_batches_tracked.dtype == torch.int64
    assert_same(built, meta)


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.head = nn.Linear(8, 100, bias=False)
        self.head.weight = self.emb.weight


def test_tied_weights_stay_one_tensor():
    with torch.device("meta"):
        model = Tied()
    ft.initialize(model, seed=0)
    assert model.head.weight is model.emb.weight and not model.emb.weight.is_meta
    assert_same(model, ft.initialize(Tied(), seed=0))


class Views(nn.Module):
    """An init routine that fills views: rows, one row, a strided column block."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(40, 30))

    def init_weights(self):
        nn.init.normal_(self.weight[5:12], std=2.0)
        nn.init.normal_(self.weight[20], std=2.0)
        nn.init.normal_(self.weight[25:, 3:9], std=2.0)
        nn.init.normal_(self.weight[:5], std=3.0)


def test_fills_of_views_take_the_parameters_stream_at_their_positions():
    model = Views()
    with torch.no_grad():
        model.weight.fill_(0.5)
    ft.initialize(model, seed=9)
    whole = fastinit.fill_normal(np.empty((40, 30), np.float32), 0.0, 2.0,
                                 seed=stream_seed(9, "weight", "normal", 0.0, 2.0))
    other = fastinit.fill_normal(np.empty((40, 30), np.float32), 0.0, 3.0,
                                 seed=stream_seed(9, "weight", "normal", 0.0, 3.0))
    w = model.weight.detach().numpy()
    assert np.array_equal(w[5:12], whole[5:12]) and np.array_equal(w[20], whole[20])
    assert np.array_equal(w[25:, 3:9], whole[25:, 3:9]) and np.array_equal(w[:5], other[:5])
    assert np.all(w[12:20] == 0.5)  # untouched


class Computed(nn.Module):
    """A buffer computed in the constructor and never re-initialized."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.register_buffer("freqs", 1.0 / (10000 ** (torch.arange(0, 8, 2, dtype=torch.float32) / 8)))


def test_a_meta_buffer_nobody_writes_is_an_error_and_empty_init_is_the_fix():
    with torch.device("meta"):
        model = Computed()
    with pytest.raises(RuntimeError, match=r"freqs.*empty_init"):
        ft.initialize(model, seed=0)
    with ft.empty_init():
        model = Computed()
    assert model.proj.weight.is_meta and not model.freqs.is_meta
    ft.initialize(model, seed=0)
    assert_same(model, ft.initialize(Computed(), seed=0))
    assert torch.equal(model.freqs, Computed().freqs)
    assert nn.Linear(2, 2).weight.device.type == "cpu"   # empty_init restored


class Partial(nn.Module):
    """A model-level init_weights that leaves one submodule to its defaults."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 64)
        self.b = nn.Linear(64, 64)

    def init_weights(self):
        nn.init.trunc_normal_(self.a.weight, std=0.02)
        nn.init.zeros_(self.a.bias)


def test_model_init_weights_then_reset_of_untouched_modules():
    with torch.device("meta"):
        meta = Partial()
    ft.initialize(meta, seed=1)
    built = ft.initialize(Partial(), seed=1)
    assert_same(meta, built)
    expected = fastinit.fill_truncated_normal(np.empty((64, 64), np.float32), 0.0, 0.02, -2.0, 2.0,
                                              seed=stream_seed(1, "a.weight", "truncated_normal", 0.0, 0.02, -2.0, 2.0))
    assert np.array_equal(built.a.weight.detach().numpy(), expected)
    assert ss.kstest(built.b.weight.detach().numpy().ravel(), ss.uniform(-1 / 8, 2 / 8).cdf).pvalue > ALPHA


def test_bad_arguments():
    with pytest.raises(TypeError, match="model"):
        ft.initialize(torch.empty(3))
    with pytest.raises(TypeError, match="dtype"):
        ft.initialize(plain(), dtype=torch.int32)
    with pytest.raises(ValueError, match="device"):
        ft.initialize(plain(), device="meta")
    with pytest.raises((TypeError, ValueError), match="seed"):
        ft.initialize(plain(), seed=-1)
