"""The float64 normal's ziggurat (fastinit/_ziggurat.py, section 5 of the spec).

Exact first: the tables against 50-digit arithmetic, the derived tables
against exact rationals, the kernel against tests/reference.py through every
path (fast, wedge, tail, second attempts). Then statistics aimed at what a
broken ziggurat gets wrong: the mass of each layer and the shape of the tail.
"""

from fractions import Fraction
from itertools import pairwise

import mpmath
import numba
import numpy as np
import pytest
import scipy.stats as ss

import fastinit
from fastinit import _ziggurat as Z
from tests import reference

ALPHA = 1e-5  # as in test_statistics.py
LAYERS = reference.ZIGGURAT_LAYERS


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------
def test_tail_start_is_the_root_that_closes_the_top_layer():
    with mpmath.workdps(60):
        r = mpmath.mpf(reference.ZIGGURAT_R)
        below_r, above_r = r - mpmath.mpf("1e-45"), r + mpmath.mpf("1e-45")
    *_, closure = reference.ziggurat_tables()
    *_, below = reference.ziggurat_tables(below_r)
    *_, above = reference.ziggurat_tables(above_r)
    assert abs(closure) < 1e-44
    assert below > 0 > above  # R is bracketed to 45 digits
    assert Z.TAIL_START == float(r) == Z.X[1]


def test_tables_are_the_float64_roundings_of_the_exact_values():
    _, v, x, fx, _ = reference.ziggurat_tables()
    assert Z.LAYERS == LAYERS and Z.X.shape == Z.F.shape == (LAYERS + 1,)
    assert Z.X.tolist() == [float(t) for t in x]
    assert Z.F.tolist() == [float(t) for t in fx]
    # every layer has the area V (a check on the recurrence itself); layer 0
    # is [0, X[0]) x [0, f(R)) and f(R) = F[1]
    with mpmath.workdps(50):
        areas = [x[0] * fx[1]] + [x[j] * (fx[j + 1] - fx[j]) for j in range(1, LAYERS)]
        assert max(abs(a / v - 1) for a in areas) < 1e-40


def test_derived_tables_are_exact():
    for j in range(LAYERS):
        assert Z.W[j] == Fraction(Z.X[j]) / 2**53  # an exact scaling
        assert int(Z.K[j]) == (Fraction(2**53) * Fraction(Z.X[j + 1]) / Fraction(Z.X[j])).__floor__()
    assert np.all(np.diff(Z.X) < 0) and np.all(np.diff(Z.F) > 0)
    assert Z.K[LAYERS - 1] == 0  # the top layer is all wedge
    assert Z.X[LAYERS] == 0.0 and Z.F[LAYERS] == 1.0


def test_fast_path_holds_the_mass_the_tables_give_it():
    fraction = np.sum(Z.K.astype(np.float64)) / 2**53 / LAYERS
    assert 0.9957 < fraction < 0.9958  # the 99.57% of the spec


# ---------------------------------------------------------------------------
# Draws and attempts, one at a time
# ---------------------------------------------------------------------------
@numba.njit(error_model="numpy")
def _fast(draws, z, slow):
    for n in range(draws.size):
        z[n], slow[n] = Z.fast_path(draws[n])


def _draw(layer, negative, k):
    return np.uint64(layer | (negative << 10) | (k << 11))


def test_fast_path_decodes_layer_sign_and_magnitude():
    cases = [(5, 0, 12345), (5, 1, 12345), (0, 0, 0), (0, 1, 0), (700, 0, int(Z.K[700]) - 1),
             (700, 0, int(Z.K[700])), (LAYERS - 1, 0, 0), (0, 0, int(Z.K[0]))]
    draws = np.array([_draw(*c) for c in cases])
    z, slow = np.empty(len(cases)), np.empty(len(cases), np.bool_)
    _fast(draws, z, slow)
    for (layer, negative, k), zn, sn in zip(cases, z, slow):
        assert sn == (k >= int(Z.K[layer]))
        expected = k * Z.W[layer]
        assert zn == (-expected if negative else expected)
    assert np.signbit(z[3]) and not np.signbit(z[2])  # a negative zero keeps its sign bit
    assert z[4] < Z.X[701] <= z[5]  # K is the exact edge of the inner rectangle


