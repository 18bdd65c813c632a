"""What a benchmark report records about the machine it ran on.

``describe()`` is the hardware and software (CPU model and flags, cores and
the cores this process may use, memory, versions, Numba's threading);
``snapshot()`` is how busy the machine was at one moment (load average,
memory available, the processes that used the CPU over a short sample).
Everything is read from ``/proc`` and ``/sys`` where Linux has them; elsewhere
the fields fall back to what ``platform`` and ``os`` give, or to ``None``.
"""

import importlib.metadata
import os
import platform
import sys
import time

import numba

#: Distributions whose versions a report lists (None: not installed).
PACKAGES = ("fastinit", "numpy", "numba", "llvmlite", "torch", "jax", "jaxlib", "ml_dtypes", "matplotlib", "tqdm")
#: Environment variables that change what the benchmark measures, recorded when set.
ENVIRONMENT = ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "NUMBA_CACHE_DIR", "OMP_NUM_THREADS",
               "MKL_NUM_THREADS", "FASTINIT_HUGE_PAGES", "JAX_ENABLE_X64", "XLA_FLAGS")
_FLAG_PREFIXES = ("avx", "sse4", "fma", "f16c")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def cpu():
    """(model name, selected instruction-set flags)."""
    model, flags = None, []
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if model is None and line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
            flags = sorted(f for f in set(line.split(":", 1)[1].split()) if f.startswith(_FLAG_PREFIXES))
        if model is not None and flags:
            break
    return model or platform.processor() or platform.machine() or "unknown", flags


def usable_cpus():
    """The cores this process may run on (its affinity mask), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def cpu_quota():
    """The cgroup (v2) CPU limit in cores, or None where there is none."""
    text = _read("/sys/fs/cgroup/cpu.max")
    if not text:
        return None
    quota, _, period = text.strip().partition(" ")
    try:
        return round(int(quota) / int(period), 2)
    except ValueError:  # "max": no limit
        return None


def memory():
    """(total, available) bytes, or None each where unknown."""
    fields = {}
    for line in (_read("/proc/meminfo") or "").splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            fields[key] = int(parts[0]) * 1024
    total = fields.get("MemTotal")
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            total = None
    return total, fields.get("MemAvailable")


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_ticks():
    """{pid: (utime + stime ticks, name)} of every process /proc shows."""
    ticks = {}
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return ticks
    for pid in pids:
        stat = _read(f"/proc/{pid}/stat")
        if not stat or ")" not in stat:
            continue
        comm = stat[stat.find("(") + 1:stat.rfind(")")]
        fields = stat[stat.rfind(")") + 2:].split()
        try:
            ticks[int(pid)] = (int(fields[11]) + int(fields[12]), comm)
        except (IndexError, ValueError):
            continue
    return ticks


def _command(pid, comm):
    cmdline = " ".join((_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").split())  # one line
    text = cmdline or f"[{comm}]"
    return text if len(text) <= 100 else text[:97] + "..."


def busy_processes(interval=0.5, top=5, least_percent=2.0):
    """The processes other than this one that used the most CPU over ``interval``
    seconds: a list of {"pid", "cpu_percent" (100 = one core), "command"}, at
    most ``top`` of them and each at ``least_percent`` or more; None where
    /proc cannot be read."""
    if not os.path.isdir("/proc"):
        return None
    try:
        hertz = os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        hertz = 100
    before = _cpu_ticks()
    if not before:
        return None
    start = time.monotonic()
    time.sleep(interval)
    after = _cpu_ticks()
    elapsed = time.monotonic() - start
    me = os.getpid()
    rows = []
    for pid, (ticks, comm) in after.items():
        if pid == me or pid not in before:
            continue
        percent = 100.0 * (ticks - before[pid][0]) / hertz / elapsed
        if percent >= least_percent:
            rows.append({"pid": pid, "cpu_percent": round(percent, 1), "command": _command(pid, comm)})
    rows.sort(key=lambda r: -r["cpu_percent"])
    return rows[:top]


def snapshot(interval=0.5):
    """How busy the machine is now (load average, available memory, busy processes)."""
    return {"time": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "load_average": load_average(),
            "memory_available": memory()[1], "processes": busy_processes(interval)}


def versions():
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def threading():
    """Numba's thread count and threading layer (known once a parallel kernel has run)."""
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not started"
    return {"numba_threads": numba.config.NUMBA_NUM_THREADS, "threading_layer": layer,
            "threading_layer_setting": numba.config.THREADING_LAYER}


def describe():
    """The machine and software; the keys of the older reports (cpu, flags, cpus,
    python, platform, numba_threads, threading_layer, versions) included."""
    model, flags = cpu()
    total, _ = memory()
    info = {"cpu": model, "flags": flags, "cpus": os.cpu_count(), "usable_cpus": usable_cpus(),
            "cpu_quota": cpu_quota(), "memory_total": total, "python": platform.python_version(),
            "python_executable": sys.executable, "platform": platform.platform(),
            "versions": {k: v for k, v in versions().items() if k != "python"},
            "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ}}
    info.update(threading())
    return info


def process_seconds():
    """Wall seconds since this process started (Linux), else None."""
    stat, uptime = _read("/proc/self/stat"), _read("/proc/uptime")
    if not stat or not uptime:
        return None
    try:
        started = int(stat[stat.rfind(")") + 2:].split()[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, float(uptime.split()[0]) - started)
    except (IndexError, ValueError, OSError):
        return None
