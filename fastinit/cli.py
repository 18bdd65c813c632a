"""The fastinit command line: ``fastinit fill`` writes an initialized tensor
to a file, ``fastinit bench`` runs the benchmark (``python -m fastinit.bench``).

Errors name the flags typed (``--seed``, ``--overwrite``), not the Python
keywords of the library call behind them, and are reported before any file
is created or changed.
"""

import argparse
import inspect
import re
import sys
import textwrap

from . import io, schemes

_EXAMPLES = """examples:
  fastinit fill emb.npy --shape 10000000 256 --init normal --std 0.02 --dtype bfloat16 --seed 0
  fastinit fill emb.npy ... --resume      finish an interrupted write
  fastinit fill --help                    every initializer and its parameters
  fastinit bench --quick                  the benchmark report in about a minute
  fastinit bench --help                   the benchmark's own options"""

# Arguments of the initializers that the command line sets itself.
_RESERVED = {"shape", "seed", "dtype", "out", "region"}
_DTYPES = ("float32", "float64", "float16", "bfloat16")
_SEED_LIMIT = 2**64


def version():
    """The installed distribution's version, or the package's own where no
    distribution metadata is found (a source tree on sys.path)."""
    from importlib import metadata
    try:
        return metadata.version("fastinit")
    except metadata.PackageNotFoundError:
        from . import __version__
        return __version__


def _flag(name):
    return "--" + name.replace("_", "-")


def _parameters(name):
    """(parameter, default) of an initializer that the command line can pass."""
    signature = inspect.signature(getattr(schemes, name))
    return [(p.name, p.default) for p in signature.parameters.values()
            if p.kind == p.KEYWORD_ONLY and p.name not in _RESERVED]


def _numeric(name, default):
    """Whether an initializer's parameter takes a number (a float or int default; constant's value)."""
    return name == "value" or (isinstance(default, (int, float)) and not isinstance(default, bool))


def _shown(default):
    if default is inspect.Parameter.empty:
        return "\0(required)"
    return "\0[auto]" if default is None else "\0[none]" if default == () else f"\0[{default}]"


def _catalogue():
    lines = ["initializers and their parameters (--PARAMETER VALUE or --PARAMETER=VALUE; defaults in brackets,",
             "[auto]: from --shape and --layout):"]
    for name in io.INITIALIZERS:
        params = "  ".join(_flag(p) + _shown(d) for p, d in _parameters(name)) or "(no parameters)"
        lines += [line.replace("\0", " ") for line in textwrap.wrap(  # a flag and its default stay together
            params, 100, initial_indent=f"  {name:17s} ", subsequent_indent=" " * 20, break_on_hyphens=False,
            break_long_words=False)]
    return "\n".join(lines)


def _value(text):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


# argparse types: their messages are shown as "argument --FLAG: MESSAGE".
def _seed(text):
    try:
        seed = int(text)
    except ValueError:
        seed = None
    if seed is None or not 0 <= seed < _SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**64), got {text!r}")
    return seed


def _dimension(text):
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size < 0:
        raise argparse.ArgumentTypeError(f"dimensions must be non-negative integers, got {text!r}")
    return size


def _megabytes(text):
    try:
        size = float(text)
    except ValueError:
        size = 0.0
    if not 0 < size < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of megabytes, got {text!r}")
    return size


def _path(text):
    if not text.endswith((".npy", ".safetensors")):
        raise argparse.ArgumentTypeError(f"must end in .npy or .safetensors, got {text!r}")
    return text


def _tensor_name(text):
    if not text or text == "__metadata__":
        raise argparse.ArgumentTypeError(f"must be a non-empty name other than '__metadata__', got {text!r}")
    return text


def _add_fill_arguments(parser):
    parser.add_argument("path", type=_path, help="output file, ending in .npy or .safetensors")
    parser.add_argument("--shape", type=_dimension, nargs="+", required=True, metavar="N",
                        help="the tensor's shape, e.g. 10000000 256 (fans are taken from it)")
    parser.add_argument("--init", default="normal", choices=io.INITIALIZERS, metavar="NAME",
                        help="initializer (default normal; the list and their parameters are below)")
    parser.add_argument("--seed", type=_seed, metavar="SEED",
                        help="integer in [0, 2**64); needed by every initializer but zeros, ones, constant and eye")
    parser.add_argument("--dtype", default="float32", choices=_DTYPES,
                        help="element type of the file (default float32; bfloat16 is stored as NumPy stores it, <V2)")
    parser.add_argument("--name", default="weight", type=_tensor_name,
                        help="the tensor's name in a .safetensors file (default weight)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing file (or discard an interrupted write of it)")
    parser.add_argument("--resume", action="store_true",
                        help="finish an interrupted write of the same request, keeping its finished chunks")
    parser.add_argument("--chunk-mb", type=_megabytes, default=64, metavar="MB",
                        help="megabytes generated and written at a time (default 64): the memory used")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastinit", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Neural-network weight initialization at memory speed: the same bits on any thread count, "
                    "chunking or machine.",
        epilog=_EXAMPLES)
    parser.add_argument("--version", action="version", version=f"fastinit {version()}",
                        help="print fastinit's version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", required=True)
    fill_parser = commands.add_parser(
        "fill", formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
        help="write an initialized tensor to a .npy or .safetensors file, out of core",
        description="Write an initialized tensor to a .npy or .safetensors file, out of core, atomically: "
                    "memory stays near --chunk-mb whatever the file size.",
        epilog=_catalogue())
    _add_fill_arguments(fill_parser)
    # bench's arguments go to python -m fastinit.bench as they are (main() hands them over before parsing)
    commands.add_parser("bench", add_help=False,
                        help="measure fastinit against NumPy, PyTorch and JAX and write a report "
                             "(python -m fastinit.bench; fastinit bench --help for its options)")
    return parser, fill_parser


