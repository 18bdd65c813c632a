"""The schemes layer: fans and gains against torch and JAX, every initializer's
distribution against its independently computed target, regions, structure."""

import math

import jax._src.nn.initializers as jax_init
import ml_dtypes
import numpy as np
import pytest
import scipy.stats as ss
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fastinit

ALPHA = 1e-5
SHAPES = [(7, 5), (16, 3, 5), (64, 3, 7, 7), (8, 4, 3, 3, 3), (1, 1), (300, 2, 1, 1)]


# ---------------------------------------------------------------------------
# Fans and gains: exact
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_torch_fans(shape):
    expected = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert fastinit.compute_fans(shape) == expected


AXES = [dict(), dict(in_axis=0, out_axis=1), dict(in_axis=-2, out_axis=-1, batch_axis=0),
        dict(in_axis=(0, 1), out_axis=-1)]


@pytest.mark.parametrize("shape, axes", [(shape, axes) for shape in SHAPES for axes in AXES
                                         if len(shape) >= 3 or len(axes) < 3 and axes.get("in_axis") != (0, 1)])
def test_jax_fans(shape, axes):
    expected = jax_init._compute_fans(shape, **axes)
    got = fastinit.compute_fans(shape, layout="jax", **axes) if axes else fastinit.compute_fans(shape, layout="jax")
    assert got == pytest.approx(expected, rel=1e-15)
    assert fastinit.compute_fans(shape, layout=fastinit.Axes(**axes)) == pytest.approx(expected, rel=1e-15)


def test_keras_fans_and_small_shapes():
    # Keras' rule: 0-d -> (1, 1), 1-d (n,) -> (n, n), (*kernel, in, out) otherwise
    assert fastinit.compute_fans((), layout="keras") == (1, 1)
    assert fastinit.compute_fans((5,), layout="keras") == (5, 5)
    assert fastinit.compute_fans((784, 256), layout="keras") == (784, 256)
    assert fastinit.compute_fans((3, 3, 64, 128), layout="keras") == (576, 1152)
    with pytest.raises(ValueError, match="torch layout"):
        fastinit.compute_fans((5,))
    with pytest.raises(ValueError, match="1-d"):
        fastinit.compute_fans((5,), layout="jax")
    assert fastinit.compute_fans((5,), fan_in=5, fan_out=7) == (5, 7)
    assert fastinit.compute_fans((4, 6), fan_in=10) == (10, 4)
    assert fastinit.compute_fans((0, 6)) == (6, 0)  # zero-size: zero fan, no ZeroDivisionError
    with pytest.raises(ValueError, match="fan_in must be > 0"):
        fastinit.compute_fans((4, 6), fan_in=0)
    with pytest.raises(ValueError, match="layout"):
        fastinit.compute_fans((4, 6), layout="tf")
    with pytest.raises(ValueError, match="overlap"):
        fastinit.compute_fans((4, 6, 3), in_axis=0, out_axis=0)


@pytest.mark.parametrize("name, param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose1d", None),
    ("conv_transpose2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1), ("leaky_relu", math.sqrt(5)), ("selu", None),
])
def test_gains_equal_torch(name, param):
    assert fastinit.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


def test_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        fastinit.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope"):
        fastinit.calculate_gain("leaky_relu", True)


# ---------------------------------------------------------------------------
# Distributions of every initializer, targets computed here from the formulas
# ---------------------------------------------------------------------------
def assert_distribution(x, dist):
    x = np.asarray(x, dtype=np.float64).ravel()
    assert ss.kstest(x, dist.cdf).pvalue > ALPHA
    mean, var, _, excess = (float(v) for v in dist.stats(moments="mvsk"))
    n = x.size
    assert abs(x.mean() - mean) / math.sqrt(var / n) < 5
    assert abs(x.var() - var) / (var * math.sqrt((excess + 2) / n)) < 5


def truncated(std):
    """Keras/JAX truncated normal: std / 0.8796..., cut at 2 of those stds."""
    s = std / 0.87962566103423978
    return ss.truncnorm(-2, 2, scale=s)


TORCH_SHAPE = (512, 256, 3)          # fan_in = 768, fan_out = 1536
FAN_IN, FAN_OUT = 256 * 3, 512 * 3
KERAS_SHAPE = (3, 256, 512)          # the same fans in (*kernel, in, out)

