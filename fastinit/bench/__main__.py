"""python -m fastinit.bench: measure, then write a report (Markdown, PNG plots, JSON).

    python -m fastinit.bench                     # full run (planned times below)
    python -m fastinit.bench --quick             # float32 up to 1e7: about a minute
    python -m fastinit.bench --dtype bfloat16 --dtype float16   # these dtypes only, up to 1e8
    python -m fastinit.bench --skip torch        # leave an installed comparison library out
    python -m fastinit.bench --output DIR        # where report.md, *.png, results.json go
    python -m fastinit.bench --compare OLD.json  # flag ratios that fell by more than --margin
    python -m fastinit.bench --report-only DIR/results.json   # rebuild the report from saved results

fastinit is compared with NumPy always, and with PyTorch and JAX where they
are installed (``pip install 'fastinit[torch,jax]'``); the report names those
it could not compare with.

The command prints its expected duration at the start, from a model of every
call's cost (``runner.Planner``) on an idle 2-core machine, compilations
included; its progress bar counts those planned seconds. Planned, with a
fresh kernel cache: ``--quick`` 26 s of measurements with NumPy alone, 47 s
with PyTorch and JAX; the full run 2 min 13 s and 7 min 23 s. Python's
start-up and the plots add a few seconds; a busy machine takes longer (the
report records the load, the measured duration and the plan).
"""

import argparse
import datetime
import os
import shlex
import sys
import time

import numba

from . import catalogue, machine, report, runner

FULL = {"sizes": (10**4, 10**5, 10**6, 10**7, 10**8), "dtypes": ("float32", "float64", "bfloat16"),
        "rounds": (3, 7), "seconds": 1.5, "scaling_size": 10**7, "tiny_size": 64, "startup": 2}
QUICK = {"sizes": (10**4, 10**6, 10**7), "dtypes": ("float32",), "rounds": (3, 5), "seconds": 0.5,
         "scaling_size": 10**6, "tiny_size": 64, "startup": 1}
LARGEST_SIZE_DTYPES = ("float32", "float64")  # 1e8 bfloat16 adds minutes and little information
#: At 1e8 elements the one-thread groups measure only these: PyTorch's 1e8 calls with one
#: thread (trunc_normal_ alone, 20 s a float64 call) and NumPy's recipe add minutes, and
#: their 1e7 columns, beyond the caches already, show the same scaling.
HUGE_SIZE = 10**8
HUGE_SIZE_ONE_THREAD_LIBRARIES = ("fastinit", "ndarray.fill")


def with_dtypes(settings, dtypes):
    """settings for the chosen dtypes only, each at every size (1e8 included)."""
    chosen = tuple(dict.fromkeys(dtypes))
    return {**settings, "dtypes": chosen, "largest_size_dtypes": chosen}


def plan(settings, exclude=()):
    """The measurement groups: (tag, dtype, size, thread count, methods)."""
    methods = catalogue.catalogue(exclude)
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
                groups.append(("throughput", dtype, size, 1, threaded if size < HUGE_SIZE else
                               [m for m in threaded if m.library in HUGE_SIZE_ONE_THREAD_LIBRARIES]))
    scaling = [m for m in threaded if m.distribution in ("uniform", "normal") and not m.allocating
               and m.library != "ndarray.fill"]
    for threads in range(1, threads_all + 1):
        groups.append(("scaling", "float32", settings["scaling_size"], threads, scaling))
    tiny = [m for m in methods if m.distribution == "uniform" and not m.allocating and m.library != "numpy-threads"]
    tiny += [m for m in methods if m.library == "jax" and m.distribution == "uniform"]
    if catalogue.available("torch") and "torch" not in exclude:
        tiny.append(catalogue.Method("fastinit.torch.uniform_", "fastinit", "uniform", False, ("float32",),
                                     _fastinit_torch_uniform))
    groups.append(("tiny", "float32", settings["tiny_size"], threads_all, tiny))
    return groups


def _fastinit_torch_uniform(size, dtype, threads):
    import torch

    import fastinit.torch as ft
    w = torch.empty(size)
    return lambda: ft.uniform_(w, -0.1, 0.1, seed=1)


def planned(groups, settings, cache_warm=None):
    """(GroupPlan of each group, planned seconds of the start-up processes)."""
    planner = runner.Planner(cache_warm)
    plans = [planner.group(methods, dtype, size, threads, settings["rounds"], settings["seconds"])
             for _, dtype, size, threads, methods in groups]
    return plans, runner.planned_startup_seconds(settings["startup"])


def format_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


BAR_FORMAT = "{desc}{percentage:3.0f}%|{bar}| {elapsed}<{remaining} (planned time {total_fmt} s)"


