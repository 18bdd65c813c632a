"""fastinit.keras on one Keras backend: the one named by KERAS_BACKEND.

Keras picks its backend once per process, so tests/test_keras.py runs this
file in a fresh process per backend (jax, torch, numpy). It is not collected
by the main run (its name does not start with ``test_``).
"""

import math
import os

import keras
import numpy as np
import pytest
import scipy.stats as ss
from keras.src.initializers.random_initializers import compute_fans as keras_compute_fans

import fastinit
import fastinit.keras as fk
import fastinit.keras._backend as handoff
import fastinit.keras.initializers as fki

BACKEND = os.environ["KERAS_BACKEND"]
TRUNC = 0.87962566103423978


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def bits(x):
    a = numpy(x)
    return a.view(np.uint8) if a.dtype.itemsize else a


def test_the_backend_is_the_one_asked_for():
    assert keras.backend.backend() == BACKEND


# ---------------------------------------------------------------------------
# Exact: values are fastinit's streams, by Keras' parameters
# ---------------------------------------------------------------------------
EXACT = [
    (lambda: fk.RandomNormal(0.1, 0.02, seed=5), lambda s: fastinit.normal(s, mean=0.1, std=0.02, seed=5)),
    (lambda: fk.RandomUniform(-0.3, 0.7, seed=6), lambda s: fastinit.uniform(s, low=-0.3, high=0.7, seed=6)),
    (lambda: fk.TruncatedNormal(0.5, 2.0, seed=7),
     lambda s: fastinit.truncated_normal(s, mean=0.5, std=2.0, a=0.5 - 4.0, b=0.5 + 4.0, seed=7)),
    (lambda: fk.HeNormal(seed=8), lambda s: fastinit.he_normal(s, layout="keras", seed=8)),
    (lambda: fk.GlorotUniform(seed=9), lambda s: fastinit.glorot_uniform(s, layout="keras", seed=9)),
    (lambda: fk.LecunNormal(seed=10), lambda s: fastinit.lecun_normal(s, layout="keras", seed=10)),
    (lambda: fk.Constant(0.25), lambda s: np.full(s, 0.25, np.float32)),
    (lambda: fk.Ones(), lambda s: np.ones(s, np.float32)),
    (lambda: fk.Zeros(), lambda s: np.zeros(s, np.float32)),
]


@pytest.mark.parametrize("make, expected", EXACT)
@pytest.mark.parametrize("shape", [(64, 48), (3, 3, 8, 16)])
def test_values_are_fastinits_streams(make, expected, shape):
    assert np.array_equal(bits(make()(shape)), expected(shape).view(np.uint8))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_dtypes_by_keras_name(dtype):
    out = fk.RandomNormal(stddev=0.02, seed=3)((33, 17), dtype=dtype)
    # the dtype Keras' own initializer gives (JAX without x64 narrows float64 to float32)
    expected = keras.backend.standardize_dtype(keras.initializers.RandomNormal(seed=3)((2, 2), dtype=dtype).dtype)
    assert keras.backend.standardize_dtype(out.dtype) == expected
    assert expected == dtype or (BACKEND, dtype, expected) == ("jax", "float64", "float32")
    assert np.array_equal(bits(out), fastinit.normal((33, 17), std=0.02, seed=3, dtype=expected).view(np.uint8))


def test_default_dtype_is_floatx():
    assert keras.backend.standardize_dtype(fk.HeUniform(seed=0)((4, 4)).dtype) == keras.config.floatx()


@pytest.mark.parametrize("dtype", ["int32", "bool", "not-a-dtype"])
def test_non_float_dtypes_raise_naming_dtype(dtype):
    with pytest.raises(ValueError, match="dtype"):
        fk.RandomUniform(seed=0)((3,), dtype=dtype)


