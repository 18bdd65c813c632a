"""Benchmark reports: Markdown tables, PNG plots, JSON, and baseline comparison."""

import json
import os
import platform
import sys

import numba
import numpy as np


SPREAD_WARNING = 0.15
BASELINES = {"numpy": "vs NumPy", "numpy-threads": "vs NumPy multithreaded", "torch": "vs PyTorch", "jax": "vs JAX"}
#: The dtypes a report shows, in this order (those with records).
REPORT_DTYPES = ("float32", "float64", "bfloat16", "float16")


# ---------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------

def machine():
    info = {"cpu": platform.processor() or platform.machine(), "flags": [], "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "platform": platform.platform(),
            "numba_threads": numba.config.NUMBA_NUM_THREADS, "versions": {}}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and info["cpu"] in ("", platform.machine(), platform.processor()):
                    info["cpu"] = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    info["flags"] = sorted(f for f in flags if f.startswith(("avx", "sse4", "fma", "f16c")))
                    break
    except OSError:
        pass
    try:
        info["threading_layer"] = numba.threading_layer()
    except ValueError:
        info["threading_layer"] = "not started"
    for module in ("fastinit", "numpy", "numba", "llvmlite", "torch", "jax", "jaxlib", "ml_dtypes"):
        if module in sys.modules:
            info["versions"][module] = getattr(sys.modules[module], "__version__", "?")
    return info


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
    return "" if rate is None else f"{rate / 1e9:.3f}"


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------
def headline_rows(records, dtype, size, threads):
    """(distribution, fastinit rate, GB/s, % of fill, speedups over each library) at one size.
    NumPy is single-threaded: it is measured only in the groups of all threads."""
    fill = _rate(records, library="ndarray.fill", dtype=dtype, size=size, threads=threads)
    itemsize = next((r["itemsize"] for r in records if r["dtype"] == dtype), 4)
    rows = []
    for dist in ("uniform", "normal", "truncated_normal", "xavier_uniform", "kaiming_normal"):
        ours = _best(records, "fastinit", dist, dtype, size, threads)
        if ours is None:
            continue
        row = [dist, _fmt_rate(ours), f"{ours * itemsize / 1e9:.1f}", "" if fill is None else f"{100 * ours / fill:.0f}%"]
        ratios = [speedup(records, library, dist, dtype, size, threads) for library in BASELINES]
        row += ["" if x is None else f"{x:.1f}x" for x in ratios]
        rows.append(row)
    return rows


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def throughput_table(records, dtype, threads):
    sizes = sorted({r["size"] for r in records if r["dtype"] == dtype and r["threads"] == threads and r["size"] > 64})
    names = []
    for r in records:
        if r["dtype"] == dtype and r["threads"] == threads and r["size"] in sizes and r["method"] not in names:
            names.append(r["method"])
    rows = []
    for name in names:
        rows.append([name] + [_fmt_rate(_rate(records, method=name, dtype=dtype, size=s, threads=threads))
                              for s in sizes])
    return _table(["method"] + [f"{s:.0e}" for s in sizes], rows)


