"""Raw 32-bit words for external RNG test batteries (slow checks, outside CI).

    python bench/rng_battery.py --gb 8 | RNG_test stdin32 -tlmax 8GB          # PractRand
    python bench/rng_battery.py --keys 1024 --gb 4 | RNG_test stdin32          # 1024 interleaved seeds
    python bench/rng_battery.py --gb 1 --control rounds4 | RNG_test stdin32    # must FAIL
    python bench/rng_battery.py --gb 1 --control restart | RNG_test stdin32    # must FAIL

The words are Philox4x32-10 outputs for the counters the float32 uniform stream
uses ((c mod 2**32, c div 2**32, 1, 32) for c = 0, 1, 2, ...), in counter
order. With ``--keys K``, K seeds (``derive_seed(seed, str(k))``) are
interleaved counter by counter. The negative controls prove the harness can
fail: ``rounds4`` uses only 4 Philox rounds, ``restart`` restarts the counter
every 2**16 counters, as a chunking bug would. PractRand and TestU01 build
from source in minutes; dieharder is in Debian's packages (dieharder -a -g 200).
"""

import argparse
import sys

import numpy as np

import fastinit

COUNTERS_PER_WRITE = 1 << 18


def philox_rounds(counters, key, rounds):
    """Philox4x32 with a chosen number of rounds (only for the negative control)."""
    mask = np.uint64(0xFFFFFFFF)
    c = [counters[:, j].astype(np.uint64) for j in range(4)]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + np.uint64(0x9E3779B9)) & mask, (k1 + np.uint64(0xBB67AE85)) & mask
        p0, p1 = c[0] * np.uint64(0xD2511F53), c[2] * np.uint64(0xCD9E8D57)
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & mask]
    return np.stack(c, axis=-1).astype(np.uint32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0, help="gigabytes to write (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keys", type=int, default=1, help="interleave this many derived seeds")
    parser.add_argument("--control", choices=["rounds4", "restart"], help="a stream that must fail")
    args = parser.parse_args()
    keys = [fastinit.key_from_seed(args.seed)] if args.keys == 1 else \
        [fastinit.key_from_seed(fastinit.derive_seed(args.seed, str(k))) for k in range(args.keys)]
    out = sys.stdout.buffer
    total = int(args.gb * 2**30) // 16  # counters: 16 bytes each
    start = 0
    try:
        while start < total:
            n = min(COUNTERS_PER_WRITE, total - start)
            c = np.arange(start, start + n, dtype=np.uint64)
            if args.control == "restart":
                c %= np.uint64(1 << 16)
            counters = np.stack([c & np.uint64(0xFFFFFFFF), c >> np.uint64(32),
                                 np.ones_like(c), np.full_like(c, 32)], axis=-1).astype(np.uint32)
            if args.control == "rounds4":
                words = philox_rounds(counters, keys[0], 4)
            else:
                words = np.stack([fastinit.philox4x32(counters, key) for key in keys], axis=1)
            out.write(words.tobytes())
            start += n
    except BrokenPipeError:  # the battery stopped reading
        pass


if __name__ == "__main__":
    main()
