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
        self.proj = nn.Linear(256, 128)   # a weight of 32768 elements: on meta under empty_init
        self.register_buffer("freqs", 1.0 / (10000 ** (torch.arange(0, 8, 2, dtype=torch.float32) / 8)))


def test_a_meta_buffer_nobody_writes_is_an_error_and_empty_init_is_the_fix():
    with torch.device("meta"):
        model = Computed()
    with pytest.raises(RuntimeError, match=r"freqs.*empty_init"):
        ft.initialize(model, seed=0)
    with ft.empty_init():
        model = Computed()
    assert model.proj.weight.is_meta and not model.freqs.is_meta and not model.proj.bias.is_meta
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


# ---------------------------------------------------------------------------
# initialize gives what the model's own construction gives
# ---------------------------------------------------------------------------
class TiedLM(nn.Module):
    """An embedding with a padding row, tied to the output head after both were built."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(500, 64, padding_idx=1)
        self.head = nn.Linear(64, 500, bias=False)
        self.head.weight = self.emb.weight


def test_a_tied_weight_keeps_its_first_owners_init_and_its_padding_row():
    torch.manual_seed(0)
    own = TiedLM()                                   # torch's own: the embedding's init, padding row zero
    assert torch.all(own.emb.weight[1] == 0)
    model = ft.initialize(TiedLM(), seed=2)
    assert model.head.weight is model.emb.weight
    expected = fastinit.fill_normal(np.empty((500, 64), np.float32), seed=stream_seed(2, "emb.weight", "normal", 0.0, 1.0))
    expected[1] = 0
    assert np.array_equal(model.emb.weight.detach().numpy(), expected)
    with torch.device("meta"):
        meta = TiedLM()
    assert_same(ft.initialize(meta, seed=2), model)
    assert meta.head.weight is meta.emb.weight


@pytest.mark.parametrize("build", [lambda: nn.MultiheadAttention(32, 4),
                                   lambda: nn.TransformerEncoderLayer(32, 4, dim_feedforward=64)],
                         ids=["MultiheadAttention", "TransformerEncoderLayer"])
def test_multihead_attention_out_proj_bias_is_zero_as_torch_makes_it(build):
    torch.manual_seed(0)
    own = build()
    biases = {n for n, p in own.named_parameters() if n.endswith("out_proj.bias") or n.endswith("in_proj_bias")}
    assert biases and all(torch.all(p == 0) for n, p in own.named_parameters() if n in biases)
    for model in (ft.initialize(build(), seed=4), ft.initialize(_meta(build), seed=4)):
        assert all(torch.all(p == 0) for n, p in model.named_parameters() if n in biases)
    assert_same(ft.initialize(build(), seed=4), ft.initialize(_meta(build), seed=4))


def _meta(build):
    with torch.device("meta"):
        return build()


def test_reset_parameters_runs_children_first():
    model = ft.reset_parameters(nn.MultiheadAttention(32, 4), seed=1)
    assert torch.all(model.out_proj.bias == 0) and torch.all(model.in_proj_bias == 0)


# weights of 20000 elements (on meta under empty_init); orthogonal's registration needs real values,
# so torch builds it neither on meta nor with a meta weight: a small one, which empty_init keeps real
PARAMETRIZED = {
    "weight_norm": lambda: nn.utils.parametrizations.weight_norm(nn.Linear(200, 100)),
    "spectral_norm": lambda: nn.utils.parametrizations.spectral_norm(nn.Linear(200, 100)),
    "orthogonal": lambda: nn.utils.parametrizations.orthogonal(nn.Linear(20, 20)),
    "old weight_norm": lambda: nn.utils.weight_norm(nn.Linear(200, 100)),
    "old spectral_norm": lambda: nn.utils.spectral_norm(nn.Linear(200, 100)),
}


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("kind", PARAMETRIZED)
def test_parametrized_weights_are_initialized_through_their_originals(kind):
    build = PARAMETRIZED[kind]
    results = []
    for torch_seed in (0, 1):
        torch.manual_seed(torch_seed)
        results.append(ft.initialize(build(), seed=6))
    assert_same(*results)                            # no value of torch's generator is left
    model = results[0]
    plain_linear = ft.initialize(nn.Linear(model.in_features, model.out_features), seed=6)
    weight = plain_linear.weight                     # the stream of "weight": the unparametrized module's
    if kind in ("weight_norm", "old weight_norm"):
        v = model.parametrizations.weight.original1 if kind == "weight_norm" else model.weight_v
        assert torch.equal(v, weight)
        torch.testing.assert_close(_weight(model), weight)
    elif kind in ("spectral_norm", "old spectral_norm"):
        original = model.parametrizations.weight.original if kind == "spectral_norm" else model.weight_orig
        assert torch.equal(original, weight)
        u, v = ((model.parametrizations.weight[0]._u, model.parametrizations.weight[0]._v) if kind == "spectral_norm"
                else (model.weight_u, model.weight_v))
        sigma = torch.dot(u, weight.detach() @ v)   # the power iterations' estimate, from fastinit's u and v
        torch.testing.assert_close(_weight(model), weight / sigma)
        if kind == "spectral_norm":  # 15 power iterations at registration (the old hook iterates in forward)
            assert abs(sigma / torch.linalg.matrix_norm(weight.detach(), ord=2) - 1) < 0.05
    else:
        q = _weight(model)
        torch.testing.assert_close(q @ q.T, torch.eye(20), atol=1e-5, rtol=0)
    assert torch.equal(model.bias, plain_linear.bias)
    for meta_build in ([_empty(build)] if kind == "orthogonal" else [_meta(build), _empty(build)]):
        assert_same(ft.initialize(meta_build, seed=6), model)


def _weight(module):
    with torch.no_grad():
        module.eval()
        return module.weight.detach() if not hasattr(module, "weight_g") and not hasattr(module, "weight_orig") \
            else _recomputed(module)


def _recomputed(module):
    module(torch.zeros(1, module.in_features))      # the old hooks recompute the weight in forward
    return module.weight.detach()


def _empty(build):
    with ft.empty_init():
        return build()


class Noisy(nn.Module):
    """A buffer and a small parameter drawn with torch.randn in the constructor, never re-initialized."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(256, 128)
        self.register_buffer("noise", torch.randn(64))
        self.scale = nn.Parameter(torch.randn(8) * 0.5)   # computed from a draw: not a draw itself


