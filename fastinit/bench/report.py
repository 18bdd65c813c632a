"""Benchmark reports: Markdown tables, PNG plots, JSON, and baseline comparison.

Besides the tables, a report says what it could not measure (comparison
libraries that are not installed, and how to install them), lists every
measurement whose rounds spread widely, flags results that are far out of
line with the same method at the neighbouring sizes or thread counts
(``suspects``), and records the machine and how busy it was.
"""

import importlib.metadata
import json
import os
from collections import defaultdict

import numpy as np

from .runner import THREADED_LIBRARIES

SPREAD_WARNING = 0.15
BASELINES = {"numpy": "vs NumPy", "numpy-threads": "vs NumPy multithreaded", "torch": "vs PyTorch", "jax": "vs JAX"}
LIBRARY_NAMES = {"fastinit": "fastinit", "numpy": "NumPy", "numpy-threads": "NumPy multithreaded",
                 "torch": "PyTorch", "jax": "JAX", "ndarray.fill": "ndarray.fill"}
#: Optional comparison libraries: the pyproject extra that installs each.
EXTRAS = {"torch": "torch", "jax": "jax"}
#: The dtypes a report shows, in this order (those with records).
REPORT_DTYPES = ("float32", "float64", "bfloat16", "float16")
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal", "xavier_uniform", "kaiming_normal")

#: A result is suspect when it is below 1/SIZE_FACTOR of the same method's at
#: both neighbouring sizes (same dtype and thread count) ...
SIZE_FACTOR = 3.0
#: ... or, for a library that uses threads, below 1/THREAD_FACTOR of the same
#: call with fewer threads, or below 1/(THREAD_FACTOR * k) of it with k times
#: as many (same dtype and size).
THREAD_FACTOR = 2.0
SUSPECT_MARK = " (!)"


def _key(r):
    return (r.get("tag", "throughput"), r["method"], r["dtype"], r["size"], r["threads"])


# ---------------------------------------------------------------------------
# Lookups over records (dicts as saved in results.json)
# ---------------------------------------------------------------------------
def _rate(records, **match):
    for r in records:
        if all(r[k] == v for k, v in match.items()):
            return r["samples_per_second"]
    return None


def _best(records, library, distribution, dtype, size, threads, allocating=False):
    rates = [r["samples_per_second"] for r in records if r["library"] == library and r["distribution"] == distribution
             and r["dtype"] == dtype and r["size"] == size and r["threads"] == threads
             and r["allocating"] == allocating]
    return max(rates) if rates else None


def speedup(records, library, distribution, dtype, size, threads):
    """fastinit's speedup over library, like with like: preallocated calls where
    the library has them, else allocating calls (JAX only allocates)."""
    for allocating in (False, True):
        other = _best(records, library, distribution, dtype, size, threads, allocating)
        ours = _best(records, "fastinit", distribution, dtype, size, threads, allocating)
        if other and ours:
            return ours / other
    return None


def _fmt_rate(rate):
    """G samples/s: three decimals, or two significant digits below 0.01 (a broken
    result must not read 0.000)."""
    if rate is None:
        return ""
    g = rate / 1e9
    return f"{g:.3f}" if g >= 0.01 or g == 0 else f"{g:.2g}"


def _fmt_bytes(n):
    return "unknown" if n is None else f"{n / 2**30:.1f} GiB"


