"""The ``fastinit`` command line.

    fastinit fill emb.npy --shape 10000000 256 --init normal --std 0.02 --dtype bfloat16 --seed 0
    fastinit fill --help                # every initializer and its parameters
    fastinit bench --quick              # the benchmark report (python -m fastinit.bench)
"""

import argparse
import inspect
import sys

from . import io, schemes

# Arguments of the initializers that the command line sets itself.
_RESERVED = {"shape", "seed", "dtype", "out", "region"}


def _parameters(name):
    """(parameter, default) of an initializer that the command line can pass."""
    signature = inspect.signature(getattr(schemes, name))
    return [(p.name, p.default) for p in signature.parameters.values()
            if p.kind == p.KEYWORD_ONLY and p.name not in _RESERVED]


def _catalogue():
    lines = ["initializers and their parameters (--NAME VALUE; defaults in brackets):"]
    for name in io.INITIALIZERS:
        params = ", ".join(f"{p}" + ("" if d is inspect.Parameter.empty else f" [{d}]") for p, d in _parameters(name))
        lines.append(f"  {name:17s} {params}")
    return "\n".join(lines)


def _value(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _fill_parser():
    parser = argparse.ArgumentParser(
        prog="fastinit fill", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Write an initialized tensor to a .npy or .safetensors file, out of core, atomically.",
        epilog=_catalogue())
    parser.add_argument("path", help="output file, ending in .npy or .safetensors")
    parser.add_argument("--name", default="weight", help="the tensor's name in a .safetensors file (default weight)")
    parser.add_argument("--shape", type=int, nargs="+", required=True, help="tensor shape, e.g. 10000000 256")
    parser.add_argument("--init", default="normal", choices=io.INITIALIZERS, metavar="NAME",
                        help="initializer (default normal; the list is below)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64", "float16", "bfloat16"])
    parser.add_argument("--seed", type=int, help="integer in [0, 2**64)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted write")
    parser.add_argument("--chunk-mb", type=float, default=64, help="megabytes generated at a time (default 64)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def fill(argv):
    parser = _fill_parser()
    args, extra = parser.parse_known_args(argv)
    allowed = dict(_parameters(args.init))
    params = {}
    while extra:
        flag = extra.pop(0)
        name = flag[2:].replace("-", "_") if flag.startswith("--") else None
        if name not in allowed:
            parser.error(f"{args.init} has no parameter {flag!r}; it takes: "
                         f"{', '.join('--' + p for p in allowed) or 'none'}")
        if not extra:
            parser.error(f"{flag} needs a value")
        params[name] = _value(extra.pop(0))
    missing = [p for p, d in allowed.items() if d is inspect.Parameter.empty and p not in params]
    if missing:
        parser.error(f"{args.init} needs --{', --'.join(missing)}")
    try:
        result = io.save(args.path, tuple(args.shape), init=args.init, seed=args.seed, dtype=args.dtype,
                         overwrite=args.overwrite, resume=args.resume, chunk_bytes=max(1, int(args.chunk_mb * 2**20)),
                         progress=not args.no_progress, name=args.name, **params)
    except (ValueError, TypeError, OSError) as error:
        print(f"fastinit fill: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {result['path']}: {result['bytes'] / 1e9:.3f} GB in {result['seconds']:.2f} s "
          f"({result['bytes_per_second'] / 1e9:.2f} GB/s)")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"fill": fill, "bench": lambda rest: __import__("fastinit.bench.__main__", fromlist=["main"]).main(rest)}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
