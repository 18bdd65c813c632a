"""The benchmark package: plan, interleaved runner, report, plots and regression comparison."""

import json

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
            tag="throughput"):
    return {"method": method, "library": library, "distribution": distribution, "allocating": allocating,
            "dtype": dtype, "size": size, "threads": threads, "itemsize": 4, "times": [size / rate] * 3,
            "median": size / rate, "spread": 0.0, "samples_per_second": rate, "bytes_per_second": 4 * rate,
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
    assert "| uniform | 3.000 | 12.0 | 150% | 6.0x |  | 7.5x | 5.0x |" in text  # JAX: allocating vs allocating
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
    records, startup = cli.run(settings, progress=True)
    err = capsys.readouterr().err
    assert "100%" in err and "group" in err  # tqdm's bar, on stderr
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