def _fmt_seconds(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


# ---------------------------------------------------------------------------
# Comparison libraries
# ---------------------------------------------------------------------------
def library_states(results):
    """{library: state} for the optional comparison libraries: "compared",
    "not installed", "skipped" (``--skip``), or, for results saved without that
    record, "compared" or "not measured" from the records themselves."""
    saved = results.get("libraries") or {}
    measured = {r["library"] for r in results["records"]}
    states = {}
    for library in EXTRAS:
        if library in saved:
            state = saved[library]["status"]
            states[library] = "compared" if state == "compared" and library in measured else \
                ("not measured" if state == "compared" else state)
        else:
            states[library] = "compared" if library in measured else "not measured"
    return states


def install_command(libraries):
    """The pip command that installs the comparison libraries (through the
    package's extras where the installed metadata declares them)."""
    try:
        extras = set(importlib.metadata.metadata("fastinit").get_all("Provides-Extra") or ())
    except importlib.metadata.PackageNotFoundError:
        extras = set(EXTRAS.values())
    named = [EXTRAS[lib] for lib in libraries if EXTRAS[lib] in extras]
    plain = [lib for lib in libraries if EXTRAS[lib] not in extras]
    parts = []
    if named:
        joined = ",".join(named)
        parts.append(f"`pip install 'fastinit[{joined}]'` (in a checkout: `pip install -e '.[{joined}]'`)")
    if plain:
        parts.append(f"`pip install {' '.join(plain)}`")
    return " and ".join(parts)


def missing_note(results):
    """A sentence on the comparison libraries this report lacks, or ''."""
    states = library_states(results)
    missing = [lib for lib, state in states.items() if state != "compared"]
    if not missing:
        return ""
    why = {"not installed": "not installed", "skipped": "left out with `--skip`",
           "not measured": "no measurements in these results"}
    listed = ", ".join(f"{LIBRARY_NAMES[lib]} ({why.get(states[lib], states[lib])})" for lib in missing)
    text = f"**Not compared**: {listed}; their columns and bars are left out."
    installable = [lib for lib in missing if states[lib] == "not installed"]
    if installable:
        text += f" To compare with them, install {install_command(installable)} and run again."
    return text


# ---------------------------------------------------------------------------
# Suspect results
# ---------------------------------------------------------------------------
def suspects(records):
    """Results far out of line with the same method elsewhere in the run:
    a list of {"record", "rule", "why"}, each record at most once.

    * size: below 1/SIZE_FACTOR of the same method's throughput at both the
      next smaller and the next larger measured size (same table: dtype and
      thread count). A step (every size beyond a cache or the allocator's
      threshold slower) is not a dip and is not flagged; the smallest and
      largest sizes have one neighbour and are judged by the thread rule only.
    * threads (fastinit, PyTorch, NumPy's multithreaded recipe): below
      1/THREAD_FACTOR of the same call with fewer threads, or, with fewer
      threads, below 1/(THREAD_FACTOR * k) of the same call with k times as many
      (same table kind, dtype and size). A parallel region that waits on a core
      another process holds reads like this.
    """
    out, seen = [], set()

    def flag(r, rule, why):
        if _key(r) not in seen:
            seen.add(_key(r))
            out.append({"record": r, "rule": rule, "why": why})

    def g(r):
        return f"{_fmt_rate(r['samples_per_second'])} G/s"

    series = defaultdict(list)
    for r in records:
        if r.get("tag", "throughput") == "throughput":
            series[(r["method"], r["dtype"], r["threads"])].append(r)
    for rs in series.values():
        rs.sort(key=lambda r: r["size"])
        for before, r, after in zip(rs, rs[1:], rs[2:]):
            if r["samples_per_second"] * SIZE_FACTOR < min(before["samples_per_second"], after["samples_per_second"]):
                flag(r, "size", f"{g(r)} against {g(before)} at {before['size']:.0e} and {g(after)} at "
                                f"{after['size']:.0e} elements (same method, dtype and threads)")
    by_threads = defaultdict(list)
    for r in records:
        if r["library"] in THREADED_LIBRARIES:
            by_threads[(r.get("tag", "throughput"), r["method"], r["dtype"], r["size"])].append(r)
    for rs in by_threads.values():
        for r in rs:
            fewer = [o for o in rs if o["threads"] < r["threads"]]
            if fewer:
                best = max(fewer, key=lambda o: o["samples_per_second"])
                if r["samples_per_second"] * THREAD_FACTOR < best["samples_per_second"]:
                    flag(r, "threads", f"{g(r)} with {r['threads']} threads against {g(best)} with "
                                       f"{best['threads']} (same method, dtype and size)")
            for o in rs:
                k = o["threads"] / r["threads"]
                if k > 1 and r["samples_per_second"] * THREAD_FACTOR * k < o["samples_per_second"]:
                    flag(r, "threads", f"{g(r)} with {r['threads']} thread{'s' if r['threads'] > 1 else ''} "
                                       f"against {g(o)} with {o['threads']}: more than {THREAD_FACTOR * k:.0f}x "
                                       "apart (same method, dtype and size)")
    return out


def suspect_keys(records):
    return {_key(s["record"]) for s in suspects(records)}


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------
def headline_rows(records, dtype, size, threads, libraries=tuple(BASELINES), marked=frozenset()):
    """(distribution, fastinit rate, GB/s, % of fill, speedups over each library) at one size.
    NumPy is single-threaded: it is measured only in the groups of all threads.
    A figure that rests on a suspect result carries SUSPECT_MARK."""
    fill = _rate(records, library="ndarray.fill", dtype=dtype, size=size, threads=threads)
    itemsize = next((r["itemsize"] for r in records if r["dtype"] == dtype), 4)

    def suspect(library, dist):
        return any(_key(r) in marked for r in records if r["library"] == library and r["distribution"] == dist
                   and r["dtype"] == dtype and r["size"] == size and r["threads"] == threads)

    rows = []
    for dist in DISTRIBUTIONS:
        ours = _best(records, "fastinit", dist, dtype, size, threads)
        if ours is None:
            continue
        mark = SUSPECT_MARK if suspect("fastinit", dist) else ""
        row = [dist, _fmt_rate(ours) + mark, f"{ours * itemsize / 1e9:.1f}",
               "" if fill is None else f"{100 * ours / fill:.0f}%"]
        for library in libraries:
            x = speedup(records, library, dist, dtype, size, threads)
            row.append("" if x is None else f"{x:.1f}x" + (SUSPECT_MARK if mark or suspect(library, dist) else ""))
        rows.append(row)
    return rows


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def throughput_table(records, dtype, threads, marked=frozenset()):
    sizes = sorted({r["size"] for r in records if r["dtype"] == dtype and r["threads"] == threads and r["size"] > 64})
    names = []
    for r in records:
        if r["dtype"] == dtype and r["threads"] == threads and r["size"] in sizes and r["method"] not in names:
            names.append(r["method"])
    rows = []
    for name in names:
        row = [name]
        for s in sizes:
            cell = _fmt_rate(_rate(records, method=name, dtype=dtype, size=s, threads=threads))
            if cell and ("throughput", name, dtype, s, threads) in marked:
                cell += SUSPECT_MARK
            row.append(cell)
        rows.append(row)
    return _table(["method"] + [f"{s:.0e}" for s in sizes], rows)


def _empty_column_reason(library, dtype, state):
    if state != "compared":
        return None  # said once, above the tables
    if library in ("numpy", "numpy-threads") and dtype not in ("float32", "float64"):
        return f"NumPy's generators have no {dtype} output"
    if library == "jax" and dtype == "float64":
        return "JAX computes float64 only with `JAX_ENABLE_X64=1` (otherwise in float32), so it is not measured"
    return f"no {LIBRARY_NAMES[library]} {dtype} measurement"


def _sizes_text(settings):
    sizes = settings.get("sizes")
    if not sizes:
        return "unknown"
    text = ", ".join(f"{s:.0e}" for s in sizes)
    largest = settings.get("largest_size_dtypes")
    if max(sizes) >= 10**8 and largest is None:
        largest = ["float32", "float64"]
    if largest is not None and max(sizes) >= 10**8 and set(settings.get("dtypes", ())) - set(largest):
        text += f" ({max(sizes):.0e} for {', '.join(largest)} only)"
    return text


def _processes_text(snap):
    procs = snap.get("processes")
    if procs is None:
        return "not known (no /proc)"
    if not procs:
        return "none above 2% of a core"
    return "; ".join(f"{p['cpu_percent']:.0f}% `{p['command']}`" for p in procs)


def others_busy(results, threshold=25.0):
    """Whether other processes used at least ``threshold`` % of a core at the
    start or at the end of the run (from the saved samples)."""
    m = results.get("machine", {})
    for when in ("start", "end"):
        procs = (m.get(when) or {}).get("processes") or []
        if sum(p["cpu_percent"] for p in procs) >= threshold:
            return True
    return False


def machine_lines(results):
    """The "Machine and settings" section (older results: what they recorded)."""
    m = results["machine"]
    versions = m.get("versions", {})
    cores = f"{m.get('cpus')} cores (os.cpu_count)"
    if m.get("usable_cpus") is not None:
        cores += f", {m['usable_cpus']} usable by the benchmark (its affinity mask)"
    if m.get("cpu_quota"):
        cores += f", a cgroup limit of {m['cpu_quota']} cores"
    lines = ["## Machine and settings", "",
             f"- CPU: {m['cpu']}" + (f" ({', '.join(m['flags'])})" if m.get("flags") else "") + f"; {cores}"]
    start, end = m.get("start") or {}, m.get("end") or {}
    if "memory_total" in m:
        available = start.get("memory_available")
        lines.append(f"- Memory: {_fmt_bytes(m['memory_total'])}"
                     + (f", {_fmt_bytes(available)} available at the start" if available else ""))
    if start or end:
        def load(snap):
            values = snap.get("load_average")
            return "unknown" if values is None else ", ".join(f"{v:.2f}" for v in values)
        lines.append(f"- Load average (1, 5, 15 min): {load(start)} at the start, {load(end)} at the end")
        lines.append(f"- Other processes by CPU use (0.5 s samples, 100% = one core): at the start "
                     f"{_processes_text(start)}; at the end {_processes_text(end)}")
    names = [("numpy", "NumPy"), ("numba", "Numba"), ("llvmlite", "llvmlite"), ("torch", "PyTorch"),
             ("jax", "JAX"), ("jaxlib", "jaxlib"), ("ml_dtypes", "ml_dtypes"), ("fastinit", "fastinit")]
    software = [f"Python {m['python']}"] + [f"{label} {versions[k] or 'not installed'}" for k, label in names
                                            if k in versions]
    lines.append(f"- Software: {', '.join(software)}; {m.get('platform', '')}")
    lines.append(f"- Numba: {m['numba_threads']} threads, {m.get('threading_layer', 'unknown')} threading layer"
                 + (f" (setting: {m['threading_layer_setting']})" if m.get("threading_layer_setting") else ""))
    if m.get("environment"):
        lines.append("- Environment: " + ", ".join(f"`{k}={v}`" for k, v in m["environment"].items()))
    settings = results.get("settings") or {}
    if settings:
        mode = settings.get("mode")
        rounds = settings.get("rounds", ("?", "?"))
        lines.append(
            f"- Settings: {mode + ' run' if mode else 'run'}"
            + (" (`--quick`)" if mode == "quick" else "")
            + f"; dtypes {', '.join(settings.get('dtypes', ()))}; sizes {_sizes_text(settings)}; "
            f"{rounds[0]} to {rounds[1]} interleaved rounds per group, as many as fit in "
            f"{settings.get('seconds')} s of timed calls; thread scaling at {settings.get('scaling_size', 0):.0e} "
            f"elements; per-call overhead at {settings.get('tiny_size')} elements; start-up: "
            + (f"1 cold and {settings['startup']} warm new processes" if settings.get("startup") else "not measured")
            + (f"; left out: {', '.join(settings['exclude'])}" if settings.get("exclude") else ""))
    duration = results.get("duration")
    if duration:
        lines.append(f"- Duration: {_fmt_seconds(duration['measured_s'])} of measurements (planned "
                     f"{_fmt_seconds(duration['planned_s'])} for an idle 2-core machine), after "
                     f"{_fmt_seconds(duration.get('before_s', 0))} of Python start-up and imports")
    return lines + [""]


def markdown(results):
    m = results["machine"]
    records = results["records"]
    all_threads = m["numba_threads"]
    states = library_states(results)
    compared = [lib for lib in BASELINES if lib not in states or states[lib] == "compared"]
    found = suspects(records)
    marked = {_key(s["record"]) for s in found}
    lines = ["# fastinit benchmark report", "",
             f"Command: `{results['command']}`  ", f"Date: {results['date']}", ""]
    note = missing_note(results)
    if note:
        lines += [note, ""]
    if found:
        lines += [f"**Suspect results**: {len(found)} measurement{'s are' if len(found) > 1 else ' is'} far out of "
                  f"line with the same method at the neighbouring sizes or thread counts (marked{SUSPECT_MARK} in "
                  "the tables, circled in red in the plots; see [Suspect results](#suspect-results)).", ""]
    if others_busy(results):
        lines += ["**The machine was busy**: other processes used the CPU while this ran (see "
                  "[Machine and settings](#machine-and-settings)); timings can read low and thread scaling "
                  "can break. Re-run on an idle machine before quoting figures.", ""]
    lines += machine_lines(results)
    lines += ["Throughput is in G samples/s: the median over interleaved rounds (every method once per round, "
              "in rotating order), compilation excluded. `ndarray.fill` is NumPy's single-threaded fill of the "
              "same buffer: the reference bandwidth. NumPy uses one thread; its multithreaded recipe and "
              "PyTorch use the thread count of the table; JAX uses its own thread pool.", ""]
    dtypes = [d for d in REPORT_DTYPES if any(r["dtype"] == d for r in records)]
    largest = max(r["size"] for r in records if r["size"] > 64)
    lines += [f"## Headline: {largest:.0e} elements, {all_threads} threads", ""]
    for dtype in dtypes:
        rows = headline_rows(records, dtype, largest, all_threads, compared, marked)
        if not rows:
            continue
        keep = [i for i in range(len(compared)) if any(row[4 + i] for row in rows)]
        gone = [compared[i] for i in range(len(compared)) if i not in keep]
        header = ["distribution", "fastinit G/s", "GB/s", "% of ndarray.fill"] + [BASELINES[compared[i]] for i in keep]
        lines += [f"**{dtype}**", "", _table(header, [row[:4] + [row[4 + i] for i in keep] for row in rows]), ""]
        reasons = [(lib, _empty_column_reason(lib, dtype, states.get(lib, "compared"))) for lib in gone]
        reasons = [f"{BASELINES[lib]}: {why}" for lib, why in reasons if why]
        if reasons:
            lines += ["No column " + "; ".join(reasons) + ".", ""]
    lines += ["An empty cell: that library has no such initializer (NumPy's generators have uniform and normal "
              "only).", ""]
    for dtype in dtypes:
        for threads in sorted({r["threads"] for r in records if r["dtype"] == dtype}, reverse=True):
            if not any(r["dtype"] == dtype and r["threads"] == threads and r["size"] > 64 and "scaling" not in r.get("tag", "")
                       for r in records):
                continue
            lines += [f"## {dtype}, {threads} thread{'s' if threads > 1 else ''}: G samples/s by size", "",
                      throughput_table([r for r in records if r.get("tag", "") == "throughput"], dtype, threads,
                                       marked), ""]
    scaling = [r for r in records if r.get("tag") == "scaling"]
    if scaling:
        threads = sorted({r["threads"] for r in scaling})
        names = list(dict.fromkeys(r["method"] for r in scaling))
        size = scaling[0]["size"]

        def cell(name, t):
            text = _fmt_rate(_rate(scaling, method=name, threads=t))
            return text + SUSPECT_MARK if text and ("scaling", name, "float32", size, t) in marked else text
        lines += [f"## Thread scaling: {size:.0e} float32 elements, G samples/s", "",
                  _table(["method"] + [f"{t} thread{'s' if t > 1 else ''}" for t in threads],
                         [[n] + [cell(n, t) for t in threads] for n in names]), ""]
    tiny = [r for r in records if r.get("tag") == "tiny"]
    if tiny:
        lines += [f"## Per-call overhead: a {tiny[0]['size']}-element float32 bias", "",
                  _table(["method", "microseconds per call"], [[r["method"], f"{1e6 * r['median']:.1f}"] for r in tiny]),
                  ""]
    if results.get("startup"):
        lines += ["## Start-up: `import fastinit` and a first `fill_normal` of 1e6 float32, new processes", "",
                  _table(["kernel cache", "import numpy (s)", "import fastinit (s)", "first fill (s)", "total (s)"],
                         [[s["cache"], f"{s['import_numpy']:.3f}", f"{s['import_fastinit']:.3f}",
                           f"{s['first_fill']:.3f}", f"{s['total']:.3f}"] for s in results["startup"]]), ""]
    lines += ["## Suspect results", "",
              f"A result is flagged when it is below 1/{SIZE_FACTOR:.0f} of the same method's throughput at both "
              "neighbouring sizes (same dtype and thread count), or, for fastinit, PyTorch and NumPy's "
              f"multithreaded recipe, below 1/{THREAD_FACTOR:.0f} of the same call with fewer threads (or, with "
              f"fewer threads, below 1/({THREAD_FACTOR:.0f}k) of it with k times as many). A parallel region "
              "that waits on a core another process holds reads like this.", ""]
    if found:
        lines += [_table(["method", "table", "dtype", "size", "threads", "G samples/s", "ms per call", "why"],
                         [[s["record"]["method"], s["record"].get("tag", "throughput"), s["record"]["dtype"],
                           f"{s['record']['size']:.0e}", s["record"]["threads"],
                           _fmt_rate(s["record"]["samples_per_second"]), f"{1e3 * s['record']['median']:.3f}",
                           s["why"]] for s in found]), "",
                  "Re-run on an idle machine before quoting these.", ""]
    else:
        lines += ["None in this run.", ""]
    noisy = sorted((r for r in records if r["spread"] > SPREAD_WARNING and len(r["times"]) > 1),
                   key=lambda r: -r["spread"])
    lines += ["## Measurement quality", ""]
    if noisy:
        lines += [f"**Warning**: {len(noisy)} of {len(records)} measurements had a spread (interquartile range "
                  f"of the rounds over their median) above {SPREAD_WARNING:.0%}; the machine was busy while they "
                  "ran. Re-run on an idle machine before quoting them.", "",
                  "<details>",
                  f"<summary>All {len(noisy)} measurements with a spread above {SPREAD_WARNING:.0%}, "
                  "widest first</summary>", "",
                  _table(["method", "table", "dtype", "size", "threads", "G samples/s", "spread", "rounds"],
                         [[r["method"], r.get("tag", "throughput"), r["dtype"], f"{r['size']:.0e}", r["threads"],
                           _fmt_rate(r["samples_per_second"]), f"{100 * r['spread']:.0f}%", len(r["times"])]
                          for r in noisy]), "", "</details>"]
    else:
        lines.append(f"Every measurement's spread (interquartile range of the rounds over their median) was "
                     f"within {SPREAD_WARNING:.0%}.")
    lines += ["", "Notes: torch's `kaiming_normal_` is untruncated, JAX's `he_normal` truncated (the same "
              "variance); NumPy's multithreaded recipe gives values that depend on its thread count, "
              "fastinit's do not. Plots: `throughput-<dtype>.png`, `speedup.png`, `scaling.png`; in every plot, "
              f"{STYLE_NOTE}.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------
COLORS = {"fastinit": "tab:red", "numpy": "tab:blue", "numpy-threads": "tab:cyan", "torch": "tab:orange",
          "jax": "tab:green", "ndarray.fill": "black"}
#: The same line style means the same thing in every plot.
LINESTYLES = {"in place": "-", "allocating": "--", "reference": ":"}
STYLE_NOTE = "solid: fills a given buffer, dashed: allocates a new array, dotted: ndarray.fill"
#: In the scaling plot, where uniform and normal share the axes.
MARKERS = {"uniform": "o", "normal": "s", "truncated_normal": "v", "xavier_uniform": "^", "kaiming_normal": "D"}
#: Legends sit outside the axes, with handles long enough to show the dashes.
LEGEND = {"loc": "outside right upper", "fontsize": 7, "handlelength": 4.0, "frameon": False}
SUSPECT_STYLE = {"linestyle": "none", "marker": "o", "markersize": 13, "markerfacecolor": "none",
                 "markeredgecolor": "red", "markeredgewidth": 1.6, "label": "suspect result (see report)"}


def linestyle(library, allocating):
    if library == "ndarray.fill":
        return LINESTYLES["reference"]
    return LINESTYLES["allocating" if allocating else "in place"]


def series_label(library, allocating):
    label = LIBRARY_NAMES.get(library, library)
    if library == "ndarray.fill":
        return label + " (reference)"
    return label + (" (allocating)" if allocating else "")


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _figure_legend(fig, axes):
    """One legend for all panels, outside them: the first handle of each label."""
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), **LEGEND)


