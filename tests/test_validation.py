"""Bad input: a clear exception naming the argument, raised before anything is written."""

import numpy as np
import pytest

import fastinit

SENTINEL = 7.0


def sentinel(dtype=np.float32, shape=(64,)):
    return np.full(shape, SENTINEL, dtype)


def assert_untouched(out):
    assert np.all(out == SENTINEL)


BAD_CALLS = [
    # (function, positional args after out, keyword args, exception, text the message must contain)
    (fastinit.fill_uniform, (np.nan, 1.0), {"seed": 0}, ValueError, "low"),
    (fastinit.fill_uniform, (0.0, np.inf), {"seed": 0}, ValueError, "high"),
    (fastinit.fill_uniform, (2.0, 1.0), {"seed": 0}, ValueError, "low must be <= high"),
    (fastinit.fill_uniform, ("0", 1.0), {"seed": 0}, TypeError, "low"),
    (fastinit.fill_uniform, (0.0, 1.0 + 2j), {"seed": 0}, TypeError, "high"),
    (fastinit.fill_uniform, (-3e38, 3e38), {"seed": 0}, ValueError, "high - low"),
    (fastinit.fill_uniform, (1e39, 2e39), {"seed": 0}, ValueError, "low"),
    (fastinit.fill_uniform, (), {"seed": -1}, ValueError, "seed"),
    (fastinit.fill_uniform, (), {"seed": 2**64}, ValueError, "seed"),
    (fastinit.fill_uniform, (), {"seed": 1.5}, TypeError, "seed"),
    (fastinit.fill_uniform, (), {"seed": 0, "offset": -1}, ValueError, "offset"),
    (fastinit.fill_uniform, (), {"seed": 0, "offset": 1.0}, TypeError, "offset"),
    (fastinit.fill_uniform, (), {"seed": 0, "offset": 2**64 - 63}, ValueError, "offset"),
    (fastinit.fill_normal, (0.0, -1.0), {"seed": 0}, ValueError, "std"),
    (fastinit.fill_normal, (np.inf, 1.0), {"seed": 0}, ValueError, "mean"),
    (fastinit.fill_normal, (0.0, np.nan), {"seed": 0}, ValueError, "std"),
    (fastinit.fill_normal, (0.0, 1e39), {"seed": 0}, ValueError, "std"),
    (fastinit.fill_normal, (), {"seed": True}, TypeError, "seed"),
    (fastinit.fill_normal, (), {"seed": 0, "offset": 2**64}, ValueError, "offset"),
    (fastinit.fill_truncated_normal, (0.0, 0.0), {"seed": 0}, ValueError, "std"),
    (fastinit.fill_truncated_normal, (0.0, -1.0), {"seed": 0}, ValueError, "std"),
    (fastinit.fill_truncated_normal, (0.0, 1.0, 1.0, 1.0), {"seed": 0}, ValueError, "a must be < b"),
    (fastinit.fill_truncated_normal, (0.0, 1.0, 2.0, -2.0), {"seed": 0}, ValueError, "a must be < b"),
    (fastinit.fill_truncated_normal, (0.0, 1.0, np.nan, 2.0), {"seed": 0}, ValueError, "a"),
    (fastinit.fill_truncated_normal, (0.0, 1.0, -2.0, -np.inf), {"seed": 0}, ValueError, "b"),
    (fastinit.fill_truncated_normal, (0.0, 1.0, 40.0, 41.0), {"seed": 0}, ValueError, "standard deviations"),
    (fastinit.fill_truncated_normal, (0.0, 1.0, 1 + 1e-12, 1 + 2e-12), {"seed": 0}, ValueError, "no float32 value"),
    (fastinit.fill_truncated_normal, (0.0, 1e-310, -1.0, 1.0), {"seed": 0}, ValueError, "finite"),
    (fastinit.fill_truncated_normal, (), {"seed": None}, TypeError, "seed"),
    (fastinit.fill_constant, (np.nan,), {}, ValueError, "value"),
    (fastinit.fill_constant, (1e39,), {}, ValueError, "value"),
    (fastinit.fill_constant, ("1",), {}, TypeError, "value"),
]


@pytest.mark.parametrize("function, args, kwargs, exc, text", BAD_CALLS)
@pytest.mark.parametrize("shape", [(64,), (100_000,)])
def test_bad_parameters_raise_before_writing(function, args, kwargs, exc, text, shape):
    out = sentinel(shape=shape)
    with pytest.raises(exc, match=text):
        function(out, *args, **kwargs)
    assert_untouched(out)


@pytest.mark.parametrize("function, kwargs", [
    (fastinit.fill_uniform, {"seed": 0}), (fastinit.fill_normal, {"seed": 0}),
    (fastinit.fill_truncated_normal, {"seed": 0}), (fastinit.fill_constant, {"value": 1.0}),
])
def test_bad_out(function, kwargs):
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        function([0.0, 1.0], **kwargs)
    for dtype in (np.int32, np.int64, np.complex64, np.uint16, np.longdouble, bool):
        with pytest.raises(TypeError, match=f"out must have dtype float32, float64, float16 or bfloat16, got {np.dtype(dtype)}"):
            function(np.zeros(8, dtype), **kwargs)
    read_only = sentinel()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        function(read_only, **kwargs)
    assert_untouched(read_only)


def test_seed_is_keyword_only_and_required():
    with pytest.raises(TypeError):
        fastinit.fill_uniform(sentinel(), 0.0, 1.0, 5)
    with pytest.raises(TypeError):
        fastinit.fill_normal(sentinel())


def test_accepted_edge_parameters():
    # documented edge cases that are valid
    out = fastinit.fill_uniform(sentinel(), 2.0, 2.0, seed=0)
    assert np.all(out == 2.0)
    assert np.all(fastinit.fill_normal(sentinel(np.float64), 3.0, 0.0, seed=0) == 3.0)
    last = fastinit.fill_uniform(np.empty(64), seed=0, offset=2**64 - 64)
    assert np.all((last >= 0) & (last < 1))
    t = fastinit.fill_truncated_normal(np.empty(1000), 0.0, 1.0, -50.0, 0.0, seed=np.uint64(1))
    assert np.all((t >= -50) & (t <= 0))
    assert np.all(fastinit.fill_constant(sentinel(np.float64, (3, 4)), np.float32(0.5)) == 0.5)


def test_cached_parameters_do_not_depend_on_call_history():
    # the parameter plans are cached; -0.0 and 0.0 must not leak a sign from one call to another
    first = fastinit.fill_truncated_normal(np.empty(5000), 0.5, 1.0, -0.0, 2.0, seed=3).copy()
    second = fastinit.fill_truncated_normal(np.empty(5000), 0.5, 1.0, 0.0, 2.0, seed=3)
    assert np.array_equal(first.view(np.uint64), second.view(np.uint64))
    assert not np.any(np.signbit(second))
    with pytest.raises(ValueError, match="low must be <= high"):
        fastinit.fill_uniform(np.empty(4), 2.0, 1.0, seed=0)
    with pytest.raises(ValueError, match="low must be <= high"):  # errors are not cached away
        fastinit.fill_uniform(np.empty(4), 2.0, 1.0, seed=0)