CASES = {
    "xavier_uniform": (lambda **k: fastinit.xavier_uniform(TORCH_SHAPE, gain=2.0, **k),
                       ss.uniform(-2 * math.sqrt(6 / (FAN_IN + FAN_OUT)), 4 * math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    "xavier_normal": (lambda **k: fastinit.xavier_normal(TORCH_SHAPE, gain=0.5, **k),
                      ss.norm(0, 0.5 * math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    "glorot_uniform": (lambda **k: fastinit.glorot_uniform(KERAS_SHAPE, layout="keras", **k),
                       ss.uniform(-math.sqrt(6 / (FAN_IN + FAN_OUT)), 2 * math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    "glorot_normal": (lambda **k: fastinit.glorot_normal(KERAS_SHAPE, layout="keras", **k),
                      truncated(math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    "kaiming_uniform_relu": (lambda **k: fastinit.kaiming_uniform(TORCH_SHAPE, nonlinearity="relu", **k),
                             ss.uniform(-math.sqrt(6 / FAN_IN), 2 * math.sqrt(6 / FAN_IN))),
    "kaiming_uniform_torch_default": (lambda **k: fastinit.kaiming_uniform(TORCH_SHAPE, a=math.sqrt(5), **k),
                                      ss.uniform(-1 / math.sqrt(FAN_IN), 2 / math.sqrt(FAN_IN))),
    "kaiming_normal_fan_out": (lambda **k: fastinit.kaiming_normal(TORCH_SHAPE, mode="fan_out",
                                                                   nonlinearity="relu", **k),
                               ss.norm(0, math.sqrt(2 / FAN_OUT))),
    "kaiming_normal_leaky": (lambda **k: fastinit.kaiming_normal(TORCH_SHAPE, a=0.1, **k),
                             ss.norm(0, math.sqrt(2 / (1 + 0.01)) / math.sqrt(FAN_IN))),
    "he_uniform": (lambda **k: fastinit.he_uniform(KERAS_SHAPE, layout="keras", **k),
                   ss.uniform(-math.sqrt(6 / FAN_IN), 2 * math.sqrt(6 / FAN_IN))),
    "he_normal": (lambda **k: fastinit.he_normal(KERAS_SHAPE, layout="keras", **k), truncated(math.sqrt(2 / FAN_IN))),
    "lecun_uniform": (lambda **k: fastinit.lecun_uniform(TORCH_SHAPE, **k),
                      ss.uniform(-math.sqrt(3 / FAN_IN), 2 * math.sqrt(3 / FAN_IN))),
    "lecun_normal": (lambda **k: fastinit.lecun_normal(TORCH_SHAPE, **k), truncated(math.sqrt(1 / FAN_IN))),
    "fan_in_uniform": (lambda **k: fastinit.fan_in_uniform(TORCH_SHAPE, **k),
                       ss.uniform(-1 / math.sqrt(FAN_IN), 2 / math.sqrt(FAN_IN))),
    "fan_in_uniform_bias": (lambda **k: fastinit.fan_in_uniform((393_216,), fan_in=FAN_IN, fan_out=1, **k),
                            ss.uniform(-1 / math.sqrt(FAN_IN), 2 / math.sqrt(FAN_IN))),
    "variance_scaling_geo": (lambda **k: fastinit.variance_scaling(TORCH_SHAPE, scale=3.0, mode="fan_geo_avg",
                                                                   distribution="normal", **k),
                             ss.norm(0, math.sqrt(3 / math.sqrt(FAN_IN * FAN_OUT)))),
    "variance_scaling_jax_axes": (lambda **k: fastinit.variance_scaling(
        (512, 3, 256), scale=2.0, mode="fan_out", distribution="uniform", in_axis=2, out_axis=0, **k),
        ss.uniform(-math.sqrt(6 / FAN_OUT), 2 * math.sqrt(6 / FAN_OUT))),
    "uniform": (lambda **k: fastinit.uniform(TORCH_SHAPE, low=-3.0, high=5.0, **k), ss.uniform(-3, 8)),
    "normal": (lambda **k: fastinit.normal(TORCH_SHAPE, mean=1.0, std=0.02, **k), ss.norm(1.0, 0.02)),
    "truncated_normal_torch": (lambda **k: fastinit.truncated_normal(TORCH_SHAPE, std=0.02, a=-0.03, b=0.05, **k),
                               ss.truncnorm(-1.5, 2.5, scale=0.02)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_initializer_distribution(name):
    make, dist = CASES[name]
    x = make(seed=101)
    assert x.dtype == np.float32
    assert_distribution(x, dist)


def test_truncated_variance_scaling_has_the_target_variance():
    x = fastinit.variance_scaling((4096, 512), scale=1.0, mode="fan_in", seed=5)
    n = x.size
    assert abs(x.astype(np.float64).var() * 512 - 1) < 5 * math.sqrt(2.4 / n)  # kurtosis of truncnorm(-2,2) < 3


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_initializers_in_every_dtype(dtype):
    resolved = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    x = fastinit.he_uniform(TORCH_SHAPE, dtype=dtype, seed=3)
    assert x.dtype == resolved and x.shape == TORCH_SHAPE
    limit = math.sqrt(6 / FAN_IN)
    wide = x.astype(np.float64)
    assert wide.min() >= -limit and wide.max() < limit
    assert_distribution(wide, ss.uniform(-limit, 2 * limit)) if dtype == "float64" else None
    ref = fastinit.he_uniform(TORCH_SHAPE, seed=3).astype(resolved)
    if dtype != "float64":  # the float32 stream rounded (and kept inside the interval)
        np.testing.assert_allclose(wide, ref.astype(np.float64), atol=float(np.finfo(np.float16).eps) if
                                   dtype == "float16" else 0.008 * limit)


def test_out_and_shape_calls_agree():
    a = fastinit.kaiming_normal((64, 32), seed=9)
    b = np.empty((64, 32), np.float32)
    assert fastinit.kaiming_normal(out=b, seed=9) is b
    np.testing.assert_array_equal(a, b)
    c = np.empty((64, 32), np.float64)  # float64 is a stream of its own
    fastinit.kaiming_normal((64, 32), out=c, seed=9)
    np.testing.assert_array_equal(c, fastinit.kaiming_normal((64, 32), dtype=np.float64, seed=9))


# ---------------------------------------------------------------------------
# Regions (shards): bit-identical blocks, fans from the full shape
# ---------------------------------------------------------------------------
REGION_MAKERS = {
    "xavier_uniform": lambda shape, **k: fastinit.xavier_uniform(shape, seed=4, **k),
    "he_normal_keras": lambda shape, **k: fastinit.he_normal(shape, seed=4, layout="keras", **k),
    "normal": lambda shape, **k: fastinit.normal(shape, std=0.02, seed=4, **k),
    "kaiming_normal_bf16": lambda shape, **k: fastinit.kaiming_normal(shape, seed=4, dtype="bfloat16", **k),
    "constant": lambda shape, **k: fastinit.constant(shape, value=3.0, **k),
}
REGIONS = [
    ((40, 30), (slice(10, 25), slice(None))),          # rows: one run
    ((40, 30), (slice(0, 40), slice(7, 8))),           # one column
    ((40, 30), ((3, 17), (4, 29))),                    # a box
    ((6, 40, 30), (slice(1, 3), slice(None), slice(None))),
    ((6, 40, 30), (slice(2, 6), slice(5, 6), slice(0, 30))),
    ((40, 30), (slice(5, 5), slice(None))),            # empty
]


def _block(whole, region):
    return whole[tuple(slice(*r) if isinstance(r, tuple) else r for r in region)]


@pytest.mark.parametrize("name", sorted(REGION_MAKERS))
@pytest.mark.parametrize("shape, region", REGIONS)
def test_region_equals_block_of_the_whole(name, shape, region):
    make = REGION_MAKERS[name]
    block = _block(make(shape), region)
    part = make(shape, region=region)
    assert part.shape == block.shape and part.dtype == block.dtype
    np.testing.assert_array_equal(part.view(np.uint8), block.view(np.uint8))
    buffer = np.empty(block.shape, part.dtype)
    make(shape, region=region, out=buffer)
    np.testing.assert_array_equal(buffer.view(np.uint8), block.view(np.uint8))


@pytest.mark.parametrize("shape, region", [r for r in REGIONS if len(r[0]) == 2])
def test_eye_region(shape, region):
    np.testing.assert_array_equal(fastinit.eye(shape, region=region), _block(fastinit.eye(shape), region))


def test_region_errors():
    with pytest.raises(ValueError, match="axes"):
        fastinit.normal((4, 4), region=(slice(0, 2),), seed=0)
    with pytest.raises(ValueError, match="step 1"):
        fastinit.normal((4, 4), region=(slice(0, 4, 2), slice(None)), seed=0)
    with pytest.raises(ValueError, match="outside"):
        fastinit.normal((4, 4), region=((0, 5), (0, 4)), seed=0)
    with pytest.raises(ValueError, match="region's shape"):
        fastinit.normal((4, 4), region=((0, 2), (0, 4)), out=np.empty((3, 4), np.float32), seed=0)
    with pytest.raises(TypeError, match="full tensor's shape"):
        fastinit.normal(region=((0, 2), (0, 4)), out=np.empty((2, 4), np.float32), seed=0)


# ---------------------------------------------------------------------------
# Structured initializers
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 64), (30, 50), (50, 30), (16, 4, 3, 3), (8, 100)])
def test_orthogonal(shape):
    q = fastinit.orthogonal(shape, gain=1.5, seed=2)
    rows = shape[0]
    flat = q.reshape(rows, -1).astype(np.float64)
    small = min(flat.shape)
    gram = flat @ flat.T if rows <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 2.25 * np.eye(small), atol=2e-5)
    # the Q of the QR of the normal stream, signs fixed so that R has a positive diagonal
    cols = flat.shape[1]
    a = fastinit.fill_normal(np.empty((rows, cols) if rows >= cols else (cols, rows)), seed=2)
    qq, rr = np.linalg.qr(a)
    qq = qq * np.sign(np.diag(rr))
    expected = (qq if rows >= cols else qq.T) * 1.5
    np.testing.assert_allclose(flat, expected, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: np.zeros((6, 4, 3), np.float32, order="F"),
                                  lambda: np.zeros((8, 10, 5), np.float32)[1:7, ::-2, 1:4],
                                  lambda: np.zeros((5, 4, 3, 3), np.float64).transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)],
                         ids=["F-order", "strided view", "channels-last"])
def test_orthogonal_fills_non_contiguous_outputs_of_any_rank(make):
    out = make()
    assert not out.flags.c_contiguous and out.ndim >= 3
    assert fastinit.orthogonal(out=out, seed=1) is out
    np.testing.assert_array_equal(out, fastinit.orthogonal(out.shape, dtype=out.dtype, seed=1))


def test_orthogonal_is_haar_distributed():
    # Entries of a Haar orthogonal n x n matrix are nearly N(0, 1/n); the sign
    # fix matters: without it the diagonal would be biased.
    n = 256
    diag, offdiag = [], []
    for seed in range(12):
        q = fastinit.orthogonal((n, n), seed=seed, dtype=np.float64)
        diag.append(np.diag(q))
        offdiag.append(q[np.triu_indices(n, 1)][:2000])
    assert abs(np.mean(diag)) * math.sqrt(n * len(diag) * n) < 5
    assert ss.kstest(np.concatenate(offdiag) * math.sqrt(n), ss.norm().cdf).pvalue > 1e-4


def test_eye_matches_torch():
    for shape in [(5, 5), (3, 7), (7, 3)]:
        np.testing.assert_array_equal(fastinit.eye(shape, dtype=np.float64), torch.nn.init.eye_(torch.empty(shape, dtype=torch.float64)).numpy())
    np.testing.assert_array_equal(fastinit.identity((4, 4), gain=2.0), 2 * np.eye(4))
    with pytest.raises(ValueError, match="2-d"):
        fastinit.eye((2, 2, 2))


@pytest.mark.parametrize("shape, groups", [((8, 8, 3), 1), ((8, 4, 3, 3), 2), ((6, 6, 4, 4), 1), ((12, 4, 2, 3, 4), 3),
                                           ((4, 8, 5, 5), 1)])
def test_dirac_matches_torch(shape, groups):
    expected = torch.nn.init.dirac_(torch.empty(shape), groups=groups).numpy()
    np.testing.assert_array_equal(fastinit.dirac(shape, groups=groups), expected)


def test_dirac_jax_center_for_even_kernels():
    w = fastinit.dirac((4, 4, 4, 4), center="jax")
    assert w[0, 0, 1, 1] == 1 and w[0, 0, 2, 2] == 0
    assert fastinit.dirac((4, 4, 4, 4))[0, 0, 2, 2] == 1
    with pytest.raises(ValueError, match="divisible"):
        fastinit.dirac((5, 4, 3, 3), groups=2)


def test_sparse():
    rows, cols, sparsity = 200, 3000, 0.35
    w = fastinit.sparse((rows, cols), sparsity=sparsity, std=0.05, seed=8)
    zeros = w == 0
    assert np.all(zeros.sum(axis=0) == math.ceil(sparsity * rows))  # torch semantics: exactly this many per column
    assert_distribution(w[~zeros], ss.norm(0, 0.05))
    # the zero rows are uniform: every row is zeroed in about the same number of columns
    per_row = zeros.sum(axis=1)
    assert ss.chisquare(per_row).pvalue > ALPHA
    np.testing.assert_array_equal(w, fastinit.sparse((rows, cols), sparsity=sparsity, std=0.05, seed=8))
    assert not np.array_equal(w, fastinit.sparse((rows, cols), sparsity=sparsity, std=0.05, seed=9))
    with pytest.raises(ValueError, match="sparsity"):
        fastinit.sparse((4, 4), sparsity=1.5, seed=0)


def test_sparse_zero_rows_are_the_smallest_keys_equal_keys_by_lower_row():
    """The rule of docs/stream-format.md, read as (key, row) order, on keys
    with ties at the cut (which argpartition may break either way)."""
    from fastinit.schemes import _smallest_rows
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 4, size=(40, 25)).astype(np.float64)  # many equal keys in every column
    for k in (1, 7, 20, 39):
        chosen = _smallest_rows(keys, k)
        for c in range(keys.shape[1]):
            expected = sorted(range(keys.shape[0]), key=lambda r: (keys[r, c], r))[:k]
            assert sorted(chosen[:, c].tolist()) == sorted(expected)
    # and the zero rows of fastinit.sparse are those of its key stream
    rows, cols = 50, 30
    w = fastinit.sparse((rows, cols), sparsity=0.3, seed=4)
    key_stream = fastinit.fill_uniform(np.empty((rows, cols)), seed=fastinit.derive_seed(4, "fastinit.sparse"))
    for c in range(cols):
        expected = sorted(range(rows), key=lambda r: (key_stream[r, c], r))[:math.ceil(0.3 * rows)]
        assert sorted(np.flatnonzero(w[:, c] == 0).tolist()) == sorted(expected)


# ---------------------------------------------------------------------------
# Calling convention and errors
# ---------------------------------------------------------------------------
def test_calling_convention_errors():
    with pytest.raises(TypeError, match="needs a shape or out="):
        fastinit.xavier_uniform(seed=0)
    with pytest.raises(ValueError, match="does not match out.shape"):
        fastinit.xavier_uniform((3, 4), out=np.empty((4, 3), np.float32), seed=0)
    with pytest.raises(ValueError, match="does not match out.dtype"):
        fastinit.xavier_uniform(out=np.empty((4, 3), np.float32), dtype=np.float64, seed=0)
    with pytest.raises(TypeError, match="dtype"):
        fastinit.xavier_uniform((4, 3), dtype=np.int32, seed=0)
    with pytest.raises(ValueError, match="mode"):
        fastinit.variance_scaling((4, 3), mode="fan_sum", seed=0)
    with pytest.raises(ValueError, match="distribution"):
        fastinit.variance_scaling((4, 3), distribution="cauchy", seed=0)
    with pytest.raises(ValueError, match="scale"):
        fastinit.variance_scaling((4, 3), scale=-1.0, seed=0)
    with pytest.raises(ValueError, match="mode"):
        fastinit.kaiming_uniform((4, 3), mode="fan_avg", seed=0)
    with pytest.raises(ValueError, match="orthogonal needs"):
        fastinit.orthogonal((5,), seed=0)
    with pytest.raises(ValueError, match="negative"):
        fastinit.normal((3, -1), seed=0)
    out = np.full((4, 3), 7.0, np.float32)
    with pytest.raises(ValueError):
        fastinit.xavier_uniform(out=out, gain=float("nan"), seed=0)
    assert np.all(out == 7.0)


def test_zero_size_tensors_are_a_no_op():
    for make in (fastinit.xavier_uniform, fastinit.kaiming_normal, fastinit.lecun_normal):
        x = make((0, 5), seed=0)
        assert x.shape == (0, 5)
    assert fastinit.orthogonal((0, 4), seed=0).shape == (0, 4)
    assert fastinit.variance_scaling((3, 3, 0, 4), layout="keras", seed=0).size == 0


def test_zero_gain_gives_zeros():
    assert np.all(fastinit.xavier_normal((8, 8), gain=0.0, seed=0) == 0)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_region_equals_the_block_of_the_whole(data):
    ndim = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.lists(st.integers(1, 40), min_size=ndim, max_size=ndim)))
    region = []
    for size in shape:
        start = data.draw(st.integers(0, size))
        region.append((start, data.draw(st.integers(start, size))))
    name = data.draw(st.sampled_from(["normal", "uniform", "truncated_normal"]))
    dtype = data.draw(st.sampled_from(["float32", "float64", "bfloat16"]))
    make = getattr(fastinit, name)
    whole = make(shape, seed=6, dtype=dtype)
    part = make(shape, seed=6, dtype=dtype, region=tuple(region))
    np.testing.assert_array_equal(part.view(np.uint8), whole[tuple(slice(a, b) for a, b in region)].view(np.uint8))