def throughput_figure(results, dtype, threads=None):
    """G samples/s by size, a panel per distribution; None without records."""
    plt = _pyplot()
    records = [r for r in results["records"] if r.get("tag", "throughput") == "throughput"]
    threads = results["machine"]["numba_threads"] if threads is None else threads
    mine = [r for r in records if r["dtype"] == dtype and r["threads"] == threads]
    if not mine:
        return None
    marked = suspect_keys(results["records"])
    dists = [d for d in DISTRIBUTIONS if any(r["distribution"] == d for r in mine)]
    fig, axes = plt.subplots(1, len(dists), figsize=(3.6 * len(dists) + 2.6, 4), sharey=True, squeeze=False,
                             layout="constrained")
    fill = sorted((r["size"], r["samples_per_second"]) for r in mine if r["library"] == "ndarray.fill")
    for ax, dist in zip(axes[0], dists):
        bad = []
        for name in dict.fromkeys(r["method"] for r in mine if r["distribution"] == dist):
            pts = sorted((r for r in mine if r["method"] == name), key=lambda r: r["size"])
            library, allocating = pts[0]["library"], pts[0]["allocating"]
            ax.plot([p["size"] for p in pts], [p["samples_per_second"] / 1e9 for p in pts], marker="o",
                    markersize=4, color=COLORS.get(library, "gray"), linestyle=linestyle(library, allocating),
                    label=series_label(library, allocating))
            bad += [p for p in pts if _key(p) in marked]
        if fill:
            ax.plot([p[0] for p in fill], [p[1] / 1e9 for p in fill], color=COLORS["ndarray.fill"],
                    linestyle=linestyle("ndarray.fill", False), label=series_label("ndarray.fill", False))
        if bad:
            ax.plot([p["size"] for p in bad], [p["samples_per_second"] / 1e9 for p in bad], **SUSPECT_STYLE)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(dist)
        ax.set_xlabel("elements")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("G samples/s")
    _figure_legend(fig, axes[0])
    fig.suptitle(f"{dtype}, {threads} thread{'s' if threads > 1 else ''}: {STYLE_NOTE}", fontsize=9)
    return fig