def test_tensors_drawn_in_constructors_under_empty_init_are_drawn_again_by_name():
    results = []
    for torch_seed in (0, 1):
        torch.manual_seed(torch_seed)
        with ft.empty_init():
            model = Noisy()
        assert model.proj.weight.is_meta and not model.noise.is_meta
        results.append(ft.initialize(model, seed=3))
    assert_same(*results)
    noise = fastinit.fill_normal(np.empty(64, np.float32), seed=stream_seed(3, "noise", "normal", 0.0, 1.0))
    assert np.array_equal(results[0].noise.numpy(), noise)
    # a normal build keeps its constructor's values (torch's generator): documented
    torch.manual_seed(5)
    built = Noisy()
    kept = built.noise.clone()
    assert torch.equal(ft.initialize(built, seed=3).noise, kept)
    # on meta, the values are gone: an error that names them and says what to do; the model stays on meta
    with torch.device("meta"):
        meta = Noisy()
    with pytest.raises(RuntimeError, match=r"noise.*empty_init"):
        ft.initialize(meta, seed=3)
    assert all(t.is_meta for t in tensors(meta).values())


def test_a_constructors_draw_cast_by_initialize_is_drawn_again_in_the_new_dtype():
    # initialize(dtype=) casts the buffer to a tensor of its own: the record of its
    # draw goes with it, and it is drawn by name in float64 (as a meta-born tensor
    # would be), not the float32 draw of the block cast.
    torch.manual_seed(0)
    with ft.empty_init():
        model = Noisy()
    ft.initialize(model, seed=3, dtype=torch.float64)
    noise = fastinit.fill_normal(np.empty(64, np.float64), seed=stream_seed(3, "noise", "normal", 0.0, 1.0))
    assert model.noise.dtype == torch.float64 and np.array_equal(model.noise.numpy(), noise)
    with ft.empty_init():
        changed = Noisy()
    changed.noise.mul_(2)  # changed after the block (torch counts it): its value is kept (cast)
    kept = changed.noise.double()
    assert torch.equal(ft.initialize(changed, seed=3, dtype=torch.float64).noise, kept)


def test_clip_like_scalar_parameters_keep_their_constructor_value_under_empty_init():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(256, 128)
            self.logit_scale = nn.Parameter(torch.tensor(2.6592))

    with ft.empty_init():
        model = Scaled()
    assert model.proj.weight.is_meta and model.logit_scale.item() == pytest.approx(2.6592)
    ft.initialize(model, seed=1)
    assert model.logit_scale.item() == pytest.approx(2.6592) and not model.proj.weight.is_meta


class Failing(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(256, 128)
        self.b = nn.Linear(8, 8)

    def init_weights(self):
        nn.init.normal_(self.a.weight)
        raise ArithmeticError("boom")


class FailingReset(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(64, 64))

    def reset_parameters(self):
        nn.init.normal_(self.w)
        raise ArithmeticError("boom")


def test_a_failing_initialization_leaves_the_model_as_it_was():
    with torch.device("meta"):
        model = Failing()
    before = {name: t for name, t in tensors(model).items()}
    with pytest.raises(ArithmeticError, match="boom"):
        ft.initialize(model, seed=0)
    after = tensors(model)
    assert all(after[name] is before[name] and after[name].is_meta for name in before)
    # and the documented error for a meta buffer nobody writes: the same rollback
    with torch.device("meta"):
        computed = Computed()
    with pytest.raises(RuntimeError, match="left as it was"):
        ft.initialize(computed, seed=0)
    assert all(t.is_meta for t in tensors(computed).values())
    # an exception inside a module's reset_parameters, and a dtype cast rolled back too
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(256, 128), FailingReset())
    with pytest.raises(ArithmeticError, match="boom"):
        ft.initialize(model, seed=0)
    assert all(t.is_meta for t in tensors(model).values())
    model = nn.Sequential(nn.Linear(4, 4), FailingReset())
    weight = model[0].weight
    with pytest.raises(ArithmeticError):
        ft.initialize(model, seed=0, dtype=torch.float64)
    assert model[0].weight is weight and weight.dtype == torch.float32


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with CUDA has the device")
def test_a_device_that_is_not_here_is_refused_before_anything_changes():
    for device in ("cuda", "cuda:3", 3, "nonsense", "meta"):
        for build in (lambda: nn.Linear(4, 4), lambda: _meta(lambda: nn.Linear(4, 4))):
            model = build()
            weight = model.weight
            with pytest.raises(ValueError, match="device"):
                ft.initialize(model, seed=0, device=device)
            assert model.weight is weight
    model = ft.initialize(nn.Linear(4, 4), seed=0, device="cpu")
    assert model.weight.device.type == "cpu"