# A library message, written for Python callers, in the command line's terms.
_ALWAYS_FLAGS = ("seed", "shape", "dtype")  # in fill's messages these words always mean the flag


def _in_cli_terms(message, names, path=None):
    if path:  # the file's name is kept as typed, whatever words it holds
        return path.join(_in_cli_terms(part, names) for part in message.split(path))
    message = re.sub(r"\b(overwrite|resume)=True(?: \(--[\w-]+\))?", lambda m: _flag(m[1]), message)
    for name in sorted(set(names) | set(_ALWAYS_FLAGS), key=len, reverse=True):
        word = rf"(?<![\w.='/-]){re.escape(name)}"  # not inside a quoted value ('fan_in')
        message = re.sub(word + r"=(?=[\s,;)]|$)", _flag(name), message)  # "pass fan_in="
        message = re.sub(word + r"=(?!=)", _flag(name) + " ", message)  # "std=1e40"
        if "_" in name or name in _ALWAYS_FLAGS:
            message = re.sub(word + r"\b", _flag(name), message)
        else:
            message = re.sub(word + r"(?= must\b| ')", _flag(name), message)  # "std must", "nonlinearity 'x'"
    return message


def _initializer_parameters(parser, init, extra):
    """The initializer's parameters from the arguments argparse left over, checked."""
    allowed = dict(_parameters(init))
    names = {name.replace("_", "-"): name for name in allowed}
    names.update({name: name for name in allowed})
    params = {}
    while extra:
        flag = extra.pop(0)
        text = None
        if flag.startswith("--") and "=" in flag:
            flag, text = flag.split("=", 1)
        name = names.get(flag[2:]) if flag.startswith("--") else None
        if name is None:
            if not flag.startswith("-"):
                parser.error(f"unexpected argument {flag!r} (one output path; an initializer's parameters are "
                             f"--PARAMETER VALUE)")
            parser.error(f"--init {init} has no parameter {flag!r}; it takes: "
                         f"{', '.join(_flag(p) for p in allowed) or 'none'}")
        if text is None:
            if not extra:
                parser.error(f"{flag} needs a value")
            text = extra.pop(0)
        if name in params:
            parser.error(f"{_flag(name)} is given twice")
        value = _value(text)
        if _numeric(name, allowed[name]) and isinstance(value, str):
            parser.error(f"{_flag(name)} must be a number, got {text!r}")
        params[name] = value
    missing = [p for p, d in allowed.items() if d is inspect.Parameter.empty and p not in params]
    if missing:
        parser.error(f"--init {init} needs {', '.join(_flag(p) for p in missing)}")
    return params


def _message(error):
    """An exception's message without the "[Errno N]" of OSError's str()."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return str(error)


def fill(parser, args, extra):
    params = _initializer_parameters(parser, args.init, list(extra))
    if args.seed is None and args.init not in schemes._UNSEEDED:
        parser.error(f"--init {args.init} needs --seed (an integer in [0, 2**64))")
    names = [p for p, _ in _parameters(args.init)] + ["init", "name"]
    try:
        # every argument is checked before the file is touched
        result = io.save(args.path, tuple(args.shape), init=args.init, seed=args.seed, dtype=args.dtype,
                         overwrite=args.overwrite, resume=args.resume, chunk_bytes=max(1, int(args.chunk_mb * 2**20)),
                         progress=not args.no_progress, name=args.name, **params)
    except (ValueError, TypeError, FileExistsError) as error:
        parser.error(_in_cli_terms(_message(error), names, args.path))
    except (OSError, ImportError) as error:  # not the arguments: the disk, the folder, the installation
        print(f"{parser.prog}: error: {_in_cli_terms(_message(error), names, args.path)}", file=sys.stderr)
        return 1
    print(f"wrote {result['path']}: {result['bytes'] / 1e9:.3f} GB in {result['seconds']:.2f} s "
          f"({result['bytes_per_second'] / 1e9:.2f} GB/s)")
    return 0


def bench(argv):
    from .bench.__main__ import main as bench_main
    return bench_main(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return bench(argv[1:])
    parser, fill_parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":  # reached only through an option before it, e.g. "fastinit -- bench"
        return bench(extra)
    return fill(fill_parser, args, extra)


if __name__ == "__main__":
    sys.exit(main())