def speedup_figure(results):
    """fastinit's speedup over each compared library at the largest float32 size; None without records."""
    plt = _pyplot()
    records = [r for r in results["records"] if r.get("tag", "throughput") == "throughput"]
    threads = results["machine"]["numba_threads"]
    largest = max((r["size"] for r in records if r["dtype"] == "float32"), default=None)
    if not largest:
        return None
    states = library_states(results)
    libraries = [lib for lib in BASELINES if states.get(lib, "compared") == "compared"
                 and any(r["library"] == lib for r in records)]
    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    width = 0.8 / max(1, len(libraries))
    for i, library in enumerate(libraries):
        ratios = [speedup(records, library, dist, "float32", largest, threads) for dist in DISTRIBUTIONS]
        x = np.arange(len(DISTRIBUTIONS)) + (i - (len(libraries) - 1) / 2) * width
        bars = ax.bar(x, [np.nan if v is None else v for v in ratios], width, color=COLORS[library],
                      label=BASELINES[library])
        ax.bar_label(bars, labels=["" if v is None else f"{v:.1f}x" for v in ratios], fontsize=6, padding=1)
    ax.axhline(1, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(DISTRIBUTIONS)), DISTRIBUTIONS)
    ax.set_ylabel("fastinit speedup")
    ax.set_title(f"fastinit speedup, float32, {largest:.0e} elements, {threads} threads "
                 "(no bar: the library has no such initializer)", fontsize=9)
    fig.legend(**LEGEND)
    return fig


