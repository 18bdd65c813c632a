"""The benchmark package: plan, interleaved runner, report, plots and regression comparison."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from fastinit.bench import __main__ as cli
from fastinit.bench import catalogue, report, runner


def test_catalogue_methods_run_and_return_the_right_size():
    for method in catalogue.catalogue():
        for dtype in method.dtypes:
            result = method.make(1024, dtype, 1)()
            if method.library in ("fastinit", "numpy") and method.allocating:
                assert np.asarray(result).size == 1024
    catalogue.close_pools()


def test_runner_interleaves_rounds():
    methods = [m for m in catalogue.catalogue() if m.distribution in ("fill", "uniform") and not m.allocating
               and m.library in ("fastinit", "numpy", "ndarray.fill")]
    records = runner.measure_group(methods, "float32", 4096, 1, rounds=(3, 3), seconds=0.01)
    assert {r.method for r in records} == {m.name for m in methods}
    assert all(len(r.times) == 3 and r.median > 0 and r.samples_per_second > 0 for r in records)


def _record(method, library, distribution, rate, size=10**6, threads=2, dtype="float32", allocating=False,
            tag="throughput", spread=0.0):
    return {"method": method, "library": library, "distribution": distribution, "allocating": allocating,
            "dtype": dtype, "size": size, "threads": threads, "itemsize": 4, "times": [size / rate] * 3,
            "median": size / rate, "spread": spread, "samples_per_second": rate, "bytes_per_second": 4 * rate,
            "tag": tag}


def _results(fastinit_rate):
    records = [
        _record("ndarray.fill", "ndarray.fill", "fill", 2e9),
        _record("fastinit uniform", "fastinit", "uniform", fastinit_rate),
        _record("numpy Generator.random(out=)", "numpy", "uniform", 0.5e9),
        _record("torch nn.init.uniform_", "torch", "uniform", 0.4e9),
        _record("jax.random.uniform", "jax", "uniform", 0.2e9, allocating=True),
        _record("fastinit uniform (allocating)", "fastinit", "uniform", 1e9, allocating=True),
        _record("fastinit uniform", "fastinit", "uniform", 1.5e9, threads=1, tag="scaling"),
        _record("fastinit uniform", "fastinit", "uniform", fastinit_rate, tag="scaling"),
        _record("fastinit uniform", "fastinit", "uniform", 2e7, size=64, tag="tiny"),
    ]
    return {"command": "python -m fastinit.bench", "date": "today", "settings": {}, "records": records,
            "startup": [{"cache": "warm", "import_numpy": 0.05, "import_fastinit": 0.1, "first_fill": 0.2,
                         "total": 0.35}],
            "machine": {"cpu": "test CPU", "flags": ["avx2"], "cpus": 2, "python": "3", "platform": "test",
                        "numba_threads": 2, "threading_layer": "omp", "versions": {"numpy": "2"}}}


def test_report_tables_and_ratios(tmp_path):
    results = _results(3e9)
    text = report.markdown(results)
    # no NumPy multithreaded records: no empty column for it; JAX: allocating vs allocating
    assert "| uniform | 3.000 | 12.0 | 150% | 6.0x | 7.5x | 5.0x |" in text
    assert "| distribution | fastinit G/s | GB/s | % of ndarray.fill | vs NumPy | vs PyTorch | vs JAX |" in text
    assert "Thread scaling" in text and "Per-call overhead" in text and "Start-up" in text
    report.save(results, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["records"][1]["samples_per_second"] == 3e9
    names = report.plots(results, tmp_path)
    assert set(names) == {"throughput-float32.png", "speedup.png", "scaling.png"}
    assert all((tmp_path / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)


def test_spread_warning():
    results = _results(3e9)
    results["records"][1]["spread"] = 0.6
    assert "Warning" in report.markdown(results)
    assert "Warning" not in report.markdown(_results(3e9))


def test_compare_flags_a_fallen_ratio():
    rows = report.compare(_results(2.4e9), _results(3e9), margin=0.15)
    flagged = [r for r in rows if r[4]]
    assert {r[0][4] for r in flagged} == {"vs ndarray.fill", "vs NumPy"}
    assert not any(r[4] for r in report.compare(_results(2.8e9), _results(3e9), margin=0.15))


def test_cli_report_only_and_compare_exit_code(tmp_path, capsys):
    base, now = tmp_path / "base.json", tmp_path / "now.json"
    base.write_text(json.dumps(_results(3e9)))
    now.write_text(json.dumps(_results(2e9)))
    assert cli.main(["--report-only", str(now), "--output", str(tmp_path / "out"), "--compare", str(base)]) == 1
    assert "REGRESSION" in capsys.readouterr().out
    assert cli.main(["--report-only", str(base), "--output", str(tmp_path / "out2"), "--compare", str(base),
                     "--no-plots"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["--margin", "2"])


def test_plan_covers_sizes_dtypes_threads_and_tiny():
    groups = cli.plan(cli.QUICK)
    tags = {g[0] for g in groups}
    assert tags == {"throughput", "scaling", "tiny"}
    assert {g[2] for g in groups if g[0] == "throughput"} == set(cli.QUICK["sizes"])


def test_a_whole_run_measures_every_group_with_a_progress_bar(capsys):
    settings = dict(cli.QUICK, sizes=(2048,), scaling_size=2048, rounds=(1, 1), seconds=0.0, startup=0)
    records, startup, planned, timings = cli.run(settings, progress=True)
    assert planned == pytest.approx(sum(t["planned_s"] for t in timings), rel=1e-3)
    assert len(timings) == len(cli.plan(settings)) and all(t["measured_s"] > 0 for t in timings)
    err = capsys.readouterr().err
    assert "100%" in err and "planned time" in err  # tqdm's bar, on stderr, in planned seconds
    assert {r["tag"] for r in records} == {"throughput", "scaling", "tiny"}
    assert {r["library"] for r in records} >= {"fastinit", "numpy", "ndarray.fill"}
    assert startup == []


def test_startup_is_measured_cold_then_warm():
    rows = runner.measure_startup(repeats=1)
    assert [r["cache"] for r in rows] == ["cold", "warm"]
    assert all(r["total"] == pytest.approx(r["import_numpy"] + r["import_fastinit"] + r["first_fill"]) for r in rows)
    assert rows[0]["first_fill"] > rows[1]["first_fill"]  # the cold run compiles, the warm one loads


def test_dtype_option_measures_the_chosen_dtypes_at_every_size():
    settings = cli.with_dtypes(cli.FULL, ["float16", "bfloat16", "float16"])
    groups = [g for g in cli.plan(settings) if g[0] == "throughput"]
    assert {g[1] for g in groups} == {"float16", "bfloat16"}
    assert {g[2] for g in groups if g[1] == "bfloat16"} == set(cli.FULL["sizes"])  # 1e8 included
    assert 10**8 not in {g[2] for g in cli.plan(cli.FULL) if g[0] == "throughput" and g[1] == "bfloat16"}
    float16 = [m for g in groups if g[1] == "float16" for m in g[4] if m.supports("float16")]
    assert {m.library for m in float16} >= {"fastinit", "ndarray.fill"}
    with pytest.raises(SystemExit):
        cli.main(["--dtype", "int8"])


# ---------------------------------------------------------------------------
# What a report says about itself: missing libraries, noise, suspect results,
# the machine; the plots' legends and line styles; the planned duration
# ---------------------------------------------------------------------------
def _numpy_only(libraries=None):
    results = _results(3e9)
    results["records"] = [r for r in results["records"] if r["library"] not in ("torch", "jax")]
    results["libraries"] = libraries or {"torch": {"status": "not installed", "version": None},
                                         "jax": {"status": "not installed", "version": None}}
    return results


def test_missing_comparison_libraries_are_named_with_their_install_command():
    text = report.markdown(_numpy_only())
    assert ("**Not compared**: PyTorch (not installed), JAX (not installed); their columns and bars are left out."
            in text)
    assert "pip install 'fastinit[torch,jax]'" in text and "pip install -e '.[torch,jax]'" in text
    assert "vs PyTorch" not in text and "vs JAX" not in text
    assert "| distribution | fastinit G/s | GB/s | % of ndarray.fill | vs NumPy |" in text
    # both installed and measured: no note
    assert "Not compared" not in report.markdown(_results(3e9))
    skipped = report.markdown(_numpy_only({"torch": {"status": "skipped"}, "jax": {"status": "compared"}}))
    assert "PyTorch (left out with `--skip`), JAX (no measurements in these results)" in skipped
    assert "pip install" not in skipped
    # results saved before the library record: judged from the records
    old = _numpy_only()
    del old["libraries"]
    assert "PyTorch (no measurements in these results)" in report.markdown(old)


def test_the_install_command_names_extras_that_pyproject_declares():
    tomllib = pytest.importorskip("tomllib")
    import pathlib
    extras = tomllib.loads((pathlib.Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert set(report.EXTRAS.values()) <= set(extras)
    assert {"torch", "jax"} == set(catalogue.OPTIONAL_LIBRARIES) == set(report.EXTRAS)


def test_the_speedup_plot_leaves_out_libraries_that_were_not_compared():
    fig = report.speedup_figure(_numpy_only())
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["vs NumPy"]
    fig = report.speedup_figure(_results(3e9))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["vs NumPy", "vs PyTorch", "vs JAX"]


def test_every_noisy_measurement_is_listed():
    results = _results(3e9)
    results["records"] += [_record(f"noisy method {i}", "fastinit", "uniform", 1e9, size=10**5, spread=0.2 + i / 100)
                           for i in range(30)]
    text = report.markdown(results)
    assert f"**Warning**: 30 of {len(results['records'])} measurements" in text
    details = text[text.index("<details>"):text.index("</details>")]
    assert "<summary>All 30 measurements" in details
    rows = [line for line in details.splitlines() if line.startswith("| noisy method")]
    assert len(rows) == 30 and {r.split(" | ")[0] for r in rows} == {f"| noisy method {i}" for i in range(30)}
    assert rows[0].startswith("| noisy method 29 |")  # widest first
    assert "more" not in details


def _series(rates, method="fastinit normal", dtype="float64", threads=2, library="fastinit", allocating=False):
    sizes = [10**4, 10**5, 10**6, 10**7, 10**8]
    return [_record(method, library, "normal", rate, size=size, threads=threads, dtype=dtype, allocating=allocating)
            for size, rate in zip(sizes, rates)]


def _clean_records():
    """Rates shaped like a real run: slower at 1e4, a step down for allocating
    calls beyond the caches, one thread half as fast."""
    records = _series([0.39e9, 0.94e9, 0.94e9, 1.0e9, 0.83e9])
    records += _series([0.35e9, 0.49e9, 0.49e9, 0.50e9, 0.42e9], threads=1)
    # a step, not a dip: 11x down from 1e6 to 1e7 (new pages on every call), then a little up
    records += _series([1.0e9, 3.6e9, 5.2e9, 0.47e9, 0.57e9], method="fastinit normal (allocating)",
                       allocating=True)
    records += _series([0.10e9, 0.10e9, 0.10e9, 0.10e9, 0.10e9], method="numpy Generator.standard_normal(out=)",
                       library="numpy")
    records += [_record("fastinit uniform", "fastinit", "uniform", 2.4e9, size=10**7, threads=1, tag="scaling"),
                _record("fastinit uniform", "fastinit", "uniform", 4.1e9, size=10**7, threads=2, tag="scaling")]
    return records


def test_no_suspect_in_a_clean_run():
    assert report.suspects(_clean_records()) == []
    results = _results(3e9)
    results["records"] = _clean_records() + [_record("ndarray.fill", "ndarray.fill", "fill", 6e9, size=s,
                                                     dtype="float64") for s in (10**4, 10**5, 10**6, 10**7, 10**8)]
    text = report.markdown(results)
    assert "**Suspect results**" not in text and report.SUSPECT_MARK not in text
    assert "## Suspect results" in text and "None in this run." in text


def test_a_dip_and_a_thread_count_slower_than_fewer_threads_are_flagged():
    records = _clean_records()
    dip = next(r for r in records if r["method"] == "fastinit normal" and r["threads"] == 2 and r["size"] == 10**5)
    dip.update(samples_per_second=0.012e9, median=10**5 / 0.012e9)  # 8 ms a fill
    slow = next(r for r in records if r["tag"] == "scaling" and r["threads"] == 2)
    slow.update(samples_per_second=2.4e9 / 3.5, median=10**7 / (2.4e9 / 3.5))
    found = report.suspects(records)
    assert [(s["record"]["method"], s["record"]["size"], s["record"]["threads"], s["rule"]) for s in found] == [
        ("fastinit normal", 10**5, 2, "size"), ("fastinit uniform", 10**7, 2, "threads")]
    assert "0.012 G/s against 0.390 G/s at 1e+04 and 0.940 G/s at 1e+06" in found[0]["why"]
    assert "0.686 G/s with 2 threads against 2.400 G/s with 1" in found[1]["why"]
    # 1 thread far slower than 2 (more than twice the thread ratio) is flagged too
    one = next(r for r in _clean_records() if r["tag"] == "scaling" and r["threads"] == 1)
    one.update(samples_per_second=0.9e9)
    assert [s["rule"] for s in report.suspects([one, _clean_records()[-1]])] == ["threads"]

    results = _results(3e9)
    results["records"] = records
    text = report.markdown(results)
    assert "**Suspect results**: 2 measurements are far out of line" in text
    assert f"| fastinit normal | 0.390 | 0.012{report.SUSPECT_MARK} | 0.940 |" in text
    assert f"| fastinit uniform | 2.400 | 0.686{report.SUSPECT_MARK} |" in text  # the scaling table
    section = text[text.index("## Suspect results"):text.index("## Measurement quality")]
    assert "| fastinit normal | throughput | float64 | 1e+05 | 2 | 0.012 | 8.333 |" in section
    # and circled in the plots
    fig = report.throughput_figure(results, "float64")
    circled = [line for ax in fig.axes for line in ax.get_lines() if line.get_label() == SUSPECT_LABEL]
    assert len(circled) == 1 and list(circled[0].get_xdata()) == [10**5]
    assert any(line.get_label() == SUSPECT_LABEL for line in report.scaling_figure(results).axes[0].get_lines())
    clean = _results(3e9)
    clean["records"] = _clean_records()
    assert not any(line.get_label() == SUSPECT_LABEL for ax in report.throughput_figure(clean, "float64").axes
                   for line in ax.get_lines())


SUSPECT_LABEL = report.SUSPECT_STYLE["label"]


def _expected_linestyle(label):
    if label.endswith("(reference)"):
        return ":"
    return "--" if label.endswith("(allocating)") else "-"


def _assert_legend_outside_the_axes(fig):
    fig.canvas.draw()
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    box = legend.get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    assert legend.handlelength >= 3  # long enough to show a dash pattern
    return legend


def test_throughput_plot_line_styles_and_legend():
    results = _results(3e9)
    results["records"] += [_record("fastinit uniform", "fastinit", "uniform", 2e9, size=10**7),
                           _record("torch.rand", "torch", "uniform", 0.3e9, allocating=True),
                           _record("ndarray.fill", "ndarray.fill", "fill", 3e9, size=10**7)]
    fig = report.throughput_figure(results, "float32")
    legend = _assert_legend_outside_the_axes(fig)
    styles = {t.get_text(): h.get_linestyle() for t, h in zip(legend.get_texts(), legend.get_lines())}
    assert styles == {"fastinit": "-", "fastinit (allocating)": "--", "NumPy": "-", "PyTorch": "-",
                      "PyTorch (allocating)": "--", "JAX (allocating)": "--", "ndarray.fill (reference)": ":"}
    for line in fig.axes[0].get_lines():
        assert line.get_linestyle() == _expected_linestyle(line.get_label())


def test_scaling_plot_uses_the_same_line_styles_and_markers_for_distributions():
    results = _results(3e9)
    results["records"] += [_record("fastinit normal", "fastinit", "normal", 1.2e9, threads=1, tag="scaling"),
                           _record("fastinit normal", "fastinit", "normal", 2.4e9, tag="scaling")]
    fig = report.scaling_figure(results)
    legend = _assert_legend_outside_the_axes(fig)
    handles = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.get_lines())}
    assert set(handles) == {"fastinit uniform", "fastinit normal"}
    assert all(h.get_linestyle() == "-" for h in handles.values())  # both fill a given buffer
    assert handles["fastinit uniform"].get_marker() != handles["fastinit normal"].get_marker()
    fig = report.speedup_figure(results)
    _assert_legend_outside_the_axes(fig)


def test_machine_is_described_and_sampled():
    from fastinit.bench import machine
    info = machine.describe()
    assert info["cpu"] and info["cpus"] >= 1 and 1 <= info["usable_cpus"] <= info["cpus"]
    assert {"numpy", "numba", "torch", "jax"} <= set(info["versions"]) and info["versions"]["numpy"]
    assert info["numba_threads"] >= 1 and "threading_layer" in info
    snap = machine.snapshot(interval=0.05)
    if sys.platform.startswith("linux"):
        assert info["memory_total"] > 0 and snap["memory_available"] > 0
        assert len(snap["load_average"]) == 3 and isinstance(snap["processes"], list)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")
def test_busy_processes_are_found_and_the_benchmark_itself_is_not():
    from fastinit.bench import machine
    spin = subprocess.Popen([sys.executable, "-c", "\nwhile True:\n    pass"])
    try:
        time.sleep(0.2)
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:  # this process busy too: it must not be listed
            pass
        rows = machine.busy_processes(interval=0.4, top=100, least_percent=5)
    finally:
        spin.kill()
        spin.wait()
    pids = {r["pid"] for r in rows}
    assert spin.pid in pids and os.getpid() not in pids
    assert "-c while True: pass" in next(r["command"] for r in rows if r["pid"] == spin.pid)  # one line


def _full_results():
    results = _numpy_only()
    results["settings"] = dict(cli.QUICK, mode="quick", exclude=[])
    results["machine"] = {
        "cpu": "Test CPU 9000", "flags": ["avx2"], "cpus": 4, "usable_cpus": 2, "cpu_quota": None,
        "memory_total": 16 * 2**30, "python": "3.11.7", "platform": "Linux-test", "numba_threads": 2,
        "threading_layer": "omp", "threading_layer_setting": "default", "environment": {"NUMBA_NUM_THREADS": "2"},
        "versions": {"numpy": "2.4.6", "numba": "0.68.1", "llvmlite": "0.50.0", "torch": None, "jax": None},
        "start": {"load_average": [1.5, 0.5, 0.25], "memory_available": 8 * 2**30,
                  "processes": [{"pid": 7, "cpu_percent": 83.0, "command": "python -m pytest"}]},
        "end": {"load_average": [2.0, 1.0, 0.5], "memory_available": 8 * 2**30, "processes": []}}
    results["duration"] = {"planned_s": 62.0, "measured_s": 75.4, "before_s": 2.1}
    return results


def test_the_report_records_machine_load_software_and_settings():
    text = report.markdown(_full_results())
    section = text[text.index("## Machine and settings"):text.index("## Headline")]
    for expected in ["CPU: Test CPU 9000 (avx2); 4 cores (os.cpu_count), 2 usable by the benchmark",
                     "Memory: 16.0 GiB, 8.0 GiB available at the start",
                     "Load average (1, 5, 15 min): 1.50, 0.50, 0.25 at the start, 2.00, 1.00, 0.50 at the end",
                     "at the start 83% `python -m pytest`; at the end none above 2% of a core",
                     "Python 3.11.7", "NumPy 2.4.6", "Numba 0.68.1", "PyTorch not installed", "JAX not installed",
                     "Numba: 2 threads, omp threading layer", "`NUMBA_NUM_THREADS=2`",
                     "Settings: quick run (`--quick`); dtypes float32; sizes 1e+04",
                     "interleaved rounds per group", "Duration: 1 min 15 s of measurements (planned 1 min 02 s"]:
        assert expected in section, expected
    assert "**The machine was busy**" in text
    quiet = _full_results()
    quiet["machine"]["start"]["processes"] = []
    assert "**The machine was busy**" not in report.markdown(quiet)


def test_progress_adds_up_to_the_plan():
    methods = [m for m in catalogue.catalogue() if m.library in ("fastinit", "numpy", "ndarray.fill")
               and m.distribution in ("fill", "uniform")]
    plan = runner.Planner(cache_warm=True).group(methods, "float32", 4096, 1, (2, 3), 0.01)
    steps = []
    runner.measure_group(methods, "float32", 4096, 1, (2, 3), 0.01, progress=steps.append, planned=plan)
    assert sum(steps) == pytest.approx(plan.total)
    assert len(steps) >= len(plan.setup) + 2  # each method's preparation, then each round


def test_planned_durations_are_stated_figures():
    """The model behind the expected duration (fresh kernel cache): --quick about a
    minute whatever is installed, the full run about 3 minutes with NumPy alone and
    under 9 with PyTorch and JAX."""
    def planned(settings, exclude):
        plans, startup = cli.planned(cli.plan(settings, exclude=exclude), settings, cache_warm=False)
        return sum(p.total for p in plans) + startup
    assert 15 <= planned(cli.QUICK, ("torch", "jax")) <= planned(cli.QUICK, ()) <= 60
    assert 90 <= planned(cli.FULL, ("torch", "jax")) <= 4 * 60
    assert planned(cli.FULL, ()) <= 9 * 60
    # a slow method at a large size costs its calls, not a fixed share
    slow = catalogue.Method("slow", "torch", "truncated_normal", False, ("float64",), None)
    assert runner.expected_call_seconds(slow, "float64", 10**8, 2) > 10


def test_skip_leaves_a_library_out_of_the_plan():
    groups = cli.plan(cli.QUICK, exclude=("torch", "jax"))
    assert not {m.library for g in groups for m in g[4]} & {"torch", "jax"}
    assert all(v["status"] == "skipped" for v in cli.library_status(("torch", "jax")).values())
    with pytest.raises(SystemExit):
        cli.main(["--skip", "numpy"])


def test_the_one_thread_groups_at_1e8_measure_fastinit_and_the_fill_only():
    groups = [g for g in cli.plan(cli.FULL) if g[0] == "throughput" and g[2] == 10**8 and g[3] == 1]
    assert groups and all({m.library for m in g[4]} == {"fastinit", "ndarray.fill"} for g in groups)
    below = [g for g in cli.plan(cli.FULL) if g[0] == "throughput" and g[2] == 10**7 and g[3] == 1]
    assert {"numpy-threads"} <= {m.library for g in below for m in g[4]}


def test_main_announces_the_expected_duration_and_records_the_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "QUICK", dict(cli.QUICK, sizes=(2048,), scaling_size=2048, rounds=(1, 1),
                                           seconds=0.0, startup=0))
    assert cli.main(["--quick", "--no-plots", "--no-progress", "--skip", "torch", "--skip", "jax",
                     "--output", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    first = err.splitlines()[0]
    assert first.startswith("fastinit.bench (quick): ") and "expected duration about" in first
    assert "PyTorch skipped" in first and "measurements took" in err.splitlines()[-1]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["settings"]["mode"] == "quick" and saved["settings"]["exclude"] == ["torch", "jax"]
    assert saved["libraries"]["torch"]["status"] == "skipped"
    assert saved["duration"]["measured_s"] > 0 and saved["duration"]["planned_s"] > 0
    assert {"start", "end", "usable_cpus", "memory_total"} <= set(saved["machine"])
    assert "**Not compared**: PyTorch (left out with `--skip`)" in out and "## Machine and settings" in out


def test_an_empty_kernel_cache_is_planned_cold(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "from fastinit.bench import runner; print(runner.kernel_cache_warm())"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    methods = [m for m in catalogue.catalogue() if m.library == "fastinit"]
    cold = runner.Planner(cache_warm=False).group(methods, "float32", 10**4, 2, (3, 5), 0.5)
    warm = runner.Planner(cache_warm=True).group(methods, "float32", 10**4, 2, (3, 5), 0.5)
    assert cold.total > warm.total + 5


def test_a_very_slow_result_does_not_read_zero():
    assert report._fmt_rate(0.00041e9) == "0.00041" and report._fmt_rate(0.012e9) == "0.012"
    assert report._fmt_rate(2.5e9) == "2.500" and report._fmt_rate(None) == ""


def _limit_script():
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parents[1] / "bench" / "limit.py"
    spec = importlib.util.spec_from_file_location("bench_limit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_limit_script_reads_every_case_of_the_c_program():
    """bench/limit.py's parser on lines as phx.c prints them (its printf format)."""
    limit = _limit_script()
    lines = [b"%-8s %-6s x%d  median %6.3f G/s  [%6.3f .. %6.3f]" % (kind, where, threads, 3.5, 3.25, 3.75)
             for kind in (b"words", b"uniform", b"normal", b"bm_only") for where in (b"16k", b"1e8")
             for threads in (1, 2)]
    rates = {}
    for line in lines:
        match = limit._LINE.match(line.decode())
        if match:
            kind, where, threads, rate = match.groups()
            rates[kind, where, int(threads)] = float(rate)
    assert set(rates) == {(kind, where, threads) for kind in ("words", "uniform", "normal")
                          for where in ("16k", "1e8") for threads in (1, 2)}
    assert set(rates.values()) == {3.5}


