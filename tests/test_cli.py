"""The command line, run as users run it: the installed ``fastinit`` script in a new process."""

import os
import re
import subprocess
import sys
from importlib import metadata

import ml_dtypes
import numpy as np
import pytest

import fastinit
import fastinit.io as fio

_SCRIPT = os.path.join(os.path.dirname(sys.executable), "fastinit")
FASTINIT = [_SCRIPT] if os.path.exists(_SCRIPT) else [sys.executable, "-m", "fastinit"]
SEEDED = ["--seed", "0", "--no-progress"]


def fastinit_cli(*args, cwd=None):
    env = dict(os.environ, COLUMNS="100")
    return subprocess.run(FASTINIT + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env)


def _assert_usage_error(done):
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("usage: fastinit"), done.stderr
    assert "error: " in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_version():
    done = fastinit_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"fastinit {metadata.version('fastinit')}\n"
    assert done.stdout == f"fastinit {fastinit.__version__}\n"


def test_help_lists_the_commands():
    done = fastinit_cli("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: fastinit "), done.stdout
    assert "`" not in done.stdout
    for command in ("fill", "bench"):
        described = re.search(rf"^ +{command} +(\S.*)$", done.stdout, re.MULTILINE)
        assert described, (command, done.stdout)
    assert "--version" in done.stdout


@pytest.mark.parametrize("args, names", [
    ((), "the following arguments are required: COMMAND"),
    (("fil",), "invalid choice: 'fil' (choose from 'fill', 'bench')"),
    (("--no-such-flag",), "the following arguments are required: COMMAND"),
])
def test_no_command_or_an_unknown_one_is_an_error(args, names):
    done = fastinit_cli(*args)
    _assert_usage_error(done)
    assert names in done.stderr, done.stderr