@numba.njit(error_model="numpy")
def _resolve_all(indices, draws, k0, k1, out):
    for n in range(indices.size):
        out[n] = Z.resolve(indices[n], draws[n], np.uint64(1), k0, k1)


@pytest.mark.parametrize("seed", [0, 2**64 - 1])
def test_slow_path_of_chosen_draws_equals_the_reference(seed):
    # Draws that the fast path refuses: tail (layer 0), wedges of low, middle
    # and top layers, with both signs; the element index picks the counters.
    draws = np.array([_draw(0, 0, 2**53 - 1), _draw(0, 1, int(Z.K[0])), _draw(1, 0, 2**53 - 1),
                      _draw(512, 1, int(Z.K[512])), _draw(LAYERS - 1, 0, 2**52), _draw(LAYERS - 1, 1, 7)])
    indices = np.array([0, 1, 2**32, 2**40 + 5, 2**64 - 2, 2**64 - 1], dtype=np.uint64)
    got = np.empty(draws.size)
    k0, k1 = reference.key(seed)
    _resolve_all(indices, draws, np.uint64(k0), np.uint64(k1), got)
    expected = reference.ziggurat_slow_path(indices, draws, seed)
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(np.float64).eps, atol=0)
    assert np.all(np.abs(got[:2]) > Z.TAIL_START)  # tail draws give tail values
    assert got[0] > 0 > got[1]  # with their draws' signs


# ---------------------------------------------------------------------------
# The kernel, through every path
# ---------------------------------------------------------------------------
SAMPLE = 2**20


@pytest.fixture(scope="module")
def reference_sample():
    offset = 2**33 - 5000  # across the 2**32 carry of the counter
    z, attempts = reference.normal64_standard(np.arange(SAMPLE, dtype=np.uint64) + np.uint64(offset), 77)
    return offset, z, attempts


@pytest.mark.parametrize("threads", [1, 2])
def test_kernel_equals_reference_on_every_path(reference_sample, threads):
    offset, z, attempts = reference_sample
    tail = np.abs(z) > Z.TAIL_START
    # the sample reaches every path (deterministic: fixed seed)
    assert np.count_nonzero(attempts) > 4000 and np.count_nonzero(attempts >= 2) >= 5
    assert np.count_nonzero(tail) >= 30 and np.count_nonzero(attempts[~tail] >= 2) >= 1
    numba.set_num_threads(threads)
    try:
        got = fastinit.fill_normal(np.empty(SAMPLE), seed=77, offset=offset)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(got[~tail], z[~tail])
    np.testing.assert_allclose(got[tail], z[tail], rtol=4 * np.finfo(np.float64).eps, atol=0)


