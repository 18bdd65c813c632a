"""Benchmarks of fastinit against NumPy, PyTorch, JAX and the memory bandwidth.

``python -m fastinit.bench`` runs them and writes a report; see ``__main__``.
The method catalogue (``catalogue``) also drives the pytest-benchmark suite in
the repository's ``bench/`` folder.
"""