def test_fill_help_documents_every_option():
    done = fastinit_cli("fill", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: fastinit fill "), done.stdout
    assert "`" not in done.stdout
    lines = done.stdout.splitlines()
    start = lines.index("options:")
    end = lines.index("", start)
    options = [i for i in range(start + 1, end) if lines[i].startswith("  -")]
    assert len(options) >= 10
    for i in options:
        # the help text follows the flag on its line, or starts the next (indented) line
        same_line = re.match(r"  -\S*(?: [^ ]+)*  +\S", lines[i])
        next_line = i + 1 < end and re.match(r" {10,}\S", lines[i + 1])
        assert same_line or next_line, lines[i]
    for flag in ("--shape", "--init", "--seed", "--dtype", "--name", "--overwrite", "--resume", "--chunk-mb",
                 "--no-progress"):
        assert any(lines[i].lstrip().startswith(flag) for i in options), flag
    catalogue = done.stdout[done.stdout.index("initializers and their parameters"):]
    for name in fio.INITIALIZERS:
        assert re.search(rf"^  {name} ", catalogue, re.MULTILINE), name
    assert "--fan-in [auto]" in catalogue and "--std [1.0]" in catalogue


# (arguments after the path, what the message must contain, what it must not)
ERRORS = {
    "no seed": (["--shape", "10"], ["--init normal needs --seed"], ["seed="]),
    "seed out of range": (["--shape", "10", "--seed", str(2**64)], ["argument --seed:", "2**64"], []),
    "unknown init": (["--shape", "10", "--init", "nrmal", "--seed", "0"], ["argument --init:", "'nrmal'"], []),
    "shape not a number": (["--shape", "10", "x", "--seed", "0"], ["argument --shape:", "'x'"], []),
    "negative shape": (["--shape", "10", "-3", "--seed", "0"], ["argument --shape:", "'-3'"], []),
    "shape of the wrong rank": (["--shape", "10", "--init", "eye"], ["eye needs a 2-d --shape"], []),
    "fans of a 1-d shape": (["--shape", "10", "--init", "xavier_uniform", "--seed", "0"],
                            ["--fan-in and --fan-out", "--layout"], ["fan_in=", "layout="]),
    "bad parameter value": (["--shape", "10", "--std", "-1", "--seed", "0"], ["--std must be >= 0"], []),
    "parameter not a number": (["--shape", "10", "--std", "abc", "--seed", "0"], ["--std must be a number"], []),
    "parameter out of range": (["--shape", "10", "--init", "uniform", "--low", "3", "--high", "2", "--seed", "0"],
                               ["--low must be <= high", "--low 3.0, --high 2.0"], ["low="]),
    "unknown parameter": (["--shape", "10", "--gain", "2", "--seed", "0"],
                          ["--init normal has no parameter '--gain'", "--mean, --std"], []),
    "missing parameter": (["--shape", "10", "--init", "constant"], ["--init constant needs --value"], []),
    "parameter without value": (["--shape", "10", "--seed", "0", "--std"], ["--std needs a value"], []),
    "bad chunk size": (["--shape", "10", "--seed", "0", "--chunk-mb", "0"], ["argument --chunk-mb:"], []),
    "bad tensor name": (["--shape", "10", "--seed", "0", "--name", "__metadata__"], ["argument --name:"], []),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors_name_the_flags_and_leave_no_file(tmp_path, case):
    args, wanted, unwanted = ERRORS[case]
    path = tmp_path / "w.npy"
    done = fastinit_cli("fill", path, *args, "--no-progress")
    _assert_usage_error(done)
    message = done.stderr.splitlines()[-1]
    assert message.startswith("fastinit fill: error: "), message
    for text in wanted:
        assert text in message, (text, message)
    for text in unwanted + ["=True", "init='", "Error:"]:
        assert text not in message, (text, message)
    assert os.listdir(tmp_path) == []


def test_bad_path_is_an_error():
    done = fastinit_cli("fill", "w.txt", "--shape", "10", *SEEDED)
    _assert_usage_error(done)
    assert "argument path: must end in .npy or .safetensors" in done.stderr


def test_existing_and_interrupted_files_name_overwrite_and_resume(tmp_path):
    folder = tmp_path / "seed_std"  # words of the messages in the file's own name stay as they are
    folder.mkdir()
    path = folder / "w.npy"
    path.write_bytes(b"kept")
    before = os.stat(path)
    done = fastinit_cli("fill", path, "--shape", "10", *SEEDED)
    _assert_usage_error(done)
    assert f"error: {path} exists: pass --overwrite to replace it" in done.stderr, done.stderr
    # a bad argument with --overwrite: the existing file is not replaced, truncated or touched
    done = fastinit_cli("fill", path, "--shape", "10", "--std", "-1", "--overwrite", *SEEDED)
    _assert_usage_error(done)
    after = os.stat(path)
    assert path.read_bytes() == b"kept" and after.st_mtime_ns == before.st_mtime_ns
    assert sorted(os.listdir(folder)) == ["w.npy"]

    other = folder / "v.npy"
    partial, state = folder / "v.npy.partial", folder / "v.npy.partial.json"
    partial.write_bytes(b"half")
    state.write_text("{}")
    done = fastinit_cli("fill", other, "--shape", "10", *SEEDED)
    _assert_usage_error(done)
    assert f"({partial}): pass --resume to finish it, or --overwrite to start again" in done.stderr, done.stderr
    done = fastinit_cli("fill", other, "--shape", "10", "--resume", *SEEDED)
    _assert_usage_error(done)
    assert f"error: {partial} was written for another request" in done.stderr, done.stderr
    assert "pass --overwrite to start again" in done.stderr and "=True" not in done.stderr
    assert partial.read_bytes() == b"half" and state.read_text() == "{}" and not other.exists()


def test_library_messages_in_the_command_lines_terms():
    from fastinit.cli import _in_cli_terms
    names = ["gain", "layout", "fan_in", "fan_out", "init", "name"]
    assert _in_cli_terms("a/seed.npy exists: pass overwrite=True (--overwrite) to replace it", names, "a/seed.npy") \
        == "a/seed.npy exists: pass --overwrite to replace it"
    assert _in_cli_terms("pass fan_in= and fan_out=, or layout='keras'", names) \
        == "pass --fan-in and --fan-out, or --layout 'keras'"
    assert _in_cli_terms("mode must be 'fan_in' or 'fan_out', got 'x'", names + ["mode"]) \
        == "--mode must be 'fan_in' or 'fan_out', got 'x'"
    assert _in_cli_terms("gain must be > 0, got -1; a 2-d shape and a seed", names) \
        == "--gain must be > 0, got -1; a 2-d --shape and a --seed"


def test_unwritable_folder_is_an_error_without_usage(tmp_path):
    done = fastinit_cli("fill", tmp_path / "missing" / "w.npy", "--shape", "10", *SEEDED)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.startswith("fastinit fill: error: can't write"), done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "missing").exists()


def test_fill_writes_the_in_memory_tensor(tmp_path):
    path = tmp_path / "emb.npy"
    done = fastinit_cli("fill", path, "--shape", "3000", "64", "--init", "normal", "--std", "0.02",
                        "--dtype", "bfloat16", "--seed", "0", "--no-progress", "--chunk-mb", "0.1")
    assert done.returncode == 0, done.stderr
    assert "GB/s" in done.stdout
    expected = fastinit.normal((3000, 64), std=0.02, dtype="bfloat16", seed=0)
    np.testing.assert_array_equal(np.load(path).view(ml_dtypes.bfloat16).view(np.uint16), expected.view(np.uint16))
    # dashed or underscored parameter names, --NAME=VALUE, and python -m fastinit
    other = tmp_path / "x.safetensors"
    done = subprocess.run([sys.executable, "-m", "fastinit", "fill", other, "--shape", "64", "32", "--init",
                           "xavier_normal", "--fan-in=100", "--fan_out", "50", "--name", "wte", *SEEDED],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    from safetensors.numpy import load_file
    got = load_file(other)["wte"]
    np.testing.assert_array_equal(got, fastinit.xavier_normal((64, 32), fan_in=100, fan_out=50, seed=0))


# "--" stays: were it dropped, the last case would fail on --margin instead
@pytest.mark.parametrize("args", [["--help"], ["--dtype", "int8"], ["--margin", "2"], ["--", "--margin", "2"]])
def test_bench_arguments_go_to_the_bench_unchanged(args):
    cli = fastinit_cli("bench", *args)
    direct = subprocess.run([sys.executable, "-m", "fastinit.bench", *args], capture_output=True, text=True,
                            env=dict(os.environ, COLUMNS="100"))
    assert (cli.returncode, cli.stdout, cli.stderr) == (direct.returncode, direct.stdout, direct.stderr)
    assert "usage: python -m fastinit.bench" in cli.stdout + cli.stderr