# ---------------------------------------------------------------------------
# Keras' semantics: fans, variance scaling, truncation
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (7,), (5, 9), (3, 3, 4, 8), (2, 3, 5, 4, 6), (0, 4), (4, 0)])
def test_fans_are_keras_fans(shape):
    assert fki.compute_fans(shape) == keras_compute_fans(shape)


@pytest.mark.parametrize("shape, input_axes, output_axes", [((4, 6, 8), (0, 1), (2,)), ((3, 5, 7), (2,), (0,)),
                                                           ((2, 3, 4, 5), (1, 2), (0, 3))])
def test_axes_arguments_are_keras_fans(shape, input_axes, output_axes):
    assert fki.compute_fans(shape, input_axes, output_axes) == keras_compute_fans(shape, input_axes, output_axes)
    mine = fk.VarianceScaling(3.0, "fan_out", "uniform", seed=1, input_axes=input_axes, output_axes=output_axes)
    limit = math.sqrt(3.0 * 3.0 / keras_compute_fans(shape, input_axes, output_axes)[1])
    values = numpy(mine(shape))
    assert values.max() < limit and values.min() >= -limit and values.max() > 0.9 * limit


def _variance_target(scale, mode, shape, input_axes=None, output_axes=None):
    fan_in, fan_out = keras_compute_fans(shape, input_axes, output_axes)
    return scale / max(1.0, {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode])


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform", "normal"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_variance_scaling_has_keras_law(mode, distribution):
    shape = (3, 3, 40, 60)
    variance = _variance_target(2.5, mode, shape)
    values = numpy(fk.VarianceScaling(2.5, mode, distribution, seed=11)(shape)).astype(np.float64).ravel()
    std = math.sqrt(variance)
    if distribution in ("truncated_normal", "normal"):   # Keras: "normal" means truncated
        sigma = std / TRUNC
        law = ss.truncnorm(-2, 2, scale=sigma)
        assert np.abs(values).max() <= 2 * sigma
    elif distribution == "untruncated_normal":
        law = ss.norm(scale=std)
    else:
        limit = math.sqrt(3 * variance)
        law = ss.uniform(-limit, 2 * limit)
    assert ss.kstest(values, law.cdf).pvalue > 1e-3
    assert abs(values.var() / variance - 1) < 0.05


@pytest.mark.parametrize("shape", [(), (1,), (0, 5)])
def test_variance_scaling_divides_by_at_least_one(shape):
    # Keras' scale /= max(1, fan): tiny and empty fans give the scale itself
    values = numpy(fk.VarianceScaling(0.01, "fan_avg", "uniform", seed=2)(shape))
    assert values.shape == shape
    if values.size:
        assert np.abs(values).max() < math.sqrt(3 * 0.01)


def test_truncated_normal_is_exact_at_two_stddev():
    values = numpy(fk.TruncatedNormal(mean=1.0, stddev=1.0, seed=1)((2048, 2048)))
    assert values.min() >= -1.0 and values.max() <= 3.0
    assert ss.kstest(values.ravel()[:200_000].astype(np.float64), ss.truncnorm(-2, 2, loc=1.0).cdf).pvalue > 1e-3


@pytest.mark.parametrize("shape, gain", [((64, 16), 1.0), ((16, 64), 2.0), ((3, 3, 4, 8), 0.5)])
def test_orthogonal_is_keras_flattened(shape, gain):
    q = numpy(fk.Orthogonal(gain=gain, seed=4)(shape)).astype(np.float64).reshape(-1, shape[-1])
    rows, cols = q.shape
    gram = q.T @ q if rows >= cols else q @ q.T
    assert np.allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_and_identity_shape_errors():
    with pytest.raises(ValueError, match="two-dimensional"):
        fk.Orthogonal(seed=0)((5,))
    with pytest.raises(ValueError, match="2D"):
        fk.Identity()((2, 2, 2))
    assert np.array_equal(numpy(fk.Identity(gain=3.0)((3, 4))), 3.0 * np.eye(3, 4, dtype=np.float32))


