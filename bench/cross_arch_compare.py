"""Compare two outputs of bench/cross_arch_hashes.py stream by stream.

    python bench/cross_arch_compare.py x86_64.json aarch64.json
    python bench/cross_arch_compare.py x86_64.json aarch64.json --dumps DIR_A DIR_B
    pip install $(python bench/cross_arch_compare.py --pins x86_64.json)   # the same versions

Prints a table (stream, match) and exits 1 if any stream differs, is missing
on one side, or the two ran different stream-format versions or stream
lengths. With ``--dumps`` (the two runs' ``--dump`` directories), a differing
stream also gets how many elements differ, the first index and the largest
difference in units in the last place.
"""

import argparse
import json
import os
import sys

#: The unsigned type of each output dtype's bit patterns (NumPy is imported only for --dumps).
_BITS = {"float32": "uint32", "float64": "uint64", "float16": "uint16", "bfloat16": "uint16"}


def _ordered(patterns, bits):
    """Sign-magnitude float bit patterns as integers that increase with the value (ulp steps)."""
    import numpy as np
    signed = patterns.astype(np.int64) if bits < 64 else patterns.view(np.int64)
    if bits < 64:
        sign = np.int64(1) << (bits - 1)
        return np.where(signed & sign, -(signed & (sign - 1)), signed)
    magnitude = signed & np.int64(0x7FFFFFFFFFFFFFFF)
    return np.where(signed < 0, -magnitude, magnitude)


def _detail(name, dumps):
    import numpy as np
    (dir_a, index_a), (dir_b, index_b) = dumps
    if name not in index_a or name not in index_b:
        return ""
    dtype = index_a[name]["dtype"]
    unsigned = _BITS.get(dtype)
    if unsigned is None:
        return ""
    a = np.fromfile(os.path.join(dir_a, index_a[name]["file"]), unsigned)
    b = np.fromfile(os.path.join(dir_b, index_b[name]["file"]), unsigned)
    if a.size != b.size:
        return f"  ({a.size} vs {b.size} elements)"
    differ = np.flatnonzero(a != b)
    if differ.size == 0:
        return ""
    bits = 8 * np.dtype(unsigned).itemsize
    ulps = np.abs(_ordered(a[differ], bits) - _ordered(b[differ], bits))
    return (f"  {differ.size} of {a.size} elements ({100 * differ.size / a.size:.2g}%), "
            f"first at index {differ[0]}, up to {int(ulps.max())} ulp")


def _load_dumps(directory):
    with open(os.path.join(directory, "index.json")) as f:
        return directory, json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", nargs="?")
    parser.add_argument("second", nargs="?")
    parser.add_argument("--pins", metavar="JSON", help="print the run's package versions as pip requirements, and exit")
    parser.add_argument("--dumps", nargs=2, metavar=("DIR_A", "DIR_B"), help="the two runs' --dump directories")
    parser.add_argument("--only-mismatches", action="store_true", help="table rows of differing streams only")
    args = parser.parse_args(argv)
    if args.pins:
        with open(args.pins) as f:
            versions = json.load(f)["versions"]
        print(" ".join(f"{name}=={v}" for name, v in sorted(versions.items()) if name != "python" and v))
        return 0
    if args.second is None:
        parser.error("two hash files to compare (or --pins FILE)")
    with open(args.first) as f:
        first = json.load(f)
    with open(args.second) as f:
        second = json.load(f)
    dumps = [_load_dumps(d) for d in args.dumps] if args.dumps else None

    label_a, label_b = first.get("machine", "first"), second.get("machine", "second")
    if label_a == label_b:
        label_a, label_b = f"{label_a} (1)", f"{label_b} (2)"
    failures = []
    for key in ("STREAM_FORMAT_VERSION", "elements"):
        if first.get(key) != second.get(key):
            failures.append(f"{key} differs: {first.get(key)} on {label_a}, {second.get(key)} on {label_b}")
    for package in sorted(set(first.get("versions", {})) | set(second.get("versions", {}))):
        va, vb = first.get("versions", {}).get(package), second.get("versions", {}).get(package)
        if va != vb:
            print(f"note: {package} {va} on {label_a}, {vb} on {label_b}")

    hashes_a, hashes_b = first["hashes"], second["hashes"]
    names = sorted(set(hashes_a) | set(hashes_b))
    width = max(len(n) for n in names) if names else 10
    print(f"{label_a} vs {label_b}: STREAM_FORMAT_VERSION {first.get('STREAM_FORMAT_VERSION')} / "
          f"{second.get('STREAM_FORMAT_VERSION')}, {first.get('elements')} elements a stream")
    print(f"{'stream':<{width}}  match")
    mismatched = []
    for name in names:
        a, b = hashes_a.get(name), hashes_b.get(name)
        if a is None or b is None:
            status = f"MISSING on {label_a if a is None else label_b}"
            mismatched.append(name)
        elif a == b:
            status = "yes"
        else:
            status = "NO" + (_detail(name, dumps) if dumps else "")
            mismatched.append(name)
        if status == "yes" and args.only_mismatches:
            continue
        print(f"{name:<{width}}  {status}")
    print(f"{len(names) - len(mismatched)} of {len(names)} streams match")
    if mismatched:
        print("differing streams:")
        for name in mismatched:
            print(f"  {name}")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if (mismatched or failures) else 0


if __name__ == "__main__":
    sys.exit(main())
