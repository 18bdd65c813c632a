"""transformers models, unchanged: fast_init around from_config, and meta-device models through initialize."""

import math

import numpy as np
import pytest
import scipy.stats as ss
import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig
from transformers.utils import logging as hf_logging

import fastinit
import fastinit.torch as ft

hf_logging.set_verbosity_error()
ALPHA = 1e-5
STD = 0.02


def gpt2_config():
    return GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=1000, n_positions=256, initializer_range=STD,
                      bos_token_id=0, eos_token_id=0)


def llama_config():
    return LlamaConfig(num_hidden_layers=2, hidden_size=128, intermediate_size=256, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=1000, max_position_embeddings=256, pad_token_id=0,
                       initializer_range=STD, bos_token_id=1, eos_token_id=2)


CONFIGS = {"gpt2": gpt2_config, "llama": llama_config}
DTYPES = [torch.float32, torch.bfloat16]


def build(kind, dtype, torch_seed=0, seed=None):
    torch.manual_seed(torch_seed)
    if seed is None:
        return AutoModelForCausalLM.from_config(CONFIGS[kind](), dtype=dtype)
    with ft.fast_init(seed=seed):
        return AutoModelForCausalLM.from_config(CONFIGS[kind](), dtype=dtype)


def tensors(model):
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def values(tensor):
    return tensor.detach().to(torch.float64).numpy().ravel()


def random_names(model):
    """The tensors transformers' _init_weights draws at random (all Linear/Conv1D/Embedding weights)."""
    return [n for n, p in model.named_parameters() if p.ndim == 2]


def check_library_distributions(kind, model, reference):
    """The law of the library's own _init_weights; the exact values of a torch-built model elsewhere."""
    n_layer = model.config.num_hidden_layers
    for name, p in model.named_parameters():
        x = values(p)
        if p.ndim == 2:
            std = STD / math.sqrt(2 * n_layer) if kind == "gpt2" and name.endswith("c_proj.weight") else STD
            if kind == "llama" and name == "model.embed_tokens.weight":
                assert np.all(x.reshape(p.shape)[0] == 0)          # the padding row
                x = x.reshape(p.shape)[1:].ravel()
            if p.dtype == torch.bfloat16:
                # bfloat16: the rounded law (compare with float32 samples rounded the same way)
                exact = torch.from_numpy(ss.norm(0, std).ppf((np.arange(4096) + 0.5) / 4096)).to(torch.bfloat16)
                assert ss.ks_2samp(x, values(exact)).pvalue > ALPHA, name
            else:
                assert ss.kstest(x, ss.norm(0, std).cdf).pvalue > ALPHA, name
            assert abs(x.std() - std) < 5 * std / math.sqrt(2 * x.size), name
        else:  # biases zero, norms one: the exact values of a torch-built model
            assert torch.equal(p, reference[name]), name
    for name, b in model.named_buffers():
        assert torch.equal(b, reference[name]), name   # rotary inv_freq recomputed by the library


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_fast_init_from_config(kind, dtype):
    a = build(kind, dtype, torch_seed=0, seed=0)
    b = build(kind, dtype, torch_seed=1, seed=0)
    c = build(kind, dtype, torch_seed=0, seed=1)
    reference = tensors(build(kind, dtype))
    ta, tb, tc = tensors(a), tensors(b), tensors(c)
    for name in ta:
        assert torch.equal(ta[name], tb[name]), name          # not torch's generator: equal across torch seeds
    for name in random_names(a):
        assert not torch.equal(ta[name], tc[name]), name      # another fastinit seed, other values
        assert not torch.equal(ta[name], reference[name]), name
    assert next(a.parameters()).dtype == dtype
    check_library_distributions(kind, a, reference)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_meta_device_then_initialize(kind, dtype):
    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(CONFIGS[kind](), dtype=dtype)
    assert all(t.is_meta for t in tensors(meta).values())
    ft.initialize(meta, seed=5)
    built = ft.initialize(build(kind, dtype, torch_seed=3), seed=5)
    tm, tb = tensors(meta), tensors(built)
    assert tm.keys() == tb.keys()
    for name in tm:
        assert tm[name].device.type == "cpu" and tm[name].dtype == tb[name].dtype, name
        assert torch.equal(tm[name], tb[name]), name           # bit for bit, buffers included
    if kind == "gpt2":
        assert meta.lm_head.weight is meta.transformer.wte.weight   # the tie survives materialization
    check_library_distributions(kind, meta, tensors(build(kind, dtype)))
    # the documented name-keyed stream of one weight
    name = "transformer.h.1.mlp.c_fc.weight" if kind == "gpt2" else "model.layers.1.mlp.up_proj.weight"
    seed = fastinit.derive_seed(5, "fastinit.torch.initialize", name, "normal", (0.0).hex(), STD.hex())
    expected = torch.empty(tm[name].shape, dtype=dtype)
    ft.normal_(expected, 0.0, STD, seed=seed)
    assert torch.equal(tm[name], expected)


def test_initialize_with_a_dtype_and_a_forward_pass():
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(llama_config())
    ft.initialize(model, seed=0, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    out = model(torch.tensor([[1, 5, 7, 9]]))
    assert torch.isfinite(out.logits.float()).all()