# ---------------------------------------------------------------------------
# Same distribution as Keras' own classes
# ---------------------------------------------------------------------------
PAIRS = [
    ("RandomNormal", {"mean": 0.1, "stddev": 0.3}), ("RandomUniform", {"minval": -1.0, "maxval": 0.5}),
    ("TruncatedNormal", {"mean": 0.0, "stddev": 0.2}), ("GlorotUniform", {}), ("GlorotNormal", {}),
    ("HeUniform", {}), ("HeNormal", {}), ("LecunUniform", {}), ("LecunNormal", {}),
    ("VarianceScaling", {"scale": 0.5, "mode": "fan_out", "distribution": "untruncated_normal"}),
]


@pytest.mark.parametrize("name, options", PAIRS)
def test_same_law_and_arguments_as_keras(name, options):
    shape = (3, 3, 32, 48)
    ours = getattr(fk, name)(seed=21, **options)
    theirs = getattr(keras.initializers, name)(seed=21, **options)
    assert sorted(ours.get_config()) == sorted(theirs.get_config())
    a = numpy(ours(shape)).astype(np.float64).ravel()
    b = numpy(theirs(shape)).astype(np.float64).ravel()
    assert ss.ks_2samp(a, b).pvalue > 1e-3
    if name != "TruncatedNormal" or BACKEND != "torch":  # Keras' torch backend keeps out-of-range values
        assert a.min() >= b.min() - 0.05 * abs(b.min()) and a.max() <= b.max() + 0.05 * abs(b.max())


def test_default_arguments_are_keras_defaults():
    import inspect

    for name in fki.__all__:
        if name in ("Initializer", "compute_fans"):
            continue
        ours, theirs = inspect.signature(getattr(fk, name)), inspect.signature(getattr(keras.initializers, name))
        assert {k: v.default for k, v in ours.parameters.items()} == \
               {k: v.default for k, v in theirs.parameters.items()}, name


# ---------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------
def test_int_seed_gives_the_same_values_every_call():
    init = fk.HeNormal(seed=3)
    assert np.array_equal(bits(init((20, 30))), bits(init((20, 30))))
    assert not np.array_equal(bits(init((20, 30))), bits(fk.HeNormal(seed=4)((20, 30))))


def test_seed_none_is_resolved_once_and_follows_keras_set_random_seed():
    keras.utils.set_random_seed(123)
    first = fk.RandomNormal()
    keras.utils.set_random_seed(123)
    again = fk.RandomNormal()
    assert np.array_equal(bits(first((50,))), bits(first((50,))))
    assert np.array_equal(bits(first((50,))), bits(again((50,))))
    assert not np.array_equal(bits(first((50,))), bits(fk.RandomNormal()((50,))))


def test_seed_generator_gives_new_values_reproducibly():
    def sequence(seed):
        init = fk.GlorotNormal(seed=keras.random.SeedGenerator(seed))
        return [bits(init((16, 8))) for _ in range(3)]

    a, b, c = sequence(42), sequence(42), sequence(43)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("seed", [-1, 2**64, "7", 1.5, True])
def test_bad_seeds_raise_naming_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        fk.RandomUniform(seed=seed)


def test_bad_arguments_raise_as_keras():
    for kwargs in ({"scale": 0.0}, {"mode": "fan_max"}, {"distribution": "cauchy"}):
        with pytest.raises(ValueError):
            fk.VarianceScaling(**kwargs)
    with pytest.raises(ValueError, match="scalar"):
        fk.Constant(np.ones(3))


# ---------------------------------------------------------------------------
# Serialization
# ---------------------------------------------------------------------------
ALL = ["Zeros", "Ones", "Constant", "Identity", "RandomNormal", "RandomUniform", "TruncatedNormal",
       "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
       "Orthogonal"]


