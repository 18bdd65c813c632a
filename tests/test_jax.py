"""fastinit.jax: jax.nn.initializers factories on fastinit's kernels, in JAX and Flax."""

import math

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as ss

import fastinit
import fastinit._buffers
import fastinit.jax as fj

ALPHA = 1e-5
SHAPE = (3, 256, 512)        # (*kernel, in, out): fan_in = 768, fan_out = 1536
FAN_IN, FAN_OUT = 768, 1536


def truncated(std):
    s = std / 0.87962566103423978
    return ss.truncnorm(-2, 2, scale=s)


CASES = {
    "glorot_uniform": (fj.glorot_uniform, jax.nn.initializers.glorot_uniform,
                       ss.uniform(-math.sqrt(6 / (FAN_IN + FAN_OUT)), 2 * math.sqrt(6 / (FAN_IN + FAN_OUT)))),
    "glorot_normal": (fj.glorot_normal, jax.nn.initializers.glorot_normal, truncated(math.sqrt(2 / (FAN_IN + FAN_OUT)))),
    "he_uniform": (fj.he_uniform, jax.nn.initializers.he_uniform,
                   ss.uniform(-math.sqrt(6 / FAN_IN), 2 * math.sqrt(6 / FAN_IN))),
    "he_normal": (fj.he_normal, jax.nn.initializers.he_normal, truncated(math.sqrt(2 / FAN_IN))),
    "lecun_uniform": (fj.lecun_uniform, jax.nn.initializers.lecun_uniform,
                      ss.uniform(-math.sqrt(3 / FAN_IN), 2 * math.sqrt(3 / FAN_IN))),
    "lecun_normal": (fj.lecun_normal, jax.nn.initializers.lecun_normal, truncated(math.sqrt(1 / FAN_IN))),
    "normal": (lambda: fj.normal(0.05), lambda: jax.nn.initializers.normal(0.05), ss.norm(0, 0.05)),
    "uniform": (lambda: fj.uniform(0.3), lambda: jax.nn.initializers.uniform(0.3), ss.uniform(0, 0.3)),
    "truncated_normal": (lambda: fj.truncated_normal(0.02, lower=-1.0, upper=3.0),
                         lambda: jax.nn.initializers.truncated_normal(0.02, lower=-1.0, upper=3.0),
                         ss.truncnorm(-1.0, 3.0, scale=0.02)),
    "variance_scaling_axes": (lambda: fj.variance_scaling(3.0, "fan_geo_avg", "normal", in_axis=0, out_axis=2),
                              lambda: jax.nn.initializers.variance_scaling(3.0, "fan_geo_avg", "normal",
                                                                           in_axis=0, out_axis=2),
                              ss.norm(0, math.sqrt(3 / math.sqrt(3 * 256 * 512 * 256)))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_distribution_as_jax(name):
    ours, theirs, dist = CASES[name]
    a = np.asarray(ours()(jax.random.key(1), SHAPE), dtype=np.float64).ravel()
    b = np.asarray(theirs()(jax.random.key(1), SHAPE), dtype=np.float64).ravel()
    for x in (a, b):
        assert ss.kstest(x, dist.cdf).pvalue > ALPHA
        m, v = (float(s) for s in dist.stats())
        assert abs(x.mean() - m) < 5 * math.sqrt(v / x.size)
        assert abs(x.var() - v) < 5 * v * math.sqrt(2 / x.size)
    assert ss.ks_2samp(a, b).pvalue > ALPHA


def test_aliases_and_shapes_and_dtypes():
    assert fj.xavier_uniform is fj.glorot_uniform and fj.kaiming_normal is fj.he_normal
    key = jax.random.key(0)
    for dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
        w = fj.he_normal(dtype=dtype)(key, (5, 7))
        assert w.shape == (5, 7) and w.dtype == dtype
    assert fj.he_normal()(key, (5, 7), jnp.bfloat16).dtype == jnp.bfloat16
    assert fj.zeros(key, (3,)).dtype == jnp.float32 and float(fj.ones(key, (2, 2)).sum()) == 4
    c = fj.constant(0.25)(key, (4,))
    assert c.dtype == jnp.float32 and bool(jnp.all(c == 0.25))


def test_keys_determine_the_values():
    init = fj.he_uniform()
    a = init(jax.random.key(7), (64, 32))
    assert bool(jnp.array_equal(a, init(jax.random.key(7), (64, 32))))
    assert bool(jnp.array_equal(a, init(jax.random.PRNGKey(7), (64, 32))))  # raw uint32 keys too
    assert not bool(jnp.array_equal(a, init(jax.random.key(8), (64, 32))))
    k1, k2 = jax.random.split(jax.random.key(7))
    assert not bool(jnp.array_equal(init(k1, (64, 32)), init(k2, (64, 32))))
    # the documented derivation
    expected = fastinit.he_uniform((64, 32), layout="jax", seed=fj.seed_from_key(jax.random.key(7)))
    np.testing.assert_array_equal(np.asarray(a), expected)


def test_inside_jit():
    init = fj.glorot_normal()
    key = jax.random.key(3)
    eager = init(key, (128, 64))
    jitted = jax.jit(lambda k: init(k, (128, 64)))(key)
    assert bool(jnp.array_equal(eager, jitted))
    many = jax.jit(jax.vmap(lambda k: init(k, (8, 4))))(jax.random.split(key, 3))
    assert many.shape == (3, 8, 4)


@pytest.mark.parametrize("shape, column_axis", [((64, 32), -1), ((32, 64), -1), ((3, 3, 16, 32), -1),
                                                ((32, 3, 3, 16), 0), ((50, 50), 0)])
def test_orthogonal(shape, column_axis):
    q = np.asarray(fj.orthogonal(scale=2.0, column_axis=column_axis)(jax.random.key(2), shape), dtype=np.float64)
    m = np.moveaxis(q, column_axis, -1).reshape(-1, shape[column_axis])
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 4 * np.eye(small), atol=1e-4)
    theirs = np.asarray(jax.nn.initializers.orthogonal(2.0, column_axis)(jax.random.key(2), shape))
    assert theirs.shape == q.shape


def test_delta_orthogonal_centre_matches_jax():
    shape = (4, 4, 8, 16)  # even kernel: the centre tap is (k - 1) // 2 = 1
    ours = np.asarray(fj.delta_orthogonal()(jax.random.key(0), shape))
    theirs = np.asarray(jax.nn.initializers.delta_orthogonal()(jax.random.key(0), shape))
    assert np.array_equal(np.abs(ours).sum(axis=(2, 3)) > 0, np.abs(theirs).sum(axis=(2, 3)) > 0)
    centre = ours[1, 1]
    np.testing.assert_allclose(centre @ centre.T, np.eye(8), atol=1e-5)
    with pytest.raises(ValueError, match="fan_in"):
        fj.delta_orthogonal()(jax.random.key(0), (3, 3, 16, 8))


def test_flax_modules_accept_the_initializers():
    model = fnn.Sequential([
        fnn.Conv(32, (3, 3), kernel_init=fj.he_normal(), bias_init=fj.zeros),
        fnn.Dense(256, kernel_init=fj.glorot_uniform(), bias_init=fj.constant(0.1)),
    ])
    x = jnp.ones((1, 8, 8, 3))
    params = model.init(jax.random.key(0), x)
    again = jax.jit(model.init)(jax.random.key(0), x)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), params, again))
    kernel = np.asarray(params["params"]["layers_1"]["kernel"], dtype=np.float64)
    assert kernel.shape == (32, 256)
    limit = math.sqrt(6 / (32 + 256))
    assert ss.kstest(kernel.ravel(), ss.uniform(-limit, 2 * limit).cdf).pvalue > ALPHA
    conv = np.asarray(params["params"]["layers_0"]["kernel"], dtype=np.float64)
    assert conv.shape == (3, 3, 3, 32) and abs(conv.std() - math.sqrt(2 / 27)) < 0.1 * math.sqrt(2 / 27)
    assert bool(jnp.all(params["params"]["layers_1"]["bias"] == 0.1))