def test_limit_script_prints_both_tables_without_a_c_limit(monkeypatch, capsys):
    """Every case of both tables, with fastinit's rates, where no C program
    is at hand (smaller sizes: the same code paths)."""
    limit = _limit_script()
    monkeypatch.setattr(limit, "BIG", 1 << 20)
    monkeypatch.setattr(limit, "REPS", 4)
    monkeypatch.setattr(sys, "argv", ["limit.py", "--rounds", "1", "--phx", "/nonexistent/phx.c"])
    limit.main()
    out = capsys.readouterr().out
    assert "no C limit" in out
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| case")]
    first = [row for row in rows if len(row) == 5]  # case, threads, C limit, fastinit, fraction
    second = [row for row in rows if len(row) == 7]  # case, dtype, threads, limit, fastinit, fraction, bound
    assert len(first) == 16 and len(second) == 4 * len(limit.OTHERS)
    assert all(row[2] == "" and row[4] == "" and float(row[3].split()[0]) > 0 for row in first)
    for row in second:  # at 1e8 the store rate bounds every case; in cache no bound without the C program
        assert float(row[4].split()[0]) > 0
        if row[0].endswith("1e8"):
            assert row[6] == "ordinary stores" and row[5].endswith("%") and float(row[3].split()[0]) > 0
        else:
            assert row[3] == "" and row[5] == ""
