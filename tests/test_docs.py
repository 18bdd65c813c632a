"""Every code example of README.md and docs/*.md runs as written.

The collector reads each Markdown file's fenced code blocks:

* ```python blocks run, each in a new process of this interpreter, in an empty
  temporary directory (a block is self-contained: nothing is shared with the
  blocks before it);
* ```bash / ```sh blocks run with ``bash -euo pipefail`` in an empty temporary
  directory, with this interpreter's ``bin`` folder (``fastinit``, ``python``)
  first on ``PATH``;
* ```pycon blocks run as doctests;
* text-like fences (```text, a bare fence, ...) are not code and do not run.

A block that must not run (the set-up commands, which create the venv, and
commands that take minutes) carries the HTML comment
``<!-- docs-test: not run (REASON) -->`` on the line before its fence, and is
listed in ``NOT_RUN`` below: a marker that is added or removed, or a fence in a
language this file does not know, fails a test, so no block is skipped
silently.

The environment of the examples is a new user's: no network for the Hugging
Face hub, and a Keras configuration that selects TensorFlow (which is not
installed), so a Keras example passes only if it chooses its backend itself.
"""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell"}
DOCTEST = {"pycon"}
# Fences that hold no runnable code: output samples, pseudo-code, formats.
INERT = {"", "text", "txt", "plain", "output", "console-output", "json", "toml", "yaml", "ini", "cfg",
         "csv", "diff", "markdown", "md", "math", "c", "cpp", "asm", "mermaid", "none"}

# (file, first line of the block): the blocks that are deliberately not run.
NOT_RUN = {
    # set-up: creates .venv and installs (the main job then runs the whole benchmark report)
    ("README.md", "python3 -m venv .venv && .venv/bin/pip install -q -e '.[bench]' && .venv/bin/python -m fastinit.bench"),
    # set-up: creates .venv, installs, runs the whole test suite (what .ci/run runs)
    ("README.md", "python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 -e '.[test,torch,jax,dask,cuda]' && .venv/bin/python -m pytest"),
    # the benchmark commands that produced docs/performance.md's figures: minutes each
    ("docs/performance.md", "# the main job's report (as committed: --output bench/results)"),
    # the test suite and its parts (this file among them)
    ("docs/development.md", ".venv/bin/python -m pytest                        # everything, as CI runs it"),
    # fastinit.torch on CUDA tensors: needs an NVIDIA GPU (tests/gpu/test_torch_cuda.py runs it there)
    ("docs/gpu.md", "import torch, fastinit.torch as ft"),
    # PractRand / dieharder on gigabytes of output: hours, and tools outside the venv
    ("docs/development.md", "python bench/rng_battery.py --gb 8 | RNG_test stdin32 -tlmax 8GB"),
}

MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*not run\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
ANY_MARKER = re.compile(r"^\s*<!--\s*docs-test")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")

TIMEOUT_S = 600


@dataclass(frozen=True)
class Block:
    file: str          # relative to the repository root
    line: int          # 1-based line of the opening fence
    lang: str
    code: str
    not_run: str | None = None  # the marker's reason

    @property
    def first_line(self):
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")

    @property
    def id(self):
        return f"{self.file}:{self.line}:{self.lang or 'plain'}"


