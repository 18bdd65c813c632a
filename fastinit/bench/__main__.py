"""python -m fastinit.bench: measure, then write a report (Markdown, PNG plots, JSON).

    python -m fastinit.bench                     # full run, ~10 minutes on 2 cores
    python -m fastinit.bench --quick             # about a minute
    python -m fastinit.bench --dtype bfloat16 --dtype float16   # these dtypes only, up to 1e8
    python -m fastinit.bench --output DIR        # where report.md, *.png, results.json go
    python -m fastinit.bench --compare OLD.json  # flag ratios that fell by more than --margin
    python -m fastinit.bench --report-only DIR/results.json   # rebuild the report from saved results

fastinit is compared with NumPy always, and with PyTorch and JAX where they
are installed.
"""

import argparse
import datetime
import os
import shlex
import sys

import numba

from . import catalogue, report, runner

FULL = {"sizes": (10**4, 10**5, 10**6, 10**7, 10**8), "dtypes": ("float32", "float64", "bfloat16"),
        "rounds": (3, 7), "seconds": 1.5, "scaling_size": 10**7, "tiny_size": 64, "startup": 2}
QUICK = {"sizes": (10**4, 10**6, 10**7), "dtypes": ("float32",), "rounds": (3, 5), "seconds": 0.5,
         "scaling_size": 10**6, "tiny_size": 64, "startup": 1}
LARGEST_SIZE_DTYPES = ("float32", "float64")  # 1e8 bfloat16 adds minutes and little information


def with_dtypes(settings, dtypes):
    """settings for the chosen dtypes only, each at every size (1e8 included)."""
    chosen = tuple(dict.fromkeys(dtypes))
    return {**settings, "dtypes": chosen, "largest_size_dtypes": chosen}


def plan(settings):
    """The measurement groups: (tag, dtype, size, thread count, methods)."""
    methods = catalogue.catalogue()
    bfloat16 = catalogue.available("ml_dtypes")
    threads_all = numba.config.NUMBA_NUM_THREADS
    threaded = [m for m in methods if m.library in runner.THREADED_LIBRARIES or m.library == "ndarray.fill"]
    groups = []
    for dtype in settings["dtypes"]:
        if dtype == "bfloat16" and not bfloat16:
            continue
        for size in settings["sizes"]:
            if size >= 10**8 and dtype not in settings.get("largest_size_dtypes", LARGEST_SIZE_DTYPES):
                continue
            groups.append(("throughput", dtype, size, threads_all, methods))
            if threads_all > 1:
                groups.append(("throughput", dtype, size, 1, threaded))
    scaling = [m for m in threaded if m.distribution in ("uniform", "normal") and not m.allocating
               and m.library != "ndarray.fill"]
    for threads in range(1, threads_all + 1):
        groups.append(("scaling", "float32", settings["scaling_size"], threads, scaling))
    tiny = [m for m in methods if m.distribution == "uniform" and not m.allocating and m.library != "numpy-threads"]
    tiny += [m for m in methods if m.library == "jax" and m.distribution == "uniform"]
    if catalogue.available("torch"):
        tiny.append(catalogue.Method("fastinit.torch.uniform_", "fastinit", "uniform", False, ("float32",),
                                     _fastinit_torch_uniform))
    groups.append(("tiny", "float32", settings["tiny_size"], threads_all, tiny))
    return groups


def _fastinit_torch_uniform(size, dtype, threads):
    import torch

    import fastinit.torch as ft
    w = torch.empty(size)
    return lambda: ft.uniform_(w, -0.1, 0.1, seed=1)


def run(settings, progress=True):
    groups = plan(settings)
    records = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(groups), unit="group", file=sys.stderr)
    for tag, dtype, size, threads, methods in groups:
        if bar is not None:
            bar.set_description(f"{tag} {dtype} {size:.0e} x{threads}")
        for record in runner.measure_group(methods, dtype, size, threads, settings["rounds"], settings["seconds"]):
            entry = record.as_dict()
            entry["tag"] = tag
            records.append(entry)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    runner.set_threads(numba.config.NUMBA_NUM_THREADS)
    startup = runner.measure_startup(settings["startup"]) if settings["startup"] else []
    return records, startup


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastinit.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="float32, sizes 1e4..1e7: about a minute")
    parser.add_argument("--output", default="fastinit-bench", help="report folder (default ./fastinit-bench)")
    parser.add_argument("--compare", metavar="BASELINE_JSON", help="compare with a saved results.json")
    parser.add_argument("--margin", type=float, default=0.15,
                        help="with --compare: flag a ratio that fell by more than this fraction (default 0.15)")
    parser.add_argument("--report-only", metavar="RESULTS_JSON", help="rebuild the report from saved results")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--dtype", action="append", choices=catalogue.DTYPES,
                        help="measure this dtype only (repeatable), at every size; default: "
                             "float32, float64, bfloat16 (float32 with --quick)")
    args = parser.parse_args(argv)
    if not 0 < args.margin < 1:
        parser.error("--margin must be between 0 and 1")

    if args.report_only:
        results = report.load(args.report_only)
    else:
        settings = QUICK if args.quick else FULL
        if args.dtype:
            settings = with_dtypes(settings, args.dtype)
        records, startup = run(settings, progress=not args.no_progress)
        results = {"command": "python -m fastinit.bench " + shlex.join(sys.argv[1:] if argv is None else argv),
                   "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
                   "machine": report.machine(), "records": records, "startup": startup}
    report.save(results, args.output)
    written = [] if args.no_plots else report.plots(results, args.output)
    print(report.markdown(results))
    print(f"\nwritten to {os.path.abspath(args.output)}: report.md, results.json"
          + "".join(f", {name}" for name in written))
    if args.compare:
        rows = report.compare(results, report.load(args.compare), args.margin)
        print("\n## Comparison with " + args.compare + "\n\n" + report.compare_markdown(rows, args.margin))
        if any(row[4] for row in rows):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
