"""fastinit.keras on every Keras backend installed here: jax, torch, numpy.

Keras chooses its backend once per process, at import. Each backend's run is
tests/keras_backend_checks.py in a fresh process with KERAS_BACKEND set; its
pytest output is shown when it fails. (TensorFlow is not in the test extras:
its wheels pin NumPy below the 2.x this project tests with.)
"""

import os
import re
import subprocess
import sys

import pytest

CHECKS = os.path.join(os.path.dirname(__file__), "keras_backend_checks.py")
BACKENDS = ["jax", "torch", "numpy"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_backend(backend):
    env = dict(os.environ, KERAS_BACKEND=backend)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", CHECKS],
                         env=env, capture_output=True, text=True, timeout=900,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    tail = run.stdout[-6000:] + run.stderr[-3000:]
    assert run.returncode == 0, tail
    summary = run.stdout.strip().splitlines()[-1]   # "96 passed, 7 warnings in 5.78s"
    assert re.match(r"^\d+ passed(, \d+ warnings?)? in ", summary), tail