def test_factory_errors():
    with pytest.raises(ValueError, match="mode"):
        fj.variance_scaling(1.0, "fan_sum", "normal")
    with pytest.raises(ValueError, match="distribution"):
        fj.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(ValueError):
        fj.he_normal()(jax.random.key(0), (5,))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_eager_result_adopts_the_filled_host_buffer(monkeypatch, dtype):
    # Zero-copy hand-off: the array JAX returns lives in the very buffer fastinit filled.
    made = []

    def spy(shape, dtype):
        made.append(fastinit._buffers.aligned_empty(shape, dtype))
        return made[-1]

    monkeypatch.setattr(fj, "aligned_empty", spy)
    out = fj.normal(0.02)(jax.random.key(3), (512, 256), dtype)
    assert len(made) == 1 and made[0].ctypes.data % 64 == 0
    assert out.unsafe_buffer_pointer() == made[0].ctypes.data
    expected = fastinit.normal((512, 256), std=0.02, seed=fj.seed_from_key(jax.random.key(3)),
                               dtype=np.dtype(dtype))
    assert np.array_equal(np.asarray(out).view(np.uint8), expected.view(np.uint8))


def test_inside_jit_the_values_are_the_eager_ones():
    key = jax.random.key(5)
    eager = fj.he_normal()(key, (64, 32))
    jitted = jax.jit(lambda k: fj.he_normal()(k, (64, 32)))(key)
    assert np.array_equal(np.asarray(eager), np.asarray(jitted))
