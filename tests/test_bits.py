"""The bits layer: Philox4x32-10 known answers, oracles, keys and named streams."""

import hashlib

import numpy as np
import pytest
from randomgen import Philox

import fastinit
from tests import reference

# Random123 kat_vectors: counter words, key words, expected output words.
KNOWN_ANSWERS = [
    ([0x00000000, 0x00000000, 0x00000000, 0x00000000], [0x00000000, 0x00000000],
     [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], [0xFFFFFFFF, 0xFFFFFFFF],
     [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox_known_answers(counter, key, expected):
    got = fastinit.philox4x32(np.array(counter, np.uint32), np.array(key, np.uint32))
    assert got.dtype == np.uint32
    assert got.tolist() == expected


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_reference_philox_known_answers(counter, key, expected):
    # The test oracle itself must reproduce Random123 before it judges anything.
    assert reference.philox4x32_10(np.array([counter]), key)[0].tolist() == expected


def test_philox_random_counters_match_reference():
    rng = np.random.default_rng(20261123)
    counters = rng.integers(0, 2**32, size=(4096, 4), dtype=np.uint64).astype(np.uint32)
    for _ in range(8):
        key = rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32)
        np.testing.assert_array_equal(
            fastinit.philox4x32(counters, key), reference.philox4x32_10(counters, key))


def test_philox_matches_randomgen():
    # randomgen's Philox(number=4, width=32) takes the counter and the key as
    # integers (word 0 lowest), increments the counter before each block and
    # returns the four words in order.
    rng = np.random.default_rng(7)
    for _ in range(4):
        key_words = rng.integers(0, 2**32, size=2, dtype=np.uint64)
        start = rng.integers(0, 2**32, size=4, dtype=np.uint64)
        start[0] = 2**32 - 3  # the increment carries into word 1
        value = sum(int(w) << (32 * j) for j, w in enumerate(start))
        bitgen = Philox(number=4, width=32, counter=value,
                        key=int(key_words[0]) | (int(key_words[1]) << 32))
        raw = bitgen.random_raw(4 * 6).astype(np.uint32).reshape(6, 4)
        counters = np.array(
            [[((value + n) >> (32 * j)) & 0xFFFFFFFF for j in range(4)] for n in range(1, 7)],
            dtype=np.uint32)
        np.testing.assert_array_equal(fastinit.philox4x32(counters, key_words.astype(np.uint32)), raw)


@pytest.fixture(scope="module")
def block_words():
    """philox_block_words (the CPU kernels' vector Philox) for 256 counters, compiled."""
    import numba
    from fastinit._philox import philox_block_words

    @numba.njit
    def words(dst, start, first, c2, c3, k0, k1):
        philox_block_words(dst, start, first, 256, c2, c3, k0, k1)
    return words


@pytest.mark.parametrize("dtype", [np.uint32, np.float32])
@pytest.mark.parametrize("first", [0, 2**32 - 100, 2**63 + 2**40 - 7])
def test_vector_block_words_are_philox_words(block_words, dtype, first):
    """Word j of counter first + u at dst[start + 256 j + u], equal to the
    reference Philox (the counter's 64 bits in words 0 and 1, across the carry
    from word 0 to word 1); nothing outside the block is written."""
    key = np.array([0xA4093822, 0x299F31D0], np.uint32)
    dst = np.zeros(1024 + 9, dtype)
    block_words(dst, 5, np.uint64(first), np.uint64(0x13198A2E), np.uint64(0x03707344), np.uint64(key[0]),
                np.uint64(key[1]))
    counters = np.array([[(first + u) & 0xFFFFFFFF, (first + u) >> 32, 0x13198A2E, 0x03707344] for u in range(256)],
                        np.uint32)
    expected = reference.philox4x32_10(counters, key).astype(np.uint32)
    np.testing.assert_array_equal(dst.view(np.uint32)[5:5 + 1024].reshape(4, 256).T, expected)
    assert not dst.view(np.uint32)[:5].any() and not dst.view(np.uint32)[5 + 1024:].any()


def test_vector_block_words_need_a_whole_number_of_steps():
    import numba
    from fastinit._philox import philox_block_words

    @numba.njit
    def words(dst):
        philox_block_words(dst, 0, np.uint64(0), 100, np.uint64(0), np.uint64(0), np.uint64(0), np.uint64(0))
    with pytest.raises(numba.core.errors.TypingError):
        words(np.zeros(400, np.uint32))


def test_philox_shapes_and_dtypes():
    counters = np.arange(2 * 3 * 4, dtype=np.uint32).reshape(2, 3, 4)
    got = fastinit.philox4x32(counters, [1, 2])
    assert got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got.reshape(-1, 4), reference.philox4x32_10(counters.reshape(-1, 4), (1, 2)))
    np.testing.assert_array_equal(fastinit.philox4x32(counters.astype(np.int64), [1, 2]), got)
    assert fastinit.philox4x32(np.zeros((0, 4), np.uint32), [0, 0]).shape == (0, 4)


@pytest.mark.parametrize("counters, key, exc, match", [
    (np.zeros(3, np.uint32), [0, 0], ValueError, "counters"),
    (np.zeros(4, np.uint32), [0, 0, 0], ValueError, "key"),
    (np.zeros(4, np.float64), [0, 0], TypeError, "counters"),
    (np.array([0, 0, 0, 2**32]), [0, 0], ValueError, "counters"),
    (np.zeros(4, np.uint32), [-1, 0], ValueError, "key"),
])
def test_philox_bad_input(counters, key, exc, match):
    with pytest.raises(exc, match=match):
        fastinit.philox4x32(counters, key)


def test_key_from_seed():
    assert fastinit.key_from_seed(0).tolist() == [0, 0]
    assert fastinit.key_from_seed(2**32 + 5).tolist() == [5, 1]
    assert fastinit.key_from_seed(2**64 - 1).tolist() == [2**32 - 1, 2**32 - 1]
    assert fastinit.key_from_seed(np.uint64(7)).tolist() == [7, 0]


@pytest.mark.parametrize("seed, exc", [(-1, ValueError), (2**64, ValueError), (1.0, TypeError),
                                       (True, TypeError), ("1", TypeError), (None, TypeError)])
def test_bad_seed(seed, exc):
    with pytest.raises(exc, match="seed"):
        fastinit.key_from_seed(seed)


def test_derive_seed_follows_spec():
    seed, names = 123456789, ("encoder", "layer0.weight")
    h = hashlib.sha256(b"fastinit/stream/v1\x00" + seed.to_bytes(8, "little"))
    for name in names:
        h.update(len(name.encode()).to_bytes(8, "little") + name.encode())
    assert fastinit.derive_seed(seed, *names) == int.from_bytes(h.digest()[:8], "little")


def test_derive_seed_is_pinned():
    # Pinned when stream format 1 was defined (the test above checks the
    # formula): a change here changes every named stream.
    assert fastinit.derive_seed(0, "layer0.weight") == 13603288354847985726


def test_derive_seed_separates_names():
    seeds = {
        fastinit.derive_seed(0, "a", "b"), fastinit.derive_seed(0, "ab"), fastinit.derive_seed(0, "a.b"),
        fastinit.derive_seed(0, "a"), fastinit.derive_seed(1, "a"), fastinit.derive_seed(0, "é"),
    }
    assert len(seeds) == 6
    assert all(0 <= s < 2**64 for s in seeds)


def test_derive_seed_bad_input():
    with pytest.raises(TypeError, match="name"):
        fastinit.derive_seed(0)
    with pytest.raises(TypeError, match=r"names\[1\]"):
        fastinit.derive_seed(0, "a", 3)
    with pytest.raises(ValueError, match="seed"):
        fastinit.derive_seed(-5, "a")