def run(settings, progress=True, exclude=(), announce=None):
    """Measure every group of the plan; returns (records, start-up rows, planned seconds,
    [{"group": label, "planned_s", "measured_s"}] of each group).

    The progress bar counts planned seconds (``runner.Planner``): each group
    advances it by its own plan, step by step, so that its estimate of the time
    left holds when one group lasts minutes and the next milliseconds.
    announce: called with the planned seconds before anything is measured."""
    groups = plan(settings, exclude)
    plans, startup_plan = planned(groups, settings)
    total = sum(p.total for p in plans) + startup_plan
    if announce is not None:
        announce(total, groups)
    records = []
    bar = step = None
    if progress:
        from tqdm import tqdm
        # smoothing=0: the time left is the planned time left at the average pace so far
        bar = tqdm(total=round(total, 1), unit="s", file=sys.stderr, bar_format=BAR_FORMAT, smoothing=0)
        step = bar.update
    timings = []
    for (tag, dtype, size, threads, methods), group_plan in zip(groups, plans):
        label = f"{tag} {dtype} {size:.0e} x{threads}"
        if bar is not None:
            bar.set_description(label)
        began = time.perf_counter()
        for record in runner.measure_group(methods, dtype, size, threads, settings["rounds"], settings["seconds"],
                                           progress=step, planned=group_plan):
            entry = record.as_dict()
            entry["tag"] = tag
            records.append(entry)
        timings.append({"group": label, "planned_s": round(group_plan.total, 3),
                        "measured_s": round(time.perf_counter() - began, 3)})
    runner.set_threads(numba.config.NUMBA_NUM_THREADS)
    if bar is not None and settings["startup"]:
        bar.set_description("start-up, new processes")
    began = time.perf_counter()
    startup = runner.measure_startup(settings["startup"]) if settings["startup"] else []
    if settings["startup"]:
        timings.append({"group": "start-up processes", "planned_s": round(startup_plan, 3),
                        "measured_s": round(time.perf_counter() - began, 3)})
    if bar is not None:
        bar.update(max(0.0, bar.total - bar.n))  # the start-up processes, and rounding
        bar.close()
    return records, startup, total, timings


def library_status(exclude=()):
    """{library: {"status": "compared" | "not installed" | "skipped", "version"}} for
    the optional comparison libraries (NumPy is always compared)."""
    versions = machine.versions()
    status = {}
    for library in catalogue.OPTIONAL_LIBRARIES:
        if library in exclude:
            state = "skipped"
        elif not catalogue.available(library):
            state = "not installed"
        else:
            state = "compared"
        status[library] = {"status": state, "version": versions.get(library)}
    return status


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastinit.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="float32, sizes 1e4..1e7: about a minute on 2 cores")
    parser.add_argument("--output", default="fastinit-bench", help="report folder (default ./fastinit-bench)")
    parser.add_argument("--compare", metavar="BASELINE_JSON", help="compare with a saved results.json")
    parser.add_argument("--margin", type=float, default=0.15,
                        help="with --compare: flag a ratio that fell by more than this fraction (default 0.15)")
    parser.add_argument("--report-only", metavar="RESULTS_JSON", help="rebuild the report from saved results")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--skip", action="append", choices=tuple(catalogue.OPTIONAL_LIBRARIES),
                        help="leave this comparison library out even where it is installed (repeatable)")
    parser.add_argument("--dtype", action="append", choices=catalogue.DTYPES,
                        help="measure this dtype only (repeatable), at every size; default: "
                             "float32, float64, bfloat16 (float32 with --quick)")
    args = parser.parse_args(argv)
    if not 0 < args.margin < 1:
        parser.error("--margin must be between 0 and 1")

    if args.report_only:
        results = report.load(args.report_only)
    else:
        settings = dict(QUICK if args.quick else FULL, mode="quick" if args.quick else "full")
        if args.dtype:
            settings = with_dtypes(settings, args.dtype)
        exclude = tuple(dict.fromkeys(args.skip or ()))
        libraries = library_status(exclude)
        start = machine.snapshot()
        began = time.perf_counter()
        age = machine.process_seconds() or 0.0

        def announce(seconds, groups):
            names = ["NumPy"] + [report.LIBRARY_NAMES[k] for k, v in libraries.items() if v["status"] == "compared"]
            left = [f"{report.LIBRARY_NAMES[k]} {v['status']}" for k, v in libraries.items()
                    if v["status"] != "compared"]
            print(f"fastinit.bench ({settings['mode']}): {len(groups)} measurement groups against "
                  f"{', '.join(names)}" + (f" ({', '.join(left)})" if left else "")
                  + f"; expected duration about {format_seconds(seconds)} on an idle 2-core machine "
                  "(longer on a busy or slower one)", file=sys.stderr, flush=True)

        records, startup, planned_s, timings = run(settings, progress=not args.no_progress, exclude=exclude,
                                          announce=announce)
        info = machine.describe()
        info["start"], info["end"] = start, machine.snapshot()
        measured = time.perf_counter() - began
        results = {"command": "python -m fastinit.bench " + shlex.join(sys.argv[1:] if argv is None else argv),
                   "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
                   | {"exclude": list(exclude)},
                   "libraries": libraries, "machine": info, "records": records, "startup": startup,
                   "duration": {"planned_s": round(planned_s, 1), "measured_s": round(measured, 1),
                                "before_s": round(age, 1), "groups": timings}}
    report.save(results, args.output)
    written = [] if args.no_plots else report.plots(results, args.output)
    print(report.markdown(results))
    print(f"\nwritten to {os.path.abspath(args.output)}: report.md, results.json"
          + "".join(f", {name}" for name in written))
    if not args.report_only:
        total = machine.process_seconds()
        print(f"fastinit.bench: measurements took {format_seconds(results['duration']['measured_s'])} "
              f"(planned {format_seconds(results['duration']['planned_s'])})"
              + (f", {format_seconds(total)} in all since Python started" if total else ""),
              file=sys.stderr, flush=True)
    if args.compare:
        rows = report.compare(results, report.load(args.compare), args.margin)
        print("\n## Comparison with " + args.compare + "\n\n" + report.compare_markdown(rows, args.margin))
        if any(row[4] for row in rows):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