def collect(path):
    """The fenced code blocks of one Markdown file, in order, and the line
    numbers of markers that precede no fence."""
    rel = path.relative_to(ROOT).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, stray = [], []
    pending = None              # (line number, reason) of a marker waiting for its fence
    i = 0
    while i < len(lines):
        line = lines[i]
        opening = FENCE.match(line)
        if opening and "`" not in opening["info"]:
            fence, indent = opening["fence"], len(opening["indent"])
            lang = opening["info"].strip().split()[0].lower() if opening["info"].strip() else ""
            body, j = [], i + 1
            while j < len(lines):
                closing = FENCE.match(lines[j])
                if (closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence)
                        and not closing["info"].strip()):
                    break
                text = lines[j]
                body.append(text[indent:] if text[:indent].strip() == "" else text.lstrip())
                j += 1
            blocks.append(Block(rel, i + 1, lang, "\n".join(body) + "\n", pending[1] if pending else None))
            pending = None
            i = j + 1
            continue
        marker = MARKER.match(line)
        if marker:
            if pending:
                stray.append(pending[0])
            pending = (i + 1, marker["reason"].strip())
        elif ANY_MARKER.search(line):
            stray.append(i + 1)         # a malformed marker
        elif line.strip() and pending:
            stray.append(pending[0])    # text between the marker and a fence
            pending = None
        i += 1
    if pending:
        stray.append(pending[0])
    return blocks, [(rel, n) for n in stray]


BLOCKS, STRAY = [], []
for _path in FILES:
    _blocks, _stray = collect(_path)
    BLOCKS += _blocks
    STRAY += _stray

RUN = [b for b in BLOCKS if b.not_run is None and b.lang in PYTHON | SHELL | DOCTEST]


def test_documents_found():
    names = {b.file for b in BLOCKS}
    assert {"README.md", "docs/torch.md", "docs/keras.md", "docs/jax.md", "docs/files-and-dask.md"} <= names
    assert any(b.lang in PYTHON for b in RUN) and any(b.lang in SHELL for b in RUN)


def test_every_fence_language_is_known():
    known = PYTHON | SHELL | DOCTEST | INERT
    unknown = [f"{b.id} ({b.lang!r})" for b in BLOCKS if b.lang not in known]
    assert not unknown, f"fences in a language test_docs.py neither runs nor knows as inert: {unknown}"


def test_not_run_blocks_are_exactly_the_intended_ones():
    assert not STRAY, f"docs-test markers that precede no code block, or are malformed: {STRAY}"
    marked = {(b.file, b.first_line) for b in BLOCKS if b.not_run is not None}
    assert marked == NOT_RUN, (f"marked but not listed: {sorted(marked - NOT_RUN)}; "
                               f"listed but not marked: {sorted(NOT_RUN - marked)}")
    for b in BLOCKS:
        if b.not_run is not None:
            assert b.lang in PYTHON | SHELL | DOCTEST, f"{b.id}: a not-run marker on a block that would not run"


def test_readme_test_command_is_the_ci_command():
    """.ci/run runs the README's test command, character for character."""
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if "-m pytest" in line and not line.lstrip().startswith("#")]
    readme = [b.code.strip() for b in BLOCKS if b.file == "README.md" and "-m pytest" in b.code]
    assert len(readme) == 1, readme
    assert ci[:1] == readme


def _env(tmp_path):
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    keras_home = tmp_path / ".keras-home"
    keras_home.mkdir()
    # What a machine that has used TensorFlow's Keras has in ~/.keras/keras.json.
    (keras_home / "keras.json").write_text(json.dumps({"backend": "tensorflow", "floatx": "float32",
                                                       "epsilon": 1e-07, "image_data_format": "channels_last"}))
    env["KERAS_HOME"] = str(keras_home)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_example_runs(block, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    env = _env(tmp_path)
    if block.lang in PYTHON:
        script = work.parent / "example.py"
        script.write_text(block.code)
        command = [sys.executable, str(script)]
    elif block.lang in SHELL:
        assert (Path(sys.executable).parent / "fastinit").exists(), "the fastinit command is not installed"
        script = work.parent / "example.sh"
        script.write_text(block.code)
        command = ["bash", "-euo", "pipefail", str(script)]
    else:
        script = work.parent / "example.txt"
        script.write_text(block.code)
        command = [sys.executable, "-c",
                   "import doctest, sys; r = doctest.testfile(sys.argv[1], module_relative=False, "
                   "optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE); sys.exit(1 if r.failed else 0)",
                   str(script)]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, (
        f"{block.id} failed (exit {result.returncode}):\n--- code ---\n{block.code}"
        f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-8000:]}")