@pytest.mark.parametrize("name", ALL)
def test_get_serialize_deserialize(name):
    assert type(keras.initializers.get(f"fastinit>{name}")) is getattr(fk, name)
    obj = getattr(fk, name)(**({"seed": 17} if issubclass(getattr(fk, name), fki.RandomInitializer) else {}))
    config = keras.initializers.serialize(obj)
    assert config["registered_name"] == f"fastinit>{name}"
    back = keras.initializers.deserialize(config)
    assert type(back) is type(obj) and back.get_config() == obj.get_config()
    assert np.array_equal(bits(back((6, 5))), bits(obj((6, 5))))
    assert np.array_equal(bits(obj.clone()((6, 5))), bits(obj((6, 5))))


def test_saved_model_keeps_fastinit_initializers(tmp_path):
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(7, kernel_initializer=fk.HeNormal(seed=5),
                                                                    bias_initializer=fk.Constant(0.5))])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.layers[0].kernel_initializer) is fk.HeNormal
    assert loaded.layers[0].kernel_initializer.get_config() == model.layers[0].kernel_initializer.get_config()
    assert np.array_equal(numpy(loaded.layers[0].kernel), numpy(model.layers[0].kernel))


# ---------------------------------------------------------------------------
# The scope
# ---------------------------------------------------------------------------
def build_model():
    return keras.Sequential([keras.Input((24,)), keras.layers.Embedding(50, 24), keras.layers.Dense(32),
                             keras.layers.LayerNormalization(), keras.layers.Dense(8, kernel_initializer="he_normal")])


def test_scope_builds_an_unchanged_model_through_fastinit():
    keras.utils.set_random_seed(7)
    with fk.scope():
        model = build_model()
    embed, dense, norm, head = model.layers
    assert type(embed.embeddings_initializer) is fk.RandomUniform
    assert type(dense.kernel_initializer) is fk.GlorotUniform and type(dense.bias_initializer) is fk.Zeros
    assert type(norm.gamma_initializer) is fk.Ones and type(head.kernel_initializer) is fk.HeNormal
    # the same values as the classes constructed in the same order after the same Keras seed
    keras.utils.set_random_seed(7)
    expected_embed, expected_kernel = fk.RandomUniform(), fk.GlorotUniform()
    assert np.array_equal(bits(embed.embeddings), bits(expected_embed((50, 24))))
    assert np.array_equal(bits(dense.kernel), bits(expected_kernel((24, 32))))
    assert not np.any(numpy(dense.bias))
    outside = build_model()
    assert type(outside.layers[1].kernel_initializer) is keras.initializers.GlorotUniform
    assert "stft" not in fk.KERAS_NAMES


def test_every_keras_name_of_a_class_resolves_in_scope():
    from keras.src.initializers import ALL_OBJECTS_DICT

    with fk.scope():
        for name, cls in ALL_OBJECTS_DICT.items():
            if cls.__name__ in ALL:
                assert type(keras.initializers.get(name)) is getattr(fk, cls.__name__), name


# ---------------------------------------------------------------------------
# Zero-copy hand-off into Keras variables
# ---------------------------------------------------------------------------
def test_variables_adopt_the_filled_buffer(monkeypatch):
    made = []

    def spy(shape, dtype, fill):
        made.append(handoff.filled(shape, dtype, fill))
        return made[-1]

    monkeypatch.setattr(fki, "filled", spy)
    variable = keras.Variable(initializer=fk.HeNormal(seed=1), shape=(256, 128), dtype="float32")
    value, out = variable.value, made[-1]
    if BACKEND == "jax":
        assert value.unsafe_buffer_pointer() == out.unsafe_buffer_pointer() and out.unsafe_buffer_pointer() % 64 == 0
    elif BACKEND == "torch":
        assert value.data_ptr() == out.data_ptr()
    else:  # Keras' NumPy backend copies in its own convert_to_tensor (np.array): the initializer does not
        assert isinstance(out, np.ndarray) and not np.shares_memory(np.asarray(value), out)
    assert np.array_equal(numpy(value), fastinit.he_normal((256, 128), layout="keras", seed=1))