def markdown(results):
    m = results["machine"]
    records = results["records"]
    all_threads = m["numba_threads"]
    lines = ["# fastinit benchmark report", "",
             f"Command: `{results['command']}`  ", f"Date: {results['date']}  ",
             f"Machine: {m['cpu']}, {m['cpus']} CPUs ({', '.join(m['flags'])}); Python {m['python']}, "
             f"{m['platform']}  ",
             f"Numba threads: {all_threads} ({m['threading_layer']} layer); versions: "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()), "",
             "Throughput is in G samples/s: the median over interleaved rounds (every method once per round, "
             "in rotating order), compilation excluded. `ndarray.fill` is NumPy's single-threaded fill of the "
             "same buffer: the reference bandwidth. NumPy uses one thread; its multithreaded recipe and "
             "PyTorch use the thread count of the table; JAX uses its own thread pool.", ""]
    dtypes = [d for d in REPORT_DTYPES if any(r["dtype"] == d for r in records)]
    largest = max(r["size"] for r in records if r["size"] > 64)
    lines += [f"## Headline: {largest:.0e} elements, {all_threads} threads", ""]
    for dtype in dtypes:
        rows = headline_rows(records, dtype, largest, all_threads)
        if rows:
            lines += [f"**{dtype}**", "", _table(["distribution", "fastinit G/s", "GB/s", "% of ndarray.fill"]
                                                  + list(BASELINES.values()), rows), ""]
    for dtype in dtypes:
        for threads in sorted({r["threads"] for r in records if r["dtype"] == dtype}, reverse=True):
            if not any(r["dtype"] == dtype and r["threads"] == threads and r["size"] > 64 and "scaling" not in r.get("tag", "")
                       for r in records):
                continue
            lines += [f"## {dtype}, {threads} thread{'s' if threads > 1 else ''}: G samples/s by size", "",
                      throughput_table([r for r in records if r.get("tag", "") == "throughput"], dtype, threads), ""]
    scaling = [r for r in records if r.get("tag") == "scaling"]
    if scaling:
        threads = sorted({r["threads"] for r in scaling})
        names = list(dict.fromkeys(r["method"] for r in scaling))
        size = scaling[0]["size"]
        lines += [f"## Thread scaling: {size:.0e} float32 elements, G samples/s", "",
                  _table(["method"] + [f"{t} thread{'s' if t > 1 else ''}" for t in threads],
                         [[n] + [_fmt_rate(_rate(scaling, method=n, threads=t)) for t in threads] for n in names]), ""]
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
    noisy = [r for r in records if r["spread"] > SPREAD_WARNING and len(r["times"]) > 1]
    lines += ["## Measurement quality", ""]
    if noisy:
        lines += [f"**Warning**: {len(noisy)} of {len(records)} measurements had a spread (interquartile range "
                  f"of the rounds over their median) above {SPREAD_WARNING:.0%}; the machine was busy while they "
                  "ran. Re-run on an idle machine before quoting them:", ""]
        lines += [f"- {r['method']}, {r['dtype']}, {r['size']:.0e}, {r['threads']} threads: "
                  f"{100 * r['spread']:.0f}%" for r in noisy[:20]]
    else:
        lines.append(f"Every measurement's spread (interquartile range of the rounds over their median) was "
                     f"within {SPREAD_WARNING:.0%}.")
    lines += ["", "Notes: torch's `kaiming_normal_` is untruncated, JAX's `he_normal` truncated (the same "
              "variance); NumPy's multithreaded recipe gives values that depend on its thread count, "
              "fastinit's do not. Plots: `throughput-<dtype>.png`, `speedup.png`, `scaling.png`.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------
COLORS = {"fastinit": "tab:red", "numpy": "tab:blue", "numpy-threads": "tab:cyan", "torch": "tab:orange",
          "jax": "tab:green", "ndarray.fill": "black"}


def plots(results, directory):
    """throughput-<dtype>.png, speedup.png, scaling.png; returns the file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in results["records"] if r.get("tag") == "throughput"]
    threads = results["machine"]["numba_threads"]
    written = []
    for dtype in REPORT_DTYPES:
        mine = [r for r in records if r["dtype"] == dtype and r["threads"] == threads]
        if not mine:
            continue
        dists = [d for d in ("uniform", "normal", "truncated_normal", "xavier_uniform", "kaiming_normal")
                 if any(r["distribution"] == d for r in mine)]
        fig, axes = plt.subplots(1, len(dists), figsize=(4.2 * len(dists), 4), sharey=True, squeeze=False)
        fill = sorted((r["size"], r["samples_per_second"]) for r in mine if r["library"] == "ndarray.fill")
        for ax, dist in zip(axes[0], dists):
            for name in dict.fromkeys(r["method"] for r in mine if r["distribution"] == dist):
                pts = sorted((r["size"], r["samples_per_second"], r["library"], r["allocating"])
                             for r in mine if r["method"] == name)
                ax.plot([p[0] for p in pts], [p[1] / 1e9 for p in pts], marker="o",
                        color=COLORS[pts[0][2]], linestyle="--" if pts[0][3] else "-", label=name)
            if fill:
                ax.plot([p[0] for p in fill], [p[1] / 1e9 for p in fill], color="black", linestyle=":",
                        label="ndarray.fill")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(dist)
            ax.set_xlabel("elements")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=6)
        axes[0][0].set_ylabel("G samples/s")
        fig.suptitle(f"{dtype}, {threads} threads (dashed: allocating)")
        fig.tight_layout()
        name = f"throughput-{dtype}.png"
        fig.savefig(os.path.join(directory, name), dpi=110)
        plt.close(fig)
        written.append(name)

    largest = max((r["size"] for r in records), default=None)
    if largest:
        dists = ["uniform", "normal", "truncated_normal", "xavier_uniform", "kaiming_normal"]
        fig, ax = plt.subplots(figsize=(9, 4))
        width = 0.2
        for i, library in enumerate(BASELINES):
            ratios = [speedup(records, library, dist, "float32", largest, threads) or 0 for dist in dists]
            ax.bar(np.arange(len(dists)) + (i - 1.5) * width, ratios, width, color=COLORS[library],
                   label=BASELINES[library])
        ax.axhline(1, color="black", linewidth=0.8)
        ax.set_xticks(np.arange(len(dists)), dists)
        ax.set_ylabel("fastinit speedup")
        ax.set_title(f"fastinit speedup, float32, {largest:.0e} elements, {threads} threads (0: not measured)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(directory, "speedup.png"), dpi=110)
        plt.close(fig)
        written.append("speedup.png")

    scaling = [r for r in results["records"] if r.get("tag") == "scaling"]
    if scaling:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in dict.fromkeys(r["method"] for r in scaling):
            pts = sorted((r["threads"], r["samples_per_second"], r["library"]) for r in scaling if r["method"] == name)
            ax.plot([p[0] for p in pts], [p[1] / 1e9 for p in pts], marker="o", color=COLORS[pts[0][2]],
                    linestyle="-" if "uniform" in name else "--", label=name)
        ax.set_xlabel("threads")
        ax.set_ylabel("G samples/s")
        ax.set_xticks(sorted({r["threads"] for r in scaling}))
        ax.set_title(f"thread scaling, {scaling[0]['size']:.0e} float32 elements")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(directory, "scaling.png"), dpi=110)
        plt.close(fig)
        written.append("scaling.png")
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