def scaling_figure(results):
    """G samples/s by thread count; None without scaling records."""
    plt = _pyplot()
    scaling = [r for r in results["records"] if r.get("tag") == "scaling"]
    if not scaling:
        return None
    marked = suspect_keys(results["records"])
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    bad = []
    for name in dict.fromkeys(r["method"] for r in scaling):
        pts = sorted((r for r in scaling if r["method"] == name), key=lambda r: r["threads"])
        library, allocating = pts[0]["library"], pts[0]["allocating"]
        ax.plot([p["threads"] for p in pts], [p["samples_per_second"] / 1e9 for p in pts],
                marker=MARKERS.get(pts[0]["distribution"], "o"), color=COLORS.get(library, "gray"),
                linestyle=linestyle(library, allocating), label=name)
        bad += [p for p in pts if _key(p) in marked]
    if bad:
        ax.plot([p["threads"] for p in bad], [p["samples_per_second"] / 1e9 for p in bad], **SUSPECT_STYLE)
    ax.set_xlabel("threads")
    ax.set_ylabel("G samples/s")
    ax.set_xticks(sorted({r["threads"] for r in scaling}))
    ax.set_title(f"thread scaling, {scaling[0]['size']:.0e} float32 elements\n{STYLE_NOTE}\n"
                 "markers: circle uniform, square normal", fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.legend(**LEGEND)
    return fig


def plots(results, directory):
    """throughput-<dtype>.png, speedup.png, scaling.png; returns the file names."""
    plt = _pyplot()
    figures = [(f"throughput-{dtype}.png", throughput_figure(results, dtype)) for dtype in REPORT_DTYPES]
    figures += [("speedup.png", speedup_figure(results)), ("scaling.png", scaling_figure(results))]
    written = []
    for name, fig in figures:
        if fig is None:
            continue
        fig.savefig(os.path.join(directory, name), dpi=110)
        plt.close(fig)
        written.append(name)
    return written


# ---------------------------------------------------------------------------
# Regression tracking
# ---------------------------------------------------------------------------
def compare(current, baseline, margin):
    """Rows (key, baseline ratio, current ratio, change, flagged) for fastinit's
    throughput relative to ndarray.fill and to NumPy, matched by
    (method, dtype, size, threads). Ratios, not absolute speeds, so that two
    runs on machines of different speed still compare."""
    def ratios(results):
        out = {}
        records = results["records"]
        for r in records:
            if r["library"] != "fastinit" or r.get("tag") != "throughput":
                continue
            fill = _rate(records, library="ndarray.fill", dtype=r["dtype"], size=r["size"], threads=r["threads"])
            if fill:
                out[(r["method"], r["dtype"], r["size"], r["threads"], "vs ndarray.fill")] = r["samples_per_second"] / fill
            numpy = _best(records, "numpy", r["distribution"], r["dtype"], r["size"], r["threads"],
                          allocating=r["allocating"])
            if numpy:
                out[(r["method"], r["dtype"], r["size"], r["threads"], "vs NumPy")] = r["samples_per_second"] / numpy
        return out

    now, before = ratios(current), ratios(baseline)
    rows = []
    for key in sorted(set(now) & set(before), key=str):
        change = now[key] / before[key] - 1
        rows.append((key, before[key], now[key], change, change < -margin))
    return rows


def compare_markdown(rows, margin):
    flagged = [r for r in rows if r[4]]
    lines = [f"{len(rows)} ratios compared; {len(flagged)} fell by more than {margin:.0%}.", ""]
    if rows:
        lines.append(_table(["method", "dtype", "size", "threads", "ratio", "baseline", "now", "change", ""],
                            [[k[0], k[1], f"{k[2]:.0e}", k[3], k[4], f"{b:.2f}", f"{n:.2f}", f"{100 * c:+.0f}%",
                              "REGRESSION" if f else ""] for k, b, n, c, f in (flagged or rows[:0])]))
    return "\n".join(lines)


def save(results, directory):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(directory, "report.md"), "w") as f:
        f.write(markdown(results))


def load(path):
    with open(path) as f:
        return json.load(f)

