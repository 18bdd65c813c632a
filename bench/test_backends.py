"""pytest-benchmark: the PyTorch backend against PyTorch itself.

    pytest bench/test_backends.py --benchmark-only --benchmark-group-by=group

* ``gpt2-build``: a GPT-2-small-sized stack (124M parameters: a 50257x768 and
  a 1024x768 embedding, 12 blocks of 4 Linear layers and 2 LayerNorms) built
  with torch's default init and under ``fastinit.torch.fast_init``;
* ``orthogonal-4096``: ``torch.nn.init.orthogonal_`` against
  ``fastinit.torch.orthogonal_`` (torch's QR on fastinit's normal matrix) and
  the NumPy-only ``fastinit.orthogonal`` (LAPACK QR in float64).
"""

import gc

import pytest
import torch
import torch.nn as nn

import fastinit
import fastinit.torch as ft


def gpt2_small():
    layers = [nn.Embedding(50257, 768), nn.Embedding(1024, 768)]
    for _ in range(12):
        layers += [nn.LayerNorm(768), nn.Linear(768, 3 * 768), nn.Linear(768, 768), nn.LayerNorm(768),
                   nn.Linear(768, 3072), nn.Linear(3072, 768)]
    layers.append(nn.LayerNorm(768))
    return nn.ModuleList(layers)


def build_default():
    return gpt2_small()


def build_fast():
    with ft.fast_init(seed=0):
        return gpt2_small()


@pytest.mark.benchmark(group="gpt2-build")
@pytest.mark.parametrize("init", ["torch-default", "fastinit.fast_init"])
def test_gpt2_build(benchmark, init):
    build = build_default if init == "torch-default" else build_fast
    built = []

    def release():  # untimed: free the previous round's model before the next build
        built.clear()
        gc.collect()

    benchmark.pedantic(lambda: built.append(build()), setup=release, rounds=9, warmup_rounds=2)
    assert sum(p.numel() for p in built[0].parameters()) == 124_439_808


ORTHOGONAL = {
    "torch.nn.init.orthogonal_": lambda w: torch.nn.init.orthogonal_(w),
    "fastinit.torch.orthogonal_": lambda w: ft.orthogonal_(w, seed=0),
    "fastinit.orthogonal-numpy": lambda w: fastinit.orthogonal(w.shape, seed=0),
}


@pytest.mark.benchmark(group="orthogonal-4096")
@pytest.mark.parametrize("method", sorted(ORTHOGONAL))
def test_orthogonal_4096(benchmark, method):
    w = torch.empty(4096, 4096)
    benchmark.pedantic(ORTHOGONAL[method], args=(w,), rounds=3, warmup_rounds=1)