def test_pending_elements_land_in_place_in_odd_shards(reference_sample):
    # Slow elements wait in a list and are written later: shards that start
    # and stop inside blocks (the staging path) must still get each value.
    offset, _, _ = reference_sample
    cuts = [0, 1, 255, 257, 4097, 70_001, 70_002, 500_000, SAMPLE]
    pieces = [fastinit.fill_normal(np.empty(b - a), seed=77, offset=offset + a) for a, b in pairwise(cuts)]
    whole = fastinit.fill_normal(np.empty(SAMPLE), seed=77, offset=offset)
    np.testing.assert_array_equal(np.concatenate(pieces), whole)
    view = np.zeros((SAMPLE // 512, 1024))[:, ::2]  # a strided view
    fastinit.fill_normal(view, seed=77, offset=offset)
    np.testing.assert_array_equal(view.ravel(), whole)


# ---------------------------------------------------------------------------
# Statistics aimed at the ziggurat
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def large_sample():
    return fastinit.fill_normal(np.empty(2**25), seed=2028)


def test_every_layer_holds_its_probability(large_sample):
    # Bins whose edges are the layers' inner edges X[1..N-1] on both sides:
    # a wrong table entry or wedge test moves mass across exactly these edges.
    inner = Z.X[1:LAYERS]
    edges = np.concatenate([-inner, [0.0], inner[::-1]])
    counts = np.bincount(np.searchsorted(edges, large_sample, side="right"), minlength=edges.size + 1)
    probabilities = np.diff(np.concatenate([[0.0], ss.norm.cdf(edges), [1.0]]))
    p = ss.chisquare(counts, probabilities * large_sample.size).pvalue
    assert p > ALPHA, f"chi-square over the layers: p = {p:.3g}"


def test_tail_beyond_r_has_the_normal_shape(large_sample):
    beyond = np.abs(large_sample[np.abs(large_sample) > Z.TAIL_START])
    expected = 2 * ss.norm.sf(Z.TAIL_START) * large_sample.size
    assert abs(beyond.size - expected) < 5 * np.sqrt(expected)
    tail = ss.truncnorm(Z.TAIL_START, np.inf)
    assert ss.kstest(beyond, tail.cdf).pvalue > ALPHA
    assert np.count_nonzero(large_sample > Z.TAIL_START) > 0.4 * beyond.size  # both signs


@numba.njit(error_model="numpy")
def _first_attempts(indices, draws, k0, k1, done, z, next_draw):
    for n in range(indices.size):
        done[n], z[n], next_draw[n] = Z.attempt(indices[n], draws[n], np.uint64(1), k0, k1)


def _attempts_on(draws, seed=31):
    indices = np.arange(draws.size, dtype=np.uint64) * np.uint64(2**20 + 7)
    done, z, next_draw = np.empty(draws.size, np.bool_), np.empty(draws.size), np.empty(draws.size, np.uint64)
    k0, k1 = reference.key(seed)
    _first_attempts(indices, draws, np.uint64(k0), np.uint64(k1), done, z, next_draw)
    return done, z, next_draw


def test_tail_attempts_sample_the_normal_tail():
    # Tail draws (layer 0, k >= K[0]) on 2**17 elements' own counters: the
    # accepted values must follow the normal tail beyond R exactly, and
    # Marsaglia's test must accept the right fraction.
    n = 2**17
    draws = np.full(n, _draw(0, 0, 2**53 - 1))
    done, z, next_draw = _attempts_on(draws)
    assert np.all(next_draw == draws)  # a rejected tail attempt keeps its draw
    r = Z.TAIL_START
    acceptance = ss.norm.sf(r) / (ss.norm.pdf(r) / r)  # tail mass / mass of the exponential envelope
    assert abs(done.mean() - acceptance) < 5 * np.sqrt(acceptance * (1 - acceptance) / n)
    assert ss.kstest(z[done], ss.truncnorm(r, np.inf).cdf).pvalue > ALPHA


@pytest.mark.parametrize("layer", [1, 300, LAYERS - 1])
def test_wedge_attempts_accept_under_the_curve(layer):
    # Draws uniform over the wedge of one layer: those accepted at the first
    # attempt must have density proportional to f(x) - F[j] on [X[j+1], X[j]).
    n = 2**17
    rng = np.random.default_rng(layer)  # the draws are test input, not the stream
    k = rng.integers(int(Z.K[layer]), 2**53, n, dtype=np.uint64)
    draws = np.uint64(layer) | (k << np.uint64(11))
    done, z, next_draw = _attempts_on(draws)
    accepted = done & (next_draw == draws)
    lo, hi, bottom = Z.X[layer + 1], Z.X[layer], Z.F[layer]
    root_2pi = np.sqrt(2 * np.pi)

    def mass(x):  # integral of f(t) - bottom from lo to x
        return root_2pi * (ss.norm.cdf(x) - ss.norm.cdf(lo)) - bottom * (x - lo)

    # the wedge sampling region starts at K[j] * W[j], a hair left of X[j+1]
    start = float(Z.K[layer]) * Z.W[layer]
    box = (hi - start) * (Z.F[layer + 1] - bottom)
    p_accept = (mass(hi) - mass(start)) / box
    assert abs(accepted.mean() - p_accept) < 5 * np.sqrt(p_accept * (1 - p_accept) / n)
    def cdf(x):
        return (mass(np.clip(x, start, hi)) - mass(start)) / (mass(hi) - mass(start))

    assert ss.kstest(z[accepted], cdf).pvalue > ALPHA
